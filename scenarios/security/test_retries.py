"""Client retries of the same envelope through Bloodbank (SPEC §3 "Idempotent publish", §6).

A client that re-POSTs an envelope after a timeout or an error sends the same event_id and the same fields it
chose; the fields Bloodbank fills in (timestamp, version, source, trace_context) differ from one attempt to
the next. Such a retry must be stored once and never dead-lettered; only a different client body under the
same event_id is a ``duplicate_conflict``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest

from holyfields import make_envelope, sample_payload

pytestmark = pytest.mark.security

EVENT_TYPE = "github.pr.opened.v1"


def _letters_of(dlq_tap: Any, event_id: str) -> list[Any]:
    return [d for d in dlq_tap.letters if event_id in (d.event_id, d.message_id)]


def _retry(bloodbank: Any, body: dict[str, Any], attempts: int = 3) -> None:
    for attempt in range(1, attempts + 1):
        response = bloodbank.publish(body)
        assert response.status_code == 202, (
            f"attempt {attempt} of the same envelope answered {response.status_code}, expected 202: "
            f"{response.text[:300]}"
        )


def _assert_stored_once_and_not_dead_lettered(
    candystore: Any, dlq_tap: Any, settle: Callable[[], None], body: dict[str, Any]
) -> None:
    event_id = body["event_id"]
    candystore.wait_stored(event_id)
    settle()  # every attempt has been handled by now
    wrongly = _letters_of(dlq_tap, event_id)
    assert not wrongly, (
        f"a retry of the same envelope counted as a failure: dead-lettered as {wrongly[0].reason!r}"
    )
    stored = candystore.get_event(event_id).json()
    for name, value in body.items():
        assert stored.get(name) == value, f"stored {name} differs from what the client sent"
    moment = datetime.fromisoformat(stored["timestamp"].replace("Z", "+00:00"))
    until = (moment + timedelta(milliseconds=1)).isoformat()
    page = candystore.list_events(
        event_type=body["event_type"], since=stored["timestamp"], until=until, limit=1000
    )
    assert page.status_code == 200, f"GET /events failed: {page.status_code} {page.text[:200]}"
    copies = [e for e in page.json()["events"] if e.get("event_id") == event_id]
    assert len(copies) == 1, f"a retried event_id is listed {len(copies)} times"


def test_retry_of_a_full_envelope_is_stored_once(
    bloodbank: Any, candystore: Any, dlq_tap: Any, settle: Callable[[], None]
) -> None:
    """A re-POSTed envelope (Bloodbank fills trace_context anew) is dead-lettered as a duplicate_conflict."""
    body = make_envelope(EVENT_TYPE, source={"host": "harness", "type": "manual", "app": "harness-retries"})
    body.pop("trace_context", None)
    _retry(bloodbank, body)
    _assert_stored_once_and_not_dead_lettered(candystore, dlq_tap, settle, body)


def test_retry_of_a_partial_envelope_is_stored_once(
    bloodbank: Any, candystore: Any, dlq_tap: Any, settle: Callable[[], None]
) -> None:
    """A re-POSTed partial envelope (timestamp, version, source, trace_context filled anew) is a conflict."""
    body = {"event_id": str(uuid.uuid4()), "event_type": EVENT_TYPE, "payload": sample_payload(EVENT_TYPE)}
    _retry(bloodbank, body)
    _assert_stored_once_and_not_dead_lettered(candystore, dlq_tap, settle, body)


@pytest.mark.parametrize("partial", [False, True], ids=["full", "partial"])
def test_another_payload_under_the_same_id_is_still_a_conflict(
    bloodbank: Any, candystore: Any, dlq_tap: Any, partial: bool
) -> None:
    """A different client body under a stored event_id is accepted silently (no duplicate_conflict)."""
    if partial:
        body = {
            "event_id": str(uuid.uuid4()),
            "event_type": EVENT_TYPE,
            "payload": sample_payload(EVENT_TYPE),
        }
    else:
        body = make_envelope(EVENT_TYPE)
        body.pop("trace_context", None)
    _retry(bloodbank, body, attempts=1)
    candystore.wait_stored(body["event_id"])
    other = {**body, "payload": {**body["payload"], "title": "a different title"}}
    _retry(bloodbank, other, attempts=1)
    letter = dlq_tap.wait_for(body["event_id"], timeout=20)
    reason = letter.headers.get("x-dlq-reason")
    reason = reason.decode() if isinstance(reason, bytes) else reason
    assert reason == "duplicate_conflict", (
        f"a different payload under the same event_id dead-lettered as {reason!r}, "
        "expected duplicate_conflict"
    )
    stored = candystore.get_event(body["event_id"]).json()
    assert stored["payload"] == body["payload"], "the stored event was overwritten by a conflicting body"


def test_concurrent_and_batched_retries_of_one_envelope_are_stored_once(
    bloodbank: Any, candystore: Any, dlq_tap: Any, settle: Callable[[], None]
) -> None:
    """The same envelope sent at once on several connections (a client retrying before the first answer) and
    again inside a batch (a client re-sending a whole batch) is stored twice or dead-lettered."""
    body = make_envelope(EVENT_TYPE, source={"host": "harness", "type": "manual", "app": "harness-retries"})
    body.pop("trace_context", None)
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: bloodbank.publish(body), range(4)))
    statuses = [r.status_code for r in responses]
    assert all(bloodbank.accepted(r) for r in responses), (
        f"concurrent sends of the same envelope answered {statuses}, expected {bloodbank.success_statuses}"
    )
    batch = bloodbank.publish_batch([body, make_envelope(EVENT_TYPE)])
    assert bloodbank.accepted(batch), (
        f"a batch repeating a published envelope answered {batch.status_code}, expected "
        f"{bloodbank.success_statuses}: {batch.text[:300]}"
    )
    _assert_stored_once_and_not_dead_lettered(candystore, dlq_tap, settle, body)
