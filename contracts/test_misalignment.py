"""Proof that the contract suite detects misalignment (SPEC §6).

The misaligned proxies of :mod:`contracts.misaligned` are put in front of this session's reference services,
and ``harness verify --suite contracts`` runs against them in a subprocess, exactly as a component team would
run it against its own services (external URLs, the stack's broker and database, its credentials). It must
fail, and its output must name every injected defect with path, expected and actual value.

That the reference services themselves pass is the ordinary run of this suite.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import Backend
from harness.config import Settings
from harness.launch import LaunchError, ManagedProcess, free_port, http
from harness.mutants.runner import verify_subprocess

pytestmark = [pytest.mark.contract, pytest.mark.internal, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]

#: defect -> a line the verification output must contain (path: expected …, actual …)
DEFECTS = {
    "event_id renamed to id": r"\$(\.events\[\*\])?\.event_id: expected present, actual missing",
    "source flattened to app@host": r"\$(\.events\[\*\])?\.source: expected \{.*\}, actual \S+@\S+",
    "correlation_ids reduced to one id": (
        r"\$\.correlation_ids: .*\(Expected .* \(size 1\) to have minimum size of 2\)"
    ),
    "agent_context dropped": r"\$(\.events\[\*\])?\.agent_context: expected present, actual missing",
    "version dropped": r"\$(\.events\[\*\])?\.version: expected present, actual missing",
    "has_more omitted": r"\$\.has_more: expected present, actual missing",
    "404 answered with 500": r"status: expected 404, actual 500",
    "Candystore 422 answered with 500": (
        r"a request for events with an invalid limit\n\s+status: expected 422, actual 500"
    ),
    "Bloodbank 422 answered with 500": (
        r"envelope without payload -> 422\n\s+status: expected 422, actual 500"
    ),
    "malformed event accepted": r"status: expected 422, actual 202 .*\n\s+\(malformed event accepted\)",
    "schema-violating request accepted (OpenAPI)": (
        r"POST /events: expected a 4xx for schema-violating input, actual 202"
    ),
    "Candystore outside its OpenAPI": r"FAIL openapi -> candystore: OpenAPI GET /events",
}


def _start_proxy(service: str, upstream: str, health: str, log: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable,
        "-m",
        "contracts.misaligned",
        service,
        "--upstream",
        upstream,
        "--port",
        str(port),
    ]
    proxy = ManagedProcess(
        f"misaligned {service} proxy", argv, dict(os.environ), log, http(url + health), cwd=ROOT
    )
    try:
        proxy.start(timeout=20)
    except LaunchError as exc:
        raise AssertionError(str(exc)) from None
    return proxy, url


@pytest.fixture(scope="module")
def misaligned_stack(
    reference_services: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """URLs of the misaligned proxies in front of this session's reference Candystore and Bloodbank."""
    if {"candystore", "bloodbank"} - set(reference_services):
        pytest.skip("needs both reference services of this session")
    logs = tmp_path_factory.mktemp("misaligned")
    started: list[ManagedProcess] = []
    try:
        candystore, candystore_url = _start_proxy(
            "candystore", reference_services["candystore"].url, "/health", logs / "candystore.log"
        )
        started.append(candystore)
        bloodbank, bloodbank_url = _start_proxy(
            "bloodbank", reference_services["bloodbank"].url, "/healthz", logs / "bloodbank.log"
        )
        started.append(bloodbank)
        yield {"candystore": candystore_url, "bloodbank": bloodbank_url}
    finally:
        for proxy in started:
            proxy.stop()


def test_contract_suite_names_every_defect_of_a_misaligned_stack(
    misaligned_stack: dict[str, str], backend: Backend, harness_settings: Settings, tmp_path: Path
) -> None:
    """harness verify --suite contracts fails against a misaligned Bloodbank/Candystore, naming each defect"""
    run, _summary, _took = verify_subprocess(
        bloodbank_url=misaligned_stack["bloodbank"],
        candystore_url=misaligned_stack["candystore"],
        amqp_url=backend.amqp_url,
        database_url=backend.database_url,
        topology=backend.topology,
        settings=harness_settings,
        reports=tmp_path / "reports",
        suites=["contracts"],
        extra=["--", f"--ignore={Path(__file__).resolve()}"],
        timeout=300,
    )
    output = run.stdout + run.stderr
    tail = output[output.find("harness verify: summary") :][-6000:] or output[-6000:]
    assert run.returncode != 0, f"harness verify passed against the misaligned stack:\n{tail}"
    unnamed = [defect for defect, pattern in DEFECTS.items() if not re.search(pattern, output)]
    assert not unnamed, f"defects the contract suite did not name: {unnamed}\n{tail}"
    summary = (tmp_path / "reports" / "summary.json").read_text()
    assert '"contracts"' in summary and "has_more" in summary, "summary.json lacks the contract matrix"
