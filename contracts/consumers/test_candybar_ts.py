"""Candybar -> Candystore written by Candybar's own TypeScript client (contracts/consumers/candybar-ts).

``npm test`` there type-checks the client against the generated types (``tsc --strict``), runs the Zod
drift test and the Pact JS V4 consumer tests, and writes ``candybar-ts-candystore.json``; here it writes to
a temporary folder and the result is compared with the committed pact like the Python pacts are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.contracts import PACT_DIR, UPDATE_ENV, check_or_update

pytestmark = pytest.mark.contract

PACKAGE = Path(__file__).resolve().parent / "candybar-ts"
PACT_FILE = PACT_DIR / "candybar-ts-candystore.json"
PYTHON_PACT = PACT_DIR / "candybar-candystore.json"
REFRESH = (
    f"refresh with `{UPDATE_ENV}=1 .venv/bin/python -m pytest contracts/consumers/test_candybar_ts.py` "
    "and commit contracts/pacts/"
)


def _npm() -> str:
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        pytest.skip("node and npm are not installed: Candybar's TypeScript consumer test cannot run")
    if not (PACKAGE / "node_modules" / "@pact-foundation" / "pact").is_dir():
        pytest.skip(f"{PACKAGE}/node_modules is missing: run ./run bootstrap (npm ci there)")
    stamp = PACKAGE / "node_modules" / ".harness-installed"  # written by ./run bootstrap after npm ci
    lock = hashlib.sha256((PACKAGE / "package-lock.json").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text().strip() != lock:
        pytest.skip(f"{PACKAGE}/node_modules is older than its package-lock.json: run ./run bootstrap")
    return npm


def _contract_of(path: Path) -> dict[str, dict]:
    """Per interaction: the provider states with their params and the request (what the provider sets up)."""
    interactions = json.loads(path.read_text())["interactions"]
    return {
        i["description"]: {"states": i.get("providerStates", []), "request": i["request"]}
        for i in interactions
    }


def test_typescript_pact_is_written_by_npm_test_and_current(tmp_path: Path) -> None:
    """`npm test` of Candybar's TypeScript client passes and writes the committed pact (no drift)"""
    npm = _npm()
    env = {**os.environ, "CANDYBAR_PACT_DIR": str(tmp_path)}
    result = subprocess.run(
        [npm, "test", "--silent"], cwd=PACKAGE, env=env, capture_output=True, text=True, timeout=180
    )
    failure = result.stdout[result.stdout.find("not ok") :][:6000]  # node:test's report of the first failure
    assert result.returncode == 0, f"npm test failed in {PACKAGE}:\n{failure}{result.stderr[-3000:]}"
    written = tmp_path / PACT_FILE.name
    assert written.exists(), f"npm test did not write {written}:\n{result.stdout[-3000:]}"
    drift = check_or_update(written, PACT_FILE)
    assert not drift, f"{PACT_FILE.name} differs from what the TypeScript consumer writes; {REFRESH}\n{drift}"


def test_typescript_pact_asks_for_the_states_of_the_python_pact() -> None:
    """The TypeScript pact uses the provider states, params, fixed ids and requests of the Python pact"""
    ours, theirs = _contract_of(PACT_FILE), _contract_of(PYTHON_PACT)
    assert sorted(ours) == sorted(theirs), "the two Candybar pacts describe different interactions"
    different = [name for name in ours if ours[name] != theirs[name]]
    assert not different, f"states or requests differ from {PYTHON_PACT.name}: {different}"
