"""The fuzzing budget of the run: ``--fuzz-profile ci`` (default, bounded) or ``deep``."""

from __future__ import annotations

import pytest

#: examples per test and profile; ci >= 1,000 in total, deep >= 10,000 (docs/adr/0007-fuzzing-profile.md)
PROFILES: dict[str, dict[str, int]] = {
    "ci": {"valid": 500, "publish_invalid": 400, "raw_invalid": 300},
    "deep": {"valid": 5_000, "publish_invalid": 4_000, "raw_invalid": 3_000},
}


@pytest.fixture(scope="session")
def fuzz_budget(request: pytest.FixtureRequest) -> dict[str, int]:
    """Examples per fuzz test for the chosen profile."""
    return PROFILES[request.config.getoption("harness_fuzz_profile")]
