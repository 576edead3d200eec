"""The proof of the harness: a fast subset of the mutant gallery, each mutant's defect named, nothing else.

The full gallery (every mutant, all-at-once, the reference stack) is ``harness mutants``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.backends import Backend
from harness.config import Settings
from harness.mutants.gallery import MUTANTS, by_name
from harness.mutants.runner import judge, run_one, table_lines

pytestmark = [pytest.mark.internal, pytest.mark.integration]

FAST = [m for m in MUTANTS if m.fast]


def test_the_fast_subset_covers_a_read_side_a_publisher_and_a_consumer_defect() -> None:
    assert {m.name for m in FAST} >= {
        "session-filter-ignored",
        "parent-header-ignored",
        "no-validation-at-consume",
    }
    assert len(by_name()) >= 25, "the gallery lost mutants"


def test_judge_counts_unrelated_errors_as_false_positives_and_ignores_warnings() -> None:
    mutant = by_name()["parent-header-ignored"]
    findings = [
        {
            "title": "X-Parent-Event-Id ignored: correlation ids never populated from the header.",
            "detail": "",
        },
        {"title": "Trace of a chain incomplete", "detail": "edges missing", "severity": "error"},
        {"title": "Timestamp rewritten", "detail": "", "severity": "warning"},
    ]
    verdict = judge(mutant, findings)
    assert verdict["named"] and verdict["false_positives"] == ["Trace of a chain incomplete"]
    assert not judge(mutant, findings[1:])["named"]


@pytest.mark.parametrize("mutant", FAST, ids=lambda m: m.name)
def test_each_fast_mutant_is_named_without_false_positives(
    mutant: Any, backend: Backend, harness_settings: Settings, tmp_path: Path
) -> None:
    """A mutant's defect is named by a finding, and no other error finding is reported"""
    index = 100 + FAST.index(mutant)
    row = run_one(mutant, index, backend, harness_settings, tmp_path, progress=lambda _: None)
    table = "\n".join(table_lines({"rows": [row], "score": None}))
    assert row["named"], f"{mutant.name}: its defect ({mutant.defect}) was not named\n{table}"
    assert not row["false_positives"], f"{mutant.name}: false positives\n{table}"
