"""Coverage while verify runs: this process and the Python services it starts, combined per component."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from harness.coverage_run import ENV, VerifyCoverage, coverage_lines
from harness.report import RunReport, render_markdown

#: a stand-in service: imports Candystore's API, says so, then waits for its stdin (SIGTERM ends it)
SERVICE = "import sys, reference_impl.candystore.api; print('ready', flush=True); sys.stdin.read()"


def test_the_process_and_its_python_children_are_measured_and_combined(tmp_path: Path) -> None:
    measured = VerifyCoverage(tmp_path).start()
    try:
        assert os.environ[ENV] == str(measured.rcfile)
        from holyfields import make_envelope

        make_envelope("n8n.workflow.completed.v1")
        # a service as the harness starts and stops it: a new interpreter that inherits the environment,
        # stopped with SIGTERM and dying of it (as uvicorn does after its graceful shutdown)
        child = subprocess.Popen(
            [sys.executable, "-c", SERVICE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
    finally:
        rows = measured.finish()
    assert child.returncode == -signal.SIGTERM
    assert ENV not in os.environ
    by = {row["component"]: row for row in rows or []}
    assert by["Candystore"]["covered"] > 0, "the child process was not measured"
    assert by["Holyfields"]["covered"] > 0
    assert by["harness"]["lines"] > 0 and by["harness"]["branches"] > 0
    assert (tmp_path / "coverage.xml").exists() and (tmp_path / "coverage" / "index.html").exists()
    assert not list(measured.work.glob(".coverage.*")), "data files are combined, not left behind"
    assert "Candystore" in "\n".join(coverage_lines(rows, tmp_path))


def test_the_markdown_report_has_the_table_per_component() -> None:
    report = RunReport()
    report.coverage = [
        {"component": "Bloodbank", "line_rate": 81.5, "covered": 815, "lines": 1000, "branch_rate": 70.0}
    ]
    text = render_markdown(report.summary())
    assert "## Coverage by component" in text and "| Bloodbank | 81.5 % (815/1000) | 70.0 % |" in text
    assert "## Coverage by component" not in render_markdown(RunReport().summary())
