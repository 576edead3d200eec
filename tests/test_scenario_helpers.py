"""The shared helpers of the scenario suites: how a stored envelope's differences are worded."""

from __future__ import annotations

import warnings

from harness.report import TargetWarning
from scenarios import field_differences


def test_a_timestamp_rewritten_to_the_same_instant_is_a_warning_not_a_defect() -> None:
    sent = {"event_id": "e", "timestamp": "2025-01-15T09:30:00.123456+00:00"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problems = field_differences(sent, {**sent, "timestamp": "2025-01-15T09:30:00.123456Z"})
    assert problems == []
    assert [type(w.message) for w in caught] == [TargetWarning]
    assert "same instant" in caught[0].message.title


def test_a_timestamp_moved_to_another_instant_is_a_defect() -> None:
    sent = {"event_id": "e", "timestamp": "2025-01-15T09:30:00Z"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problems = field_differences(sent, {**sent, "timestamp": "2025-01-15T10:30:00Z"})
    assert problems and "timestamp" in problems[0] and "changed" in problems[0]
    assert not caught
