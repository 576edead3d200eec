"""The Candybar TypeScript pact is a real check: a field renamed in the client fails the verification.

A copy of contracts/consumers/candybar-ts with ``stored_at`` renamed to ``saved_at`` everywhere (Zod schema,
consumer test expectations) writes its pact to a temporary folder; that pact verified against the Candystore
under test must fail, naming ``saved_at``, on every interaction that returns a stored event, and pass on
the others. The copy runs only the Pact test file with tsx: the Zod drift test would stop the renamed
client before its pact is written (``saved_at`` is not in the OpenAPI document), which is the consumer
side's own guard; here the provider side is proven.
Nothing here is recorded in the contract matrix. Marked ``internal``: it checks the harness, so it runs
against the reference stack only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pact import Verifier

from harness.contracts import CandystoreStates, failure_report, interaction_results, pact_interactions

# `internal`: a check of the harness itself, not of the provider, so it runs against the reference stack
# only (a target with other defects would fail it for reasons that are not the rename)
pytestmark = [pytest.mark.contract, pytest.mark.internal]

CONTRACTS = Path(__file__).resolve().parents[1]
PACKAGE = CONTRACTS / "consumers" / "candybar-ts"
RENAMED = ("stored_at", "saved_at")
#: interactions whose answers carry no stored event
UNTOUCHED = {"a health check", "a request for an unknown event", "a request for events with an invalid limit"}


def _renamed_pact(tmp_path: Path) -> Path:
    node = shutil.which("node")
    if not node or not shutil.which("npm"):
        pytest.skip("node and npm are not installed: Candybar's TypeScript consumer cannot run")
    if not (PACKAGE / "node_modules" / "tsx").is_dir():
        pytest.skip(f"{PACKAGE}/node_modules is missing: run ./run bootstrap (npm ci there)")
    copy = tmp_path / "contracts" / "consumers" / "candybar-ts"
    for folder in ("src", "test"):
        (copy / folder).mkdir(parents=True)
        for source in (PACKAGE / folder).glob("*.ts"):
            (copy / folder / source.name).write_text(source.read_text().replace(*RENAMED))
    for name in ("package.json", "tsconfig.json"):  # tsconfig: `paths` resolves zod for the generated file
        (copy / name).write_text((PACKAGE / name).read_text())
    (copy / "node_modules").symlink_to(PACKAGE / "node_modules")
    (tmp_path / "contracts" / "generated").symlink_to(CONTRACTS / "generated")
    out = tmp_path / "pacts"
    result = subprocess.run(
        [node, "--import", "tsx", "--test", "test/candystore.pact.test.ts"],
        cwd=copy,
        env={**os.environ, "CANDYBAR_PACT_DIR": str(out)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    failure = result.stdout[result.stdout.find("not ok") :][:4000]
    assert result.returncode == 0, f"the renamed consumer failed:\n{failure}{result.stderr[-2000:]}"
    pact = out / "candybar-ts-candystore.json"
    assert RENAMED[1] in pact.read_text() and RENAMED[0] not in pact.read_text()
    return pact


def test_a_field_renamed_in_the_typescript_client_fails_verification_naming_it(
    tmp_path: Path, candystore_url: str, candystore_states: CandystoreStates
) -> None:
    """A field renamed in Candybar's TypeScript client fails the provider verification, naming the field"""
    pact = _renamed_pact(tmp_path)
    states = CandystoreStates(candystore_states.context)
    verifier = (
        Verifier("candystore", host=urlsplit(candystore_url).hostname or "localhost")
        .add_transport(url=candystore_url)
        .add_source(pact)
        .state_handler(states, teardown=True)
        .set_request_timeout(15_000)
    )
    try:
        verifier.verify()
    except RuntimeError:
        pass  # the failures are in verifier.results
    interactions = pact_interactions(pact)
    rows = interaction_results(
        verifier.results,
        provider="candystore",
        consumer="candybar-ts",
        expected=[i["description"] for i in interactions],
        notes=states.notes_for(interactions),
    )
    unrealized = {state: why for state, why in states.problems.items() if state}  # '': no state named
    assert not unrealized, f"provider states not realized: {unrealized}"
    failed = {row.interaction: row for row in rows if not row.ok}
    assert set(failed) == {row.interaction for row in rows} - UNTOUCHED, failure_report(rows)
    for name, row in failed.items():
        assert any(RENAMED[1] in m.line() for m in row.mismatches), f"{name}: {failure_report([row])}"
