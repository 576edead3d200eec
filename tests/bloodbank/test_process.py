"""The real process (``python -m reference_impl.bloodbank``), configured only by environment variables."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from harness.backends import Backend, free_port
from harness.services import ServiceProcess, service_env
from holyfields import make_envelope
from holyfields.topology import Topology
from reference_impl.bloodbank import Signer

from .helpers import Tap

pytestmark = [pytest.mark.integration, pytest.mark.internal]

ProcessFactory = Callable[..., ServiceProcess]


@pytest.fixture
def process_factory(backend: Backend, isolated: Topology, tmp_path: Path) -> Iterator[ProcessFactory]:
    """``process_factory(ready_path="/readyz", **extra_env)`` -> a started Bloodbank on the isolated topology.

    ``start`` returns when ``ready_path`` answers 200: the liveness path for a process started on purpose
    without its broker."""
    started: list[ServiceProcess] = []

    def make(ready_path: str = "/readyz", **extra_env: str) -> ServiceProcess:
        port = free_port()
        service = ServiceProcess(
            name="bloodbank",
            env=service_env("bloodbank", backend, port),
            port=port,
            log=tmp_path / f"bloodbank-{len(started)}.log",
            ready_path=ready_path,
            extra_env={**isolated.env(), **extra_env},
        )
        service.start()
        started.append(service)
        return service

    yield make
    for service in started:
        service.stop()


def test_process_publishes_signed_events_behind_an_api_key(process_factory: ProcessFactory, tap: Tap) -> None:
    service = process_factory(
        BLOODBANK_SIGNING_KEYS="k1:first,k2:second",
        BLOODBANK_SIGNING_KEY_ID="k2",
        BLOODBANK_API_KEYS="let-me-in",
    )
    with httpx.Client(base_url=service.url, timeout=10) as http:
        assert http.get("/readyz").json() == {"status": "ready", "broker": "up"}
        assert http.post("/events", json=make_envelope()).status_code == 401
        envelope = make_envelope("theboard.meeting.created.v1")
        response = http.post("/events", json=envelope, headers={"X-API-Key": "let-me-in"})
        assert response.status_code == 202, response.text
        assert response.json()["event_id"] == envelope["event_id"]
        (message,) = tap.take(1)
        assert Signer.from_spec("k1:first,k2:second").verify(message.body, message.headers)
        assert message.headers["x-signature-key-id"] == "k2"
        metrics = http.get("/metrics").text
        series = (
            'bloodbank_events_published_total{event_type="theboard.meeting.created.v1",status="published"}'
        )
        assert f"{series} 1.0" in metrics
        assert http.get("/openapi.json").json()["info"]["title"] == "Bloodbank"
    service.stop()  # SIGTERM: graceful shutdown (uvicorn re-raises the signal, so the exit code is -15)
    log = service.log.read_text()
    assert "Application shutdown complete" in log and "Traceback" not in log


def test_process_starts_without_the_broker_and_says_it_is_not_ready(
    process_factory: ProcessFactory,
) -> None:
    service = process_factory(
        ready_path="/healthz",
        BLOODBANK_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{free_port()}/",
        BLOODBANK_PUBLISH_RETRIES="1",
        BLOODBANK_RETRY_BASE_DELAY="0.05",
        BLOODBANK_RETRY_AFTER_SECONDS="7",
    )
    with httpx.Client(base_url=service.url, timeout=10) as http:
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.headers["Retry-After"] == "7"
        response = http.post("/events", json=make_envelope())
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "7"
        assert response.json()["reason"] == "broker_unavailable"


def test_a_bad_variable_stops_the_process_with_its_name() -> None:
    env = {**os.environ, "BLOODBANK_PORT": "eighty"}
    result = subprocess.run(
        [sys.executable, "-m", "reference_impl.bloodbank"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "configuration error: BLOODBANK_PORT='eighty' is not an integer" in result.stderr
