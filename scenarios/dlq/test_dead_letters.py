"""Dead-letter capture for every reason: the reason header (or ``x-death``) and the original body, unchanged.

Bodies are injected raw into the main exchange, as a producer other than Bloodbank would send them, signed
with the run's key (except in the signature tests), and observed on the dead-letter exchange through a tap.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest

from harness.corpus import InvalidCase, invalid_envelopes
from harness.probes import sign
from holyfields import make_envelope
from scenarios import RAW_ROUTING_KEY, collect_dead_letters, names_path

pytestmark = pytest.mark.dlq

CORPUS = invalid_envelopes()


def _cases(prefixes: tuple[str, ...]) -> list[InvalidCase]:
    # Candystore stores well-formed envelopes of event types it does not know (SPEC §4: the payload is
    # validated when its schema is known); Bloodbank rejects them, tested elsewhere.
    return [c for c in CORPUS if c.name.startswith(prefixes) and c.rule != "unknown_event_type"]


def _routing_key(body: bytes) -> str:
    try:
        event_type = json.loads(body).get("event_type")
    except (ValueError, AttributeError):
        return RAW_ROUTING_KEY
    return (
        event_type if isinstance(event_type, str) and event_type.isascii() and event_type else RAW_ROUTING_KEY
    )


def _header(letter: Any, name: str) -> str:
    value = letter.headers.get(name)
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _check_corpus(
    inject: Any, tap: Any, settle: Any, cases: Iterable[InvalidCase], reason: str, defect: str
) -> None:
    sent = {inject(case.body, _routing_key(case.body)): case for case in cases}
    # Behind the barrier, everything sent before it has been handled: a letter still missing a few seconds
    # later was stored or lost, not slow. Without a working barrier, wait the full time.
    try:
        settle()
        grace = 5.0
    except AssertionError:
        grace = 30.0
    letters, missing = collect_dead_letters(
        tap, {mid: case.body for mid, case in sent.items()}, timeout=grace
    )
    problems = [f"{sent[mid].name}: never dead-lettered ({defect})" for mid in sorted(missing)]
    for mid, letter in letters.items():
        case = sent[mid]
        if letter.body != case.body:
            problems.append(f"{case.name}: dead-lettered body is not the original bytes")
        given = _header(letter, "x-dlq-reason")
        if not given:
            problems.append(
                f"{case.name}: dead-lettered without an x-dlq-reason header (reason {letter.reason})"
            )
        elif given != reason:
            problems.append(f"{case.name}: wrong dead-letter reason {given!r}, expected {reason!r}")
        detail = _header(letter, "x-dlq-detail")
        if not detail:
            problems.append(f"{case.name}: no x-dlq-detail saying what is wrong")
        elif case.path != "$" and not names_path(detail, case.path):
            problems.append(f"{case.name}: x-dlq-detail does not name {case.path}: {detail[:160]!r}")
    assert not problems, f"{len(problems)} problems in {len(sent)} dead letters:\n" + "\n".join(problems[:15])


def test_bad_json_is_dead_lettered(inject: Any, dlq_tap: Any, settle: Any) -> None:
    """Malformed JSON acknowledged and lost, or dead-lettered without json_invalid / the original bytes."""
    _check_corpus(
        inject, dlq_tap, settle, _cases(("json--",)), "json_invalid", "malformed JSON acknowledged and lost"
    )


def test_invalid_envelope_is_dead_lettered(inject: Any, dlq_tap: Any, settle: Any) -> None:
    """Invalid envelope stored or lost instead of dead-lettered as envelope_invalid."""
    cases = _cases(("envelope--", "body--"))
    _check_corpus(
        inject,
        dlq_tap,
        settle,
        cases,
        "envelope_invalid",
        "invalid envelope acknowledged and lost, or stored",
    )


def test_invalid_payload_is_dead_lettered(inject: Any, dlq_tap: Any, settle: Any) -> None:
    """Invalid payload stored or lost instead of dead-lettered as payload_invalid."""
    cases = _cases(("payload--",))
    _check_corpus(
        inject, dlq_tap, settle, cases, "payload_invalid", "invalid payload acknowledged and lost, or stored"
    )


def _valid_body() -> tuple[dict[str, Any], bytes]:
    envelope = make_envelope("github.pr.opened.v1")
    return envelope, json.dumps(envelope).encode()


def test_unsigned_message_is_dead_lettered(
    inject: Any, dlq_tap: Any, candystore: Any, signing_key: tuple[str, str]
) -> None:
    """Unsigned event accepted although signatures are required (no signature_invalid dead letter)."""
    envelope, body = _valid_body()
    inject(body, envelope["event_type"], signed=False, message_id=envelope["event_id"])
    letter = dlq_tap.wait_for(envelope["event_id"])
    assert _header(letter, "x-dlq-reason") == "signature_invalid", (
        f"unsigned event dead-lettered with reason {letter.reason!r}, expected signature_invalid"
    )
    assert letter.body == body, "dead-lettered body is not the original bytes"
    assert candystore.get_event(envelope["event_id"]).status_code == 404, "unsigned event accepted (stored)"


def test_badly_signed_message_is_dead_lettered(
    inject: Any, dlq_tap: Any, candystore: Any, signing_key: tuple[str, str]
) -> None:
    """Event with a wrong signature accepted (no signature_invalid dead letter)."""
    envelope, body = _valid_body()
    headers = {"x-signature": sign(body, "not-the-secret"), "x-signature-key-id": signing_key[0]}
    inject(body, envelope["event_type"], signed=False, message_id=envelope["event_id"], headers=headers)
    letter = dlq_tap.wait_for(envelope["event_id"])
    assert _header(letter, "x-dlq-reason") == "signature_invalid", (
        f"badly signed event dead-lettered with reason {letter.reason!r}, expected signature_invalid"
    )
    assert letter.body == body, "dead-lettered body is not the original bytes"
    assert candystore.get_event(envelope["event_id"]).status_code == 404, (
        "badly signed event accepted (stored)"
    )


def test_same_id_with_another_body_is_a_duplicate_conflict(
    inject: Any, dlq_tap: Any, candystore: Any
) -> None:
    """Same event_id with a different body overwrites, is stored twice, or is lost (no duplicate_conflict)."""
    envelope, body = _valid_body()
    inject(body, envelope["event_type"], message_id=envelope["event_id"])
    candystore.wait_stored(envelope["event_id"])
    forged = {**envelope, "payload": {**envelope["payload"], "title": "a different title"}}
    forged_body = json.dumps(forged).encode()
    forged_mid = inject(forged_body, envelope["event_type"])
    letter = dlq_tap.wait_for(lambda d: d.message_id == forged_mid or d.body == forged_body, timeout=20)
    assert _header(letter, "x-dlq-reason") == "duplicate_conflict", (
        f"conflicting duplicate dead-lettered with reason {letter.reason!r}, expected duplicate_conflict"
    )
    assert letter.body == forged_body, "dead-lettered body is not the original bytes"
    stored = candystore.get_event(envelope["event_id"]).json()
    assert stored.get("payload") == envelope["payload"], (
        "the first stored event was overwritten by a conflict"
    )


def test_identical_redelivery_is_neither_dead_lettered_nor_stored_twice(
    inject: Any, dlq_tap: Any, candystore: Any, settle: Any
) -> None:
    """Duplicate event_id stored twice, or counted as a failure (dead-lettered)."""
    envelope, body = _valid_body()
    for _ in range(3):
        inject(body, envelope["event_type"], message_id=envelope["event_id"])
    candystore.wait_stored(envelope["event_id"])
    settle()
    wrongly = [d for d in dlq_tap.letters if d.body == body]
    assert not wrongly, f"identical duplicate counted as a failure: dead-lettered as {wrongly[0].reason!r}"
    moment = datetime.fromisoformat(envelope["timestamp"].replace("Z", "+00:00"))
    until = (moment + timedelta(milliseconds=1)).isoformat()
    response = candystore.list_events(
        event_type=envelope["event_type"], since=envelope["timestamp"], until=until, limit=1000
    )
    assert response.status_code == 200, f"GET /events failed: {response.status_code} {response.text[:200]}"
    copies = [e for e in response.json()["events"] if e.get("event_id") == envelope["event_id"]]
    assert len(copies) == 1, f"duplicate event_id stored {len(copies)} times"


def test_valid_event_is_stored_and_not_dead_lettered(
    inject: Any, dlq_tap: Any, candystore: Any, settle: Any
) -> None:
    """Valid event dead-lettered (false positive) or not stored."""
    envelope, body = _valid_body()
    inject(body, envelope["event_type"], message_id=envelope["event_id"])
    candystore.wait_stored(envelope["event_id"])
    settle()
    wrongly = [d for d in dlq_tap.letters if d.body == body or d.message_id == envelope["event_id"]]
    assert not wrongly, f"valid event dead-lettered as {wrongly[0].reason!r} (false positive)"


@pytest.mark.internal
def test_a_message_failing_transiently_ends_as_retries_exhausted(
    inject: Any, dlq_tap: Any, candystore: Any, database_url: str
) -> None:
    """Transiently failing message retried forever or dropped (no retries_exhausted dead letter).

    A transaction of ours inserts the event's row and keeps it uncommitted, so the consumer's insert waits on
    the row lock; each wait is cancelled at once (``pg_cancel_backend``) while the database stays up, so every
    attempt fails quickly and transiently until the attempts are used up.
    """
    import psycopg

    envelope, body = _valid_body()
    stop = threading.Event()
    with psycopg.connect(database_url) as locker:
        locker.execute(
            'INSERT INTO events (event_id, event_type, "timestamp", version, source, payload, envelope,'
            " routing_key, raw_body) VALUES (%s, 'x.y.v1', now(), '1.0.0', '{}', '{}', '{}', '', '')",
            [envelope["event_id"]],
        )
        blocker = locker.info.backend_pid

        def cancel_waiters() -> None:
            with psycopg.connect(database_url, autocommit=True) as admin:
                while not stop.is_set():
                    admin.execute(
                        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                        " WHERE %s = ANY(pg_blocking_pids(pid))",
                        [blocker],
                    )
                    stop.wait(0.05)

        canceller = threading.Thread(target=cancel_waiters, name="cancel-lock-waiters", daemon=True)
        canceller.start()
        try:
            mid = inject(body, envelope["event_type"], message_id=envelope["event_id"])
            letter = dlq_tap.wait_for(mid, timeout=90)
        finally:
            stop.set()
            canceller.join(5)
            locker.rollback()
    assert _header(letter, "x-dlq-reason") == "retries_exhausted", (
        f"transiently failing event dead-lettered with reason {letter.reason!r}, expected retries_exhausted"
    )
    assert letter.body == body, "dead-lettered body is not the original bytes"
    assert candystore.get_event(envelope["event_id"]).status_code == 404


def _dedicated_queue(channel: Any, topology: Any, **arguments: Any) -> str:
    name = f"harness.dlq-probe.{uuid.uuid4()}"
    channel.queue_declare(
        name,
        durable=False,
        arguments={"x-dead-letter-exchange": topology.dlx, "x-expires": 120_000, **arguments},
    )
    return name


def _x_death(letter: Any) -> dict[str, Any]:
    deaths = letter.headers.get("x-death") or []
    assert deaths, f"broker dead letter without x-death header: headers {sorted(letter.headers)}"
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in dict(deaths[0]).items()}


def test_message_ttl_expiry_is_dead_lettered_with_x_death(
    amqp_channel: Any, topology: Any, raw_publisher: Any, dlq_tap: Any
) -> None:
    """Expired message lost instead of dead-lettered (x-death expired) with its original body."""
    queue = _dedicated_queue(amqp_channel, topology, **{"x-message-ttl": 100})
    try:
        envelope, body = _valid_body()
        raw_publisher.publish(body, queue, exchange="", message_id=envelope["event_id"])
        letter = dlq_tap.wait_for(envelope["event_id"], timeout=20)
        death = _x_death(letter)
        assert death.get("reason") == "expired", f"x-death reason {death.get('reason')!r}, expected 'expired'"
        assert death.get("queue") == queue, f"x-death names queue {death.get('queue')!r}, not {queue!r}"
        assert letter.body == body, "dead-lettered body is not the original bytes"
    finally:
        amqp_channel.queue_delete(queue)


def test_max_length_overflow_is_dead_lettered_with_x_death(
    amqp_channel: Any, topology: Any, raw_publisher: Any, dlq_tap: Any
) -> None:
    """Message pushed out of a full queue lost instead of dead-lettered (x-death maxlen) with its body."""
    queue = _dedicated_queue(amqp_channel, topology, **{"x-max-length": 2})
    try:
        sent = [_valid_body() for _ in range(3)]
        for envelope, body in sent:
            raw_publisher.publish(body, queue, exchange="", message_id=envelope["event_id"])
        oldest, body = sent[0]
        letter = dlq_tap.wait_for(oldest["event_id"], timeout=20)
        death = _x_death(letter)
        assert death.get("reason") == "maxlen", f"x-death reason {death.get('reason')!r}, expected 'maxlen'"
        assert letter.body == body, "dead-lettered body is not the original bytes"
        others = {e["event_id"] for e, _ in sent[1:]}
        assert not [d for d in dlq_tap.letters if d.event_id in others], (
            "messages within the limit dead-lettered"
        )
    finally:
        amqp_channel.queue_delete(queue)
