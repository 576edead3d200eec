"""``harness up`` with the reference services: one JSON line, working URLs, nothing left after SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from harness.backends import wait_until

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b") ", 1)[1][:1] != b"Z"
    except OSError:
        return False


def test_harness_up_starts_the_whole_stack_and_tears_it_down() -> None:
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "up", "--backend", "local", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        elapsed = time.monotonic() - began
        assert line, f"harness up printed nothing; stderr:\n{proc.stderr.read()}"  # type: ignore[union-attr]
        info = json.loads(line)
        for key in ("amqp_url", "database_url", "bloodbank_url", "candystore_url", "api_key"):
            assert info.get(key), f"{key} missing from the JSON line"
        print(f"harness up --json: line after {elapsed:.1f} s")
        assert httpx.get(info["bloodbank_url"] + "/readyz").status_code == 200
        assert httpx.get(info["candystore_url"] + "/readyz").status_code == 200
        published = httpx.post(
            info["bloodbank_url"] + "/events",
            headers={"X-API-Key": info["api_key"]},
            json={
                "event_type": "n8n.workflow.completed.v1",
                "payload": {"workflow_id": "w", "execution_id": "e", "status": "success", "duration_ms": 3},
            },
        )
        assert published.status_code == 202, published.text
        pids = [p for ps in info["pids"].values() for p in ps] + list(info["service_pids"].values())
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0
    assert proc.stdout.read() == "", "harness up --json printed more than one line"  # type: ignore[union-attr]
    wait_until(
        lambda: not any(_alive(p) for p in pids), timeout=20, describe="every process of the stack gone"
    )
    assert not os.path.exists(info["run_dir"])
