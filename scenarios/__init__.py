"""Black-box scenario suites: end-to-end, correlation, DLQ capture, fuzzing, security (and faults).

They talk to the services only through HTTP, AMQP and the run's database, with broker names from the
``topology`` fixture, so they run unchanged against an external implementation. The helpers below are
plain functions shared by the suites; the fixtures built on them live in ``scenarios/conftest.py``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from harness.report import TargetWarning

__all__ = [
    "RAW_ROUTING_KEY",
    "collect_dead_letters",
    "describe_differences",
    "fetch_stored",
    "field_differences",
    "names_path",
]

#: routing key of raw bodies that are not envelopes (the Candystore queue is bound with ``#``)
RAW_ROUTING_KEY = "harness.raw.v1"
#: fields an event store adds to what was published (SPEC §4: the envelope + ``stored_at``)
STORE_ADDS = frozenset({"stored_at"})


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_differences(
    sent: Mapping[str, Any], stored: Mapping[str, Any], *, may_add: Iterable[str] = ()
) -> list[str]:
    """What storage changed in an envelope, each worded as the defect it is (``[]`` when identical).

    Every published field must come back equal (unknown extras included); the store may add ``stored_at``
    and the fields in ``may_add`` (e.g. ``trace_context`` that Bloodbank fills in), nothing else.
    """
    problems: list[str] = []
    for key, value in sent.items():
        if key not in stored:
            if key == "event_id" and "id" in stored:
                problems.append("event_id renamed to id in storage")
            else:
                problems.append(f"field {key!r} dropped in storage")
            continue
        got = stored[key]
        if got == value and type(got) is type(value):
            continue
        if key == "timestamp" and _same_instant(value, got):
            warnings.warn(
                TargetWarning(
                    "Timestamp rewritten to the same instant in storage (legal, but not the bytes sent)",
                    f"published {value!r}, stored {got!r}: clients comparing strings will see a change",
                ),
                stacklevel=2,
            )
            continue
        if key == "source" and isinstance(value, dict) and isinstance(got, str):
            problems.append(f"source flattened to a string in storage ({_short(got)})")
        elif key == "correlation_ids" and isinstance(value, list) and not isinstance(got, list):
            problems.append(f"correlation_ids reduced to one id in storage ({_short(got)})")
        elif key == "correlation_ids" and isinstance(got, list) and len(got) < len(value):
            problems.append(f"correlation_ids reduced from {len(value)} to {len(got)} ids in storage")
        else:
            problems.append(f"field {key!r} changed in storage: published {_short(value)}, got {_short(got)}")
    allowed = STORE_ADDS | set(may_add)
    added = sorted(set(stored) - set(sent) - allowed)
    if added and problems:
        problems.append(f"fields that were never published appeared: {added} (renamed?)")
    return problems


def _same_instant(sent: Any, got: Any) -> bool:
    """True when two RFC 3339 timestamps are written differently but name the same instant."""
    if not (isinstance(sent, str) and isinstance(got, str)):
        return False
    try:
        a = datetime.fromisoformat(sent.replace("Z", "+00:00"))
        b = datetime.fromisoformat(got.replace("Z", "+00:00"))
    except ValueError:
        return False
    return a.tzinfo is not None and b.tzinfo is not None and a == b


def describe_differences(failures: Mapping[str, list[str]], limit: int = 5) -> str:
    """``event id: problem; problem`` lines for the first ``limit`` failing events."""
    lines = [f"{eid}: {'; '.join(problems)}" for eid, problems in list(failures.items())[:limit]]
    more = len(failures) - limit
    return "\n".join(lines + ([f"... and {more} more"] if more > 0 else []))


def fetch_stored(
    candystore: Any, event_ids: Iterable[str], *, timeout: float = 30.0, workers: int = 4
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """``GET /events/{id}`` for every id until each answers 200 or the deadline passes.

    Returns ``(found, missing)``; polling in rounds (bounded), never one wait per event.
    """
    pending = list(dict.fromkeys(event_ids))
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout

    def one(event_id: str) -> tuple[str, dict[str, Any] | None]:
        response = candystore.get_event(event_id)
        return event_id, response.json() if response.status_code == 200 else None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        while pending:
            for event_id, event in pool.map(one, pending):
                if event is not None:
                    found[event_id] = event
            pending = [eid for eid in pending if eid not in found]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    return found, set(pending)


def collect_dead_letters(
    tap: Any, keys: Mapping[str, bytes], *, timeout: float = 30.0
) -> tuple[dict[str, Any], set[str]]:
    """Wait for the dead letters of many injected messages at once.

    ``keys`` maps each message id to the body that was sent; a letter matches by message id, else by its
    body (an implementation that drops the message id still shows the original bytes). Returns
    ``(letters by message id, message ids never dead-lettered)``.
    """
    by_body = {body: mid for mid, body in keys.items()}
    got: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        letters = tap.letters
        for letter in letters[seen:]:
            mid = letter.message_id if letter.message_id in keys else by_body.get(letter.body)
            if mid is not None and mid not in got:
                got[mid] = letter
        seen = len(letters)
        if len(got) == len(keys) or time.monotonic() >= deadline:
            return got, set(keys) - set(got)
        time.sleep(0.05)


def names_path(text: str, path: str) -> bool:
    """True when an error text names ``path`` (``$.payload.title``): the JSONPath itself, or each of its
    field names (implementations spell paths differently: ``payload.title``, ``/payload/title``)."""
    if path in text:
        return True
    parts = [p for p in path.lstrip("$").replace("[", ".").replace("]", "").split(".") if p]
    parts = [p for p in parts if not p.isdigit()]
    return bool(parts) and all(p in text for p in parts)
