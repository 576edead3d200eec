"""Operational endpoints and the OpenAPI contract of the Candystore service (SPEC §4)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reference_impl.candystore.api import export_openapi

from .helpers import Deployment, envelope

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "contracts" / "openapi" / "candystore.openapi.json"


@pytest.mark.integration
def test_health_and_readiness(deployment: Deployment) -> None:
    health = deployment.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["database"] == "up" and body["broker"] == "up" and body["status"] == "ok"
    assert body["version"]
    assert deployment.get("/readyz").status_code == 200


@pytest.mark.integration
def test_metrics_have_the_spec_names(deployment: Deployment) -> None:
    event = envelope("github.pr.opened.v1")
    deployment.publish(event)
    deployment.publish(b"{", routing_key="bad.json.v1")
    deployment.wait_stored([event["event_id"]])
    deployment.dead_letters(1)
    text = deployment.get("/metrics").text
    for name in (
        "candystore_events_received_total",
        "candystore_events_stored_total",
        'candystore_events_dead_lettered_total{reason="json_invalid"}',
        "candystore_storage_latency_seconds_bucket",
        "candystore_end_to_end_latency_seconds_bucket",
    ):
        assert name in text, name


@pytest.mark.integration
def test_served_openapi_is_the_exported_one(deployment: Deployment) -> None:
    served = deployment.get("/openapi.json").json()
    assert served == json.loads(export_openapi())


def test_committed_openapi_has_not_drifted() -> None:
    assert CONTRACT.is_file(), "run: python -m reference_impl.candystore --export-openapi"
    assert CONTRACT.read_text(encoding="utf-8") == export_openapi(), (
        "contracts/openapi/candystore.openapi.json is stale: "
        "run python -m reference_impl.candystore --export-openapi"
    )


def test_openapi_documents_errors() -> None:
    spec = json.loads(export_openapi())
    paths = spec["paths"]
    assert {"404", "422"} <= set(paths["/events/{event_id}"]["get"]["responses"])
    assert {"404", "422"} <= set(paths["/events/trace/{event_id}"]["get"]["responses"])
    assert "422" in paths["/events"]["get"]["responses"]
    params = {p["name"] for p in paths["/events"]["get"]["parameters"]}
    assert params == {
        "event_type",
        "source_app",
        "session_id",
        "correlation_id",
        "since",
        "until",
        "limit",
        "offset",
    }


def test_export_cli_writes_stdout() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "reference_impl.candystore", "--export-openapi", "-"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=60,
    )
    assert out.stdout == export_openapi()


def test_bad_configuration_exits_with_a_message() -> None:
    env = {"PATH": "/usr/bin:/bin", "CANDYSTORE_REQUIRE_SIGNATURES": "true"}
    out = subprocess.run(
        [sys.executable, "-m", "reference_impl.candystore"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2
    assert "CANDYSTORE_SIGNING_KEYS" in out.stderr


@pytest.mark.integration
@pytest.mark.contract
def test_live_service_conforms_to_its_openapi(deployment: Deployment) -> None:
    """schemathesis against the running service: no 5xx, responses match the document, bad input refused."""
    for _ in range(5):
        deployment.publish(envelope("github.pr.opened.v1"))
    st = Path(sys.executable).with_name("st")
    out = subprocess.run(
        [
            str(st),
            "run",
            deployment.url + "/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--seed",
            "1",
            "--no-color",
            "--exclude-path",
            "/metrics",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=deployment.log_dir,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
