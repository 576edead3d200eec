"""Allure results of a verify run: labels per check, evidence attached, rendered offline (or how to)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import allure_run
from harness.allure_run import AllureEvidence, find_allure, render
from harness.report import RunReport, SuiteCollector

pytest_plugins = ["pytester"]

CHECKS = """
from pathlib import Path

PACT = Path(__file__).with_name("pact.json")


def test_bloodbank_keeps_every_event(run_report):
    run_report.add_ledger("pg-down", {"accepted": 3, "lost": 0})


def test_candystore_answers():
    assert 500 == 422, "POST /events answered 500 for a 4xx condition: {detail: ...}"
"""


def _results(pytester: pytest.Pytester) -> tuple[Path, dict[str, dict]]:
    pytester.makepyfile(test_bloodbank_checks=CHECKS)
    (pytester.path / "pact.json").write_text('{"consumer": {"name": "candybar"}}')
    report = RunReport()
    collector = SuiteCollector(report, {"faults": [pytester.path]})
    out = pytester.path / "reports" / "allure-results"
    pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        f"--alluredir={out}",
        plugins=[collector, AllureEvidence(collector.suite_of, report)],
    )
    tests = {}
    for path in out.glob("*-result.json"):
        result = json.loads(path.read_text())
        tests[result["name"]] = result
    return out, tests


def test_every_check_has_suite_component_and_severity_and_its_evidence(pytester: pytest.Pytester) -> None:
    out, tests = _results(pytester)
    kept, answers = tests["test_bloodbank_keeps_every_event"], tests["test_candystore_answers"]
    labels = {label["name"]: label["value"] for label in kept["labels"]}
    assert labels["parentSuite"] == "faults" and labels["severity"] == "blocker"
    assert labels["feature"] == "Bloodbank"  # the component the check's file names
    names = {a["name"]: a["source"] for a in kept.get("attachments", [])}
    assert json.loads((out / names["ledger verdict pg-down"]).read_text()) == {"accepted": 3, "lost": 0}
    assert "pact pact.json" in names
    failure = {a["name"]: a["source"] for a in answers.get("attachments", [])}["failure"]
    assert "answered 500 for a 4xx condition" in (out / failure).read_text()
    assert "ledger verdict pg-down" not in {a["name"] for a in answers.get("attachments", [])}


@pytest.mark.skipif(find_allure() is None, reason="Allure 3 not installed (./run bootstrap runs npm ci)")
def test_results_render_offline_into_one_page(pytester: pytest.Pytester) -> None:
    out, _ = _results(pytester)
    lines = render(out.parent)
    assert "Allure report" in lines[0], lines
    page = (out.parent / "allure" / "index.html").read_text()
    assert "googletagmanager" not in page  # no analytics call when someone opens it


def test_without_allure_the_report_says_how_to_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "allure-results").mkdir()
    (tmp_path / "allure-results" / "x-result.json").write_text("{}")
    monkeypatch.setattr(allure_run, "find_allure", lambda: None)
    lines = render(tmp_path)
    assert "npx allure generate" in lines[0] and not (tmp_path / "allure").exists()
