"""A small reports directory, as ``harness verify`` / ``load`` / ``mutants`` / coverage leave it."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report import RunReport

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="scenarios.faults.test_faults" name="test_no_loss[pg-down]" time="12.1"/>
<testcase classname="scenarios.e2e.test_roundtrip" name="test_every_field[github.pr.opened.v1]" time="0.2"/>
<testcase classname="scenarios.dlq.test_reasons" name="test_envelope_invalid" time="0.3"/>
<testcase classname="contracts.providers.test_candystore_provider"
          name="test_candystore_honours_candybar_contract[a health check]" time="0.1"/>
<testcase classname="scenarios.correlation.test_chains" name="test_diamond" time="0.4">
  <failure message="parent missing">AssertionError: parent missing</failure></testcase>
</testsuite></testsuites>
"""

COVERAGE = """<?xml version="1.0" ?>
<coverage version="7.6" line-rate="0.75" branch-rate="0.5">
<packages><package name="x">
<classes>
<class name="app.py" filename="reference_impl/bloodbank/app.py">
  <lines><line number="1" hits="1"/><line number="2" hits="0"/>
  <line number="3" hits="1" branch="true" condition-coverage="50% (1/2)"/><line number="4" hits="1"/></lines>
</class>
<class name="store.py" filename="reference_impl/candystore/store.py">
  <lines><line number="1" hits="1"/><line number="2" hits="1"/></lines>
</class>
<class name="cli.py" filename="harness/cli.py">
  <lines><line number="1" hits="0"/><line number="2" hits="1"/></lines>
</class>
</classes></package></packages></coverage>
"""


def summary(*, failing: bool = True) -> dict:
    report = RunReport(target={"bloodbank_url": "http://127.0.0.1:9/"})
    for suite in ("dlq", "fuzz", "e2e", "faults", "contracts"):
        report.count(suite, "passed")
    report.count("correlation", "failed" if failing else "passed")
    report.add_ledger(
        "pg-down",
        {
            "accepted": 2000,
            "stored": 2000,
            "dead_lettered": 0,
            "lost": 0,
            "duplicated": 0,
            "recovery_seconds": 3.2,
        },
    )
    report.add_ledger(
        "rabbitmq-restart",
        {
            "accepted": 2000,
            "stored": 1999,
            "dead_lettered": 0,
            "lost": 1,
            "duplicated": 0,
            "recovery_seconds": 8.0,
        },
    )
    report.add_sli("correlation integrity", 97.5, slo="100 %", ok=False, unit=" %")
    report.add_contract("a health check", "candystore", "candybar", True)
    report.add_contract(
        "a request for one event by id",
        "candystore",
        "candybar",
        not failing,
        []
        if not failing
        else [{"path": "$.event_id", "expected": "uuid", "actual": "missing", "mismatch": ""}],
    )
    report.add_contract("event github.pr.opened.v1", "bloodbank", "candystore", True)
    report.add_contract("OpenAPI GET /health", "candystore", "openapi", True)
    if failing:
        report.add_finding(
            "scenarios/correlation/test_chains.py::test_diamond",
            "correlation ids never populated",
            "<b>x</b>",
        )
        report.add_finding("warn", "signing key not given", "", severity="warning")
        report.add_finding("root", "No DLQ: dead-letter exchange missing", "declare it", root=True)
    report.checks["generated types"] = True
    return report.summary()


LOAD = {
    "config": {"users": 10, "rate_per_user": 50, "duration_seconds": 15},
    "requests": 7400,
    "published": 7400,
    "throughput_rps": 493.3,
    "publish_latency_ms": {"p50": 9, "p99": 41},
    "e2e_latency_ms": {"sampled": 200, "stored": 200, "missing": 0, "p50": 22.0, "p99": 87.5},
    "verdict": [
        {
            "key": "e2e_latency_p99_ms",
            "sli": "end-to-end latency p99, publish → stored",
            "value": 87.5,
            "unit": "ms",
            "slo": "< 500 ms",
            "alert": "> 1000 ms",
            "status": "met",
        },
        {
            "key": "dlq_size",
            "sli": "DLQ size",
            "value": None,
            "unit": "messages",
            "slo": "< 100 messages",
            "alert": "> 1000 messages",
            "status": "not measured",
        },
    ],
    "passed": True,
}


def write_run(directory: Path, *, failing: bool = True, extras: bool = True) -> Path:
    """summary.json + junit.xml always; load.json, coverage.xml and mutants.json when ``extras``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.json").write_text(json.dumps(summary(failing=failing)))
    (directory / "junit.xml").write_text(JUNIT)
    if extras:
        (directory / "load.json").write_text(json.dumps(LOAD))
        (directory / "coverage.xml").write_text(COVERAGE)
        (directory / "mutants.json").write_text(
            json.dumps(
                {
                    "score": 92.3,
                    "mutants": 13,
                    "false_positives": 1,
                    "rows": [
                        {
                            "mutant": "no-dlq",
                            "defect": "failed messages lost",
                            "named": True,
                            "false_positives": [],
                        }
                    ],
                }
            )
        )
    return directory
