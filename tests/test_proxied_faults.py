"""``harness up --proxied``: the black-box fault runs work against services the harness did not start."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness.backends import Backend
from harness.config import Settings
from harness.faults import FaultControl
from harness.mutants.runner import Servers, verify_subprocess
from harness.services import start_reference_services

pytestmark = [pytest.mark.internal, pytest.mark.integration, pytest.mark.fault]


def test_fault_control_refuses_an_unknown_fault_with_usage(backend: Backend) -> None:
    with FaultControl(backend) as control:
        answer = httpx.post(f"{control.url}/faults/dns/cut")
        assert answer.status_code == 404 and "amqp|postgres" in answer.json()["detail"]
        assert httpx.get(control.url).json()["faults"] == ["amqp", "postgres"]


def test_services_started_on_proxied_urls_pass_the_black_box_fault_runs(
    backend: Backend, harness_settings: Settings, tmp_path: Path
) -> None:
    """Services started on `harness up --proxied` URLs: both fault runs pass, zero loss, through the API"""
    with FaultControl(backend) as control:
        servers = Servers(control.amqp_url, control.database_url, backend.topology.prefixed("proxied-"))
        services = start_reference_services(servers, harness_settings, log_dir=tmp_path)  # type: ignore[arg-type]
        try:
            run, summary, took = verify_subprocess(
                bloodbank_url=services["bloodbank"].url,
                candystore_url=services["candystore"].url,
                amqp_url=backend.amqp_url,
                database_url=backend.database_url,
                topology=servers.topology,
                settings=harness_settings,
                reports=tmp_path / "reports",
                suites=["faults"],
                extra=[f"--fault-control={control.url}"],
            )
        finally:
            for service in services.values():
                service.stop()
    titles = [f["title"] for f in summary["findings"]]
    assert run.returncode == 0, f"{titles}\n{run.stdout[-3000:]}"
    for name in ("proxied-broker-cut", "proxied-database-cut"):
        verdict = summary["ledger"][name]
        assert verdict["lost"] == 0 and verdict["duplicated"] == 0 and verdict["accepted"] == 600, verdict
    print(f"proxied fault runs in {took:.1f} s: {summary['ledger']}")
