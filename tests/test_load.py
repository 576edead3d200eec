"""Load runs: the SLO judgement, and a short real run through the embedded stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from load.thresholds import THRESHOLDS, judge


@pytest.mark.parametrize(
    ("key", "value", "status"),
    [
        ("publish_success_rate", 99.95, "met"),
        ("publish_success_rate", 99.7, "missed"),
        ("publish_success_rate", 99.0, "alert"),
        ("e2e_latency_p99_ms", 499.0, "met"),
        ("e2e_latency_p99_ms", 500.0, "missed"),
        ("e2e_latency_p99_ms", 1000.1, "alert"),
        ("dlq_size", 0.0, "met"),
        ("dlq_size", 5000.0, "alert"),
        ("validation_success_rate", None, "not measured"),
    ],
)
def test_threshold_status(key: str, value: float | None, status: str) -> None:
    assert THRESHOLDS[key].status(value) == status


def test_judge_lists_every_sli_of_spec_section_5() -> None:
    rows = judge({"publish_success_rate": 100.0})
    assert [row["key"] for row in rows] == list(THRESHOLDS)
    assert rows[0]["slo"] == "≥ 99.9 %" and rows[0]["status"] == "met"
    assert all(row["status"] == "not measured" for row in rows[1:])


@pytest.mark.integration
def test_harness_load_achieves_the_requested_rate(tmp_path) -> None:
    """`--users 3 --rate 10 --duration 6` must give 30 req/s (± 15 %) for 6 s, not the default rate."""
    users, rate, duration = 3, 10.0, 6
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "load",
            "--backend",
            "local",
            "--duration",
            str(duration),
            "--users",
            str(users),
            "--rate",
            str(rate),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.exists(), f"no result written; stderr:\n{proc.stderr[-3000:]}"
    result = json.loads(out.read_text())
    target = users * rate
    achieved = result["requests"] / duration
    assert abs(achieved - target) <= 0.15 * target, (
        f"achieved {achieved:.1f} req/s ({result['requests']} requests in {duration} s), target {target:g}"
    )
    assert result["published"] == result["requests"]
    assert abs(result["elapsed_seconds"] - duration) <= 1.0, result["elapsed_seconds"]
    verdict = {row["key"]: row for row in result["verdict"]}
    assert verdict["publish_success_rate"]["value"] == 100.0
    assert verdict["e2e_latency_p99_ms"]["value"] is not None
    assert verdict["dlq_size"]["status"] == "met"
    assert "load run:" in proc.stdout and proc.returncode == (0 if result["passed"] else 1)
