"""The verification report: per-suite counts, findings, success criteria, and no secrets."""

from __future__ import annotations

import json

import pytest

from harness.config import Settings
from harness.report import RunReport, render_markdown, success_criteria
from harness.verify import public_target

pytest_plugins = ["pytester"]


def _summary(**overrides) -> dict:
    report = RunReport()
    for suite in ("dlq", "fuzz", "correlation", "e2e"):
        report.count(suite, "passed")
    report.add_ledger("pg-down", {"accepted": 10, "lost": 0, "duplicated": 0, "recovery_seconds": 2.5})
    report.add_sli("correlation integrity", 100.0, slo="100 %", ok=True, unit=" %")
    report.add_contract("a request for one event by id", "candystore", "candybar", True)
    report.add_contract("event github.pr.opened.v1", "bloodbank", "candystore", True)
    report.add_contract("OpenAPI GET /health", "candystore", "openapi", True)
    report.add_contract("OpenAPI GET /metrics", "candystore", "openapi", True)
    report.checks["generated types"] = True
    summary = report.summary()
    summary.update(overrides)
    return summary


def test_every_criterion_met_on_a_clean_run() -> None:
    rows = success_criteria(_summary())
    assert len(rows) == 9 and {row["status"] for row in rows} == {"met"}


def test_a_lost_event_fails_phase_1() -> None:
    summary = _summary(
        ledger={"pg-down": {"accepted": 10, "lost": 1, "duplicated": 0, "recovery_seconds": 1}}
    )
    rows = {row["criterion"]: row["status"] for row in success_criteria(summary)}
    assert rows["0 events lost"] == "NOT MET"


def test_slow_recovery_and_broken_contract_are_not_met() -> None:
    summary = _summary(ledger={"x": {"accepted": 1, "lost": 0, "duplicated": 0, "recovery_seconds": 31.0}})
    summary["contracts"][0]["ok"] = False
    rows = {row["criterion"]: row["status"] for row in success_criteria(summary)}
    assert rows["recovery < 30 s"] == "NOT MET"
    assert rows["contract tests cover every integration"] == "NOT MET"


def test_nothing_measured_is_said_so() -> None:
    rows = success_criteria(RunReport().summary())
    assert {row["status"] for row in rows} == {"not measured"}


def test_markdown_has_criteria_suites_ledger_and_findings() -> None:
    report = RunReport()
    report.count("e2e", "failed")
    report.add_finding("scenarios/e2e/x.py::t", "field 'version' dropped in storage", "assert ...")
    text = render_markdown({**_summary(), "suites": report.suites, "findings": report.findings})
    for heading in (
        "## Success criteria",
        "## Suites",
        "## Event ledger",
        "## Contract matrix",
        "## Findings",
    ):
        assert heading in text
    assert "field 'version' dropped in storage" in text


def test_public_target_hides_secrets() -> None:
    settings = Settings.resolve(
        {
            "amqp_url": "amqp://bob:hunter2@broker:5672/%2F",
            "api_keys": "k-main,k-probe",
            "signing_keys": "k1:s3cr3t",
        }
    )
    text = json.dumps(public_target(settings))
    for secret in ("hunter2", "k-main", "k-probe", "s3cr3t"):
        assert secret not in text
    assert "k1:***" in text and "2 key(s)" in text


def test_collector_counts_outcomes_per_suite_and_records_failures(pytester: pytest.Pytester) -> None:
    from harness.report import SuiteCollector

    pytester.makepyfile(
        test_a='''
import pytest

def test_ok():
    pass

def test_broken():
    """storage drops version"""
    assert False, "field 'version' dropped"

@pytest.mark.skip(reason="no")
def test_skipped():
    pass

def test_blocked():
    pytest.skip("blocked by: No publish route: POST /events answered 404")
'''
    )
    report = RunReport()
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", plugins=[SuiteCollector(report, {"alpha": [pytester.path]})]
    )
    result.assert_outcomes(passed=1, failed=1, skipped=2)
    assert report.suites == {"alpha": {"passed": 1, "failed": 1, "skipped": 1, "blocked": 1}}
    assert report.findings[0]["title"] == "storage drops version"
    assert "field 'version' dropped" in report.findings[0]["detail"]


def test_target_warnings_become_one_warning_finding_and_never_fail(pytester: pytest.Pytester) -> None:
    from harness.report import SuiteCollector

    pytester.makepyfile(
        test_w="""
import warnings
from harness.report import TargetWarning

def test_one():
    warnings.warn(TargetWarning("Timestamp rewritten to the same instant", "+00:00 -> Z"))

def test_two():
    warnings.warn(TargetWarning("Timestamp rewritten to the same instant", "+00:00 -> Z"))
"""
    )
    report = RunReport()
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", plugins=[SuiteCollector(report, {"alpha": [pytester.path]})]
    )
    result.assert_outcomes(passed=2)
    assert [(f["title"], f["severity"]) for f in report.findings] == [
        ("Timestamp rewritten to the same instant", "warning")
    ]
    assert report.errors == 0


def test_root_causes_come_first_and_severity_is_checked() -> None:
    report = RunReport()
    report.add_finding("a", "later error", "x")
    report.add_finding("w", "a warning", "y", severity="warning")
    report.add_finding("root:publish", "No publish route", "z", root=True)
    assert [f["title"] for f in report.ordered_findings()] == ["No publish route", "later error", "a warning"]
    assert report.errors == 2
    with pytest.raises(ValueError, match="severity"):
        report.add_finding("b", "t", "d", severity="fatal")


def test_failed_cases_of_a_parametrized_check_are_one_finding(pytester: pytest.Pytester) -> None:
    from harness.report import SuiteCollector

    pytester.makepyfile(
        test_p='''
import pytest

@pytest.mark.parametrize("kind", ["a", "b", "c"])
def test_field(kind):
    """event_id dropped in storage"""
    assert kind == "c", f"event_id missing for {kind}"
'''
    )
    report = RunReport()
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", plugins=[SuiteCollector(report, {"alpha": [pytester.path]})]
    )
    result.assert_outcomes(passed=1, failed=2)
    assert len(report.findings) == 1, report.findings
    finding = report.findings[0]
    assert finding["cases"] == 2 and finding["title"] == "event_id dropped in storage"
    assert "[a]" in finding["detail"] and "[b]" in finding["detail"], finding["detail"]
    assert report.suites["alpha"]["failed"] == 2


def test_a_row_of_a_table_driven_check_names_its_own_defect() -> None:
    from types import SimpleNamespace

    from harness.report import _title

    def check() -> None:
        """An outage while events flow: nothing lost"""

    row = SimpleNamespace(
        function=check,
        get_closest_marker=lambda name: (
            pytest.mark.finding("Events lost across a RabbitMQ restart").mark if name == "finding" else None
        ),
    )
    plain = SimpleNamespace(function=check, get_closest_marker=lambda name: None)
    report = SimpleNamespace(nodeid="scenarios/faults/test_faults.py::test_outage[rabbitmq-restart]")
    assert _title(row, report) == "Events lost across a RabbitMQ restart"  # type: ignore[arg-type]
    assert _title(plain, report) == "An outage while events flow: nothing lost"  # type: ignore[arg-type]


def test_markdown_shows_prometheus_beside_the_load_sli_when_measured() -> None:
    report = RunReport(target={})
    report.add_sli("load: DLQ size", 0.0, slo="< 100 messages", ok=True, unit=" messages", prometheus=0.0)
    report.add_sli("correlation integrity", 100.0, slo="100 %", ok=True, unit=" %")
    text = render_markdown(report.summary())
    assert "| SLI | value | Prometheus | SLO | verdict |" in text
    assert "| load: DLQ size | 0.0 messages | 0.0 messages | < 100 messages | met |" in text
    assert "| correlation integrity | 100.0 % | - | 100 % | met |" in text


def test_verify_with_prometheus_but_no_binary_names_the_install(monkeypatch, capsys, tmp_path) -> None:
    from harness.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))  # no prometheus here
    assert main(["verify", "--prometheus", "--reports", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--prometheus" in err and "apt-get install -y prometheus" in err
