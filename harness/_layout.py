"""Where the suites and their data are: the repository root in a checkout, ``harness/_suites`` in a wheel.

The wheel carries ``contracts/``, ``scenarios/``, ``load/`` and ``fixtures/envelopes/`` under
``harness/_suites/`` (setup.py; docs/adr/0010-packaging.md). Both layouts have the same folders below the
root this function returns, so every path to a suite or a data file is ``suites_root() / ...``.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path


@cache
def suites_root() -> Path:
    """The folder holding ``contracts/``, ``scenarios/``, ``load/`` and ``fixtures/`` (put on ``sys.path``
    for a run, so ``from scenarios import ...`` inside the suites works in both layouts)."""
    package = Path(str(files("harness")))
    packaged = package / "_suites"
    return packaged if packaged.is_dir() else package.parent
