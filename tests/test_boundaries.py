"""Package boundaries: the service under test never shares the verifier's code.

``holyfields`` (schemas, validator, topology names) is imported by both sides; ``reference_impl`` never
imports ``harness``, and ``holyfields`` imports neither of them. A validator bug can then no longer make
the harness and the reference services agree with each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package -> top-level packages it must never import
FORBIDDEN = {
    "reference_impl": {"harness", "scenarios", "contracts", "load", "tests", "bench"},
    "holyfields": {"harness", "reference_impl", "scenarios", "contracts", "load", "tests", "bench"},
}


def imported_roots(path: Path) -> set[tuple[str, int]]:
    """Top-level package names a module imports (absolute imports only), with the line of each import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def violations(package: str) -> list[str]:
    forbidden = FORBIDDEN[package]
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name, line in sorted(imported_roots(path)):
            if name in forbidden:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_inside_its_boundary(package: str) -> None:
    assert violations(package) == [], f"{package} must not import {sorted(FORBIDDEN[package])}"


def test_both_sides_import_holyfields() -> None:
    for package in ("harness", "reference_impl"):
        roots = {name for path in (ROOT / package).rglob("*.py") for name, _ in imported_roots(path)}
        assert "holyfields" in roots, f"{package} should take its schemas and topology from holyfields"


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom harness.schemas import registry\n", encoding="utf-8")
    assert ("harness", 2) in imported_roots(module)
