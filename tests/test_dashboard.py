"""reports/index.html: built from a run's files, every section present, "not run" where nothing was run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.dashboard import (
    coverage_by_component,
    junit_tests,
    load_run,
    read_history,
    record_run,
    render_index,
    write_index,
)
from tests.report_fixture import write_run

SECTIONS = ("summary", "criteria", "slos", "contracts", "ledger", "mutants", "findings", "coverage", "trend")


def _section(page: str, sid: str) -> str:
    match = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert match, f"section {sid} missing"
    return match.group(1)


def test_page_has_every_section_with_the_run_figures(tmp_path: Path) -> None:
    page = render_index(load_run(write_run(tmp_path)))
    for sid in SECTIONS:
        _section(page, sid)
    criteria = _section(page, "criteria")
    assert criteria.count("<tr>") == 1 + 9  # header + the nine criteria of SPEC §5
    row = re.search(r"<td>0 events lost</td><td>(.*?)</td><td>(.*?)</td>", criteria, re.S)
    assert row and "NOT MET" in row.group(1) and "4000 events through 2 fault runs" in row.group(2)
    assert "scenarios/faults/test_faults.py::test_no_loss[pg-down]" in criteria  # test ids as evidence
    assert "scenarios/correlation/test_chains.py::test_diamond" in criteria
    assert "87.5 ms" in _section(page, "slos") and "&lt; 500 ms" in _section(page, "slos")
    ledger = _section(page, "ledger")
    assert "rabbitmq-restart" in ledger and "<svg" in ledger and "lost: 1" in ledger
    assert "92.3 %" in _section(page, "mutants")
    coverage = _section(page, "coverage")
    assert "Bloodbank" in coverage and "75 %" in coverage and "Holyfields" not in coverage
    findings = _section(page, "findings")
    assert "No DLQ: dead-letter exchange missing" in findings and "signing key not given" in findings
    assert "&lt;b&gt;x&lt;/b&gt;" in findings and "<b>x</b>" not in findings  # details are escaped
    contracts = _section(page, "contracts")
    assert "$.event_id" in contracts and "FAIL" in contracts


def test_page_is_self_contained(tmp_path: Path) -> None:
    page = render_index(load_run(write_run(tmp_path)))
    assert "<script" not in page.lower()
    assert "src=" not in page
    links = re.findall(r'href="([^"]*)"', page)
    assert links and all(link.startswith("#") or "://" not in link for link in links), links
    assert 'href="summary.json"' in page and 'href="allure/index.html"' not in page  # only files there
    assert "<link" not in page and "@import" not in page and "url(" not in page


def test_what_was_not_run_is_said_so(tmp_path: Path) -> None:
    page = render_index(load_run(write_run(tmp_path, extras=False)))
    assert "not run" in _section(page, "slos") and "harness load" in _section(page, "slos")
    assert "not run" in _section(page, "mutants")
    assert "not measured" in _section(page, "coverage")
    assert "no earlier run recorded" in _section(page, "trend")


def test_each_verify_appends_history_and_the_page_shows_runs_side_by_side(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    record_run(run, when=1_700_000_000)
    (run / "summary.json").write_text(json.dumps({**load_run(run).summary, "findings": []}))
    (run / "load.json").write_text(
        json.dumps({**json.loads((run / "load.json").read_text()), "finished_at": 2})
    )
    page = record_run(run, when=1_700_003_600).read_text()
    history = read_history(run / "history.jsonl")
    assert [h["findings"]["error"] for h in history] == [2, 0]
    assert history[0]["coverage"] == 75.0 and history[0]["load"]["e2e_p99_ms"] == 87.5
    trend = _section(page, "trend")
    assert "#1" in trend and "#2" in trend and "2023-11-14 22:13 UTC" in trend
    assert trend.count("<svg") == 3  # checks, latency percentiles, throughput
    record_run(run, when=1_700_007_200)  # the same load.json again: not counted as a new load run
    assert "same load run" in _section(write_index(run).read_text(), "trend")


def test_harness_report_rebuilds_the_page_without_running_anything(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path)
    assert main(["report", "--reports", str(run)]) == 0
    assert (run / "index.html").exists() and not (run / "history.jsonl").exists()
    assert str(run / "index.html") in capsys.readouterr().out


def test_harness_report_without_a_run_names_the_fix(tmp_path: Path, capsys) -> None:
    assert main(["report", "--reports", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "summary.json" in err and "harness verify" in err


def test_coverage_by_component_counts_lines_and_branches(tmp_path: Path) -> None:
    rows = {r["component"]: r for r in coverage_by_component(write_run(tmp_path) / "coverage.xml") or []}
    assert rows["Bloodbank"]["line_rate"] == 75.0 and rows["Bloodbank"]["branch_rate"] == 50.0
    assert rows["Candystore"]["line_rate"] == 100.0 and rows["Candystore"]["branch_rate"] is None
    assert rows["harness"]["covered"] == 1


def test_junit_test_ids_and_outcomes(tmp_path: Path) -> None:
    tests = {t["id"]: t["outcome"] for t in junit_tests(write_run(tmp_path) / "junit.xml")}
    assert tests["scenarios/correlation/test_chains.py::test_diamond"] == "failed"
    assert tests["scenarios/dlq/test_reasons.py::test_envelope_invalid"] == "passed"


def test_a_damaged_summary_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("{")
    with pytest.raises(Exception, match=r"not valid JSON.*re-run"):
        load_run(tmp_path)


def test_contract_matrix_shows_versions_and_pact_hash_from_the_can_i_deploy_matrix(tmp_path: Path) -> None:
    from harness.matrix import Matrix

    run = write_run(tmp_path)
    matrix = Matrix(run / "pact-matrix.json")
    matrix.publish("candybar", "c-7", "candystore", "f" * 64, when=1_700_000_000)
    matrix.verify("candystore", "p-9", "candybar", "f" * 64, False, when=1_700_000_100)
    matrix.save()
    contracts = _section(render_index(load_run(run)), "contracts")
    row = re.search(r"<tr><td>candybar</td>(.*?)</tr>", contracts, re.S)
    assert row and "c-7" in row.group(1) and "p-9" in row.group(1) and "ffffffffffff" in row.group(1)
    assert "2023-11-14 22:15 UTC" in row.group(1)


def test_the_open_model_load_summary_is_shown_with_prometheus_beside_it(tmp_path: Path) -> None:
    """`harness load` writes load/summary.json (not load.json): the page must show that run, and the SLIs a
    private Prometheus computed for it in their own column."""
    run = write_run(tmp_path, extras=False)
    summary = {
        "target_rate": 50.0,
        "achieved_rate": 50.5,
        "published": 505,
        "stored": 505,
        "lost": 0,
        "duplicated": 0,
        "started_at": 1_700_000_000.0,
        "elapsed_seconds": 10.0,
        "config": {"duration_seconds": 10.0, "users": {"HttpPublisher": 41, "Reader": 7}},
        "requests": {"HTTP publish": {"p50_ms": 4, "p99_ms": 8}},
        "e2e_latency_ms": {"p50": 9.3, "p99": 27.2, "measured": 505, "measured_percent": 100.0},
        "verdict": [
            {
                "key": "e2e_latency_p99_ms",
                "sli": "end-to-end latency p99, publish → stored",
                "value": 27.2,
                "unit": "ms",
                "slo": "< 500 ms",
                "alert": "> 1000 ms",
                "status": "met",
            }
        ],
        "prometheus": {
            "url": "http://127.0.0.1:9",
            "slis": [{"key": "e2e_latency_p99_ms", "prometheus": 39.3}],
        },
        "passed": True,
    }
    (run / "load").mkdir()
    (run / "load" / "summary.json").write_text(json.dumps(summary))
    slos = _section(render_index(load_run(run)), "slos")
    assert "505 events published at 50.5 events/s (target 50)" in slos and "by 48 users" in slos
    assert "<th class=n>Prometheus</th>" in slos and "<td class=n>39.3 ms</td>" in slos
    assert "every event (505, 100 %)" in slos
    record_run(run, when=1_700_000_100)
    assert read_history(run / "history.jsonl")[0]["load"]["e2e_p99_ms"] == 27.2
