"""Committed pact files and their drift check.

Consumer tests write their pact to a temporary directory; :func:`pact_drift` compares it with the committed
file, ignoring what changes without a change of contract (the versions of the Pact libraries that wrote it).
``HARNESS_UPDATE_PACTS=1`` makes :func:`check_or_update` rewrite the committed file instead of failing.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from harness._layout import suites_root

#: the committed pact files
PACT_DIR = suites_root() / "contracts" / "pacts"

#: top-level ``metadata`` keys that name the writing library, not the contract
VOLATILE_METADATA = ("pactRust", "pactPython", "pact-js")

UPDATE_ENV = "HARNESS_UPDATE_PACTS"
REFRESH_HINT = (
    f"refresh with `{UPDATE_ENV}=1 .venv/bin/python -m pytest contracts/consumers` "
    "and commit contracts/pacts/"
)


def normalized(document: dict[str, Any]) -> dict[str, Any]:
    """The pact without volatile metadata."""
    data = json.loads(json.dumps(document))
    for key in VOLATILE_METADATA:
        data.get("metadata", {}).pop(key, None)
    return data


def _lines(document: dict[str, Any]) -> list[str]:
    return json.dumps(normalized(document), indent=2, sort_keys=True).splitlines(keepends=True)


def pact_drift(written: Path, committed: Path) -> str:
    """A unified diff (committed -> written) of the normalized pacts; empty when they agree."""
    if not committed.exists():
        return f"{committed} does not exist"
    new = json.loads(written.read_text())
    old = json.loads(committed.read_text())
    if normalized(new) == normalized(old):
        return ""
    diff = difflib.unified_diff(_lines(old), _lines(new), str(committed), str(written), n=2)
    return "".join(diff)


def check_or_update(written: Path, committed: Path) -> str:
    """The drift between the two files, or '' after copying ``written`` over ``committed`` when updating."""
    drift = pact_drift(written, committed)
    if drift and os.environ.get(UPDATE_ENV, "").lower() in ("1", "true", "yes"):
        committed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(written, committed)
        return ""
    return drift
