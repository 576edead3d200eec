"""The committed OpenAPI document: no drift, every error response documented, what the app serves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reference_impl.bloodbank.openapi import EXPORT_COMMAND, OPENAPI_PATH, export_openapi, render_openapi


def test_committed_document_has_not_drifted() -> None:
    assert OPENAPI_PATH.is_file(), f"{OPENAPI_PATH} is missing: generate it with `{EXPORT_COMMAND}`"
    committed = OPENAPI_PATH.read_text(encoding="utf-8")
    assert committed == render_openapi(), (
        f"{OPENAPI_PATH.relative_to(OPENAPI_PATH.parents[2])} differs from the app's OpenAPI: "
        f"regenerate it with `{EXPORT_COMMAND}` and commit the result"
    )


def test_export_is_deterministic_and_formatted(tmp_path: Path) -> None:
    target = export_openapi(tmp_path / "bb.json")
    text = target.read_text(encoding="utf-8")
    assert text == render_openapi()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(
    ("path", "codes"),
    [
        ("/events", {"202", "400", "401", "413", "422", "429", "503"}),
        ("/events/batch", {"202", "207", "400", "401", "413", "422", "429", "503"}),
    ],
)
def test_error_responses_are_documented(path: str, codes: set[str]) -> None:
    document = json.loads(render_openapi())
    operation = document["paths"][path]["post"]
    assert codes <= set(operation["responses"]), f"{path}: undocumented {codes - set(operation['responses'])}"
    for code in ("429", "503"):
        assert "Retry-After" in operation["responses"][code]["headers"]
    assert operation["requestBody"]["required"] is True
    assert {p["name"] for p in operation["parameters"]} == {"X-Parent-Event-Id", "traceparent"}
    assert document["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "X-API-Key"


def test_every_spec_endpoint_is_documented() -> None:
    paths = json.loads(render_openapi())["paths"]
    for path in (
        "/events",
        "/events/batch",
        "/healthz",
        "/readyz",
        "/metrics",
        "/schemas",
        "/schemas/{event_type}",
    ):
        assert path in paths
    assert "503" in paths["/readyz"]["get"]["responses"]
    assert "404" in paths["/schemas/{event_type}"]["get"]["responses"]


def test_check_command_reports_a_stale_file() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reference_impl.bloodbank", "--check-openapi"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout
