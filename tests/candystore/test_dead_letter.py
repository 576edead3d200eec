"""Permanent failures land in the DLQ byte-identical with a reason; duplicates are idempotent."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from .helpers import Deployment, dumps, envelope

pytestmark = [pytest.mark.integration, pytest.mark.dlq]


def test_bad_json_is_dead_lettered_byte_identical(deployment: Deployment) -> None:
    body = b'{"event_id": "not closed", \xff'
    message_id = str(uuid.uuid4())
    deployment.publish(
        body,
        routing_key="broken.json.v1",
        message_id=message_id,
        headers={"x-trace": "kept"},
        correlation_id="corr-1",
        app_id="tests",
    )
    (dead,) = deployment.dead_letters(1)
    assert dead.body == body
    assert dead.reason == "json_invalid"
    assert "UTF-8" in dead.headers["x-dlq-detail"] or "JSON" in dead.headers["x-dlq-detail"]
    assert dead.routing_key == deployment.topology.dlq_routing_key
    assert dead.headers["x-original-routing-key"] == "broken.json.v1"
    assert dead.headers["x-original-exchange"] == deployment.topology.exchange
    assert dead.headers["x-trace"] == "kept"
    props = dead.properties
    assert (
        props.message_id,
        props.correlation_id,
        props.app_id,
        props.content_type,
        props.delivery_mode,
    ) == (message_id, "corr-1", "tests", "application/json", 2)
    assert props.timestamp is not None


def test_invalid_envelope_is_dead_lettered_with_first_errors(deployment: Deployment) -> None:
    bad = envelope("github.pr.opened.v1", event_id="not-a-uuid", source="flattened-to-a-string")
    body = deployment.publish(bad, message_id=str(uuid.uuid4()))
    (dead,) = deployment.dead_letters(1)
    assert dead.body == body
    assert dead.reason == "envelope_invalid"
    assert "$.event_id" in dead.headers["x-dlq-detail"]
    assert "$.source" in dead.headers["x-dlq-detail"]


def test_invalid_payload_is_dead_lettered(deployment: Deployment) -> None:
    bad = envelope(
        "github.pr.opened.v1",
        payload={"repo_owner": "o", "repo_name": "r", "pr_number": 0, "title": "t", "author": "a"},
    )
    body = deployment.publish(bad)
    (dead,) = deployment.dead_letters(1)
    assert (dead.body, dead.reason) == (body, "payload_invalid")
    assert "$.payload.pr_number" in dead.headers["x-dlq-detail"]
    assert deployment.stored_count([bad["event_id"]]) == 0


def test_non_object_json_is_an_invalid_envelope(deployment: Deployment) -> None:
    deployment.publish(b"[1, 2, 3]", routing_key="array.body.v1")
    (dead,) = deployment.dead_letters(1)
    assert (dead.body, dead.reason) == (b"[1, 2, 3]", "envelope_invalid")


def test_unknown_event_type_with_valid_envelope_is_stored(deployment: Deployment) -> None:
    event = envelope("acme.widget.spun.v3", payload={"anything": [1, {"goes": True}]})
    deployment.publish(event)
    deployment.wait_stored([event["event_id"]])
    assert deployment.get(f"/events/{event['event_id']}").json()["payload"] == event["payload"]


def test_redelivery_of_a_stored_event_is_acknowledged_without_a_second_row(deployment: Deployment) -> None:
    event = envelope("github.pr.opened.v1")
    deployment.publish(event)
    deployment.wait_stored([event["event_id"]])
    deployment.publish(event)  # identical bytes
    deployment.publish(json.dumps(event, indent=2).encode(), routing_key=event["event_type"])  # same document
    deployment.wait_drained()
    assert deployment.stored_count([event["event_id"]]) == 1
    assert deployment.queue_depth(deployment.topology.dlq) == 0
    body = deployment.sql("SELECT raw_body FROM events WHERE event_id = %s", [event["event_id"]])[0][0]
    assert bytes(body) == dumps(event)  # the first body stays


def test_same_id_twice_in_one_batch_is_stored_once(deployment: Deployment) -> None:
    event = envelope("github.pr.opened.v1")
    for _ in range(5):
        deployment.publish(event)
    deployment.wait_stored([event["event_id"]])
    deployment.wait_drained()
    assert deployment.stored_count([event["event_id"]]) == 1
    assert deployment.queue_depth(deployment.topology.dlq) == 0


def test_same_id_with_a_different_body_is_a_duplicate_conflict(deployment: Deployment) -> None:
    event = envelope("github.pr.opened.v1")
    deployment.publish(event)
    deployment.wait_stored([event["event_id"]])
    forged = {**event, "payload": {**event["payload"], "title": "something else"}}
    body = deployment.publish(forged)
    (dead,) = deployment.dead_letters(1)
    assert (dead.body, dead.reason) == (body, "duplicate_conflict")
    assert event["event_id"] in dead.headers["x-dlq-detail"]
    stored = deployment.get(f"/events/{event['event_id']}").json()
    assert stored["payload"]["title"] == event["payload"]["title"]


def test_retry_differing_only_in_fields_the_producer_filled_is_a_duplicate(deployment: Deployment) -> None:
    """ADR 0030: fields named in ``x-filled-fields`` are left out of the comparison with the stored event."""
    event = envelope("github.pr.opened.v1", trace_context={"trace_id": "1" * 32, "span_id": "1" * 16})
    deployment.publish(event, headers={"x-filled-fields": "timestamp,trace_context"})
    deployment.wait_stored([event["event_id"]])
    retry = {
        **event,
        "timestamp": "2030-01-01T00:00:00Z",
        "trace_context": {"trace_id": "2" * 32, "span_id": "2" * 16},
    }
    deployment.publish(retry, headers={"x-filled-fields": "timestamp,trace_context"})
    # the same retry without the header, behind it in the queue, is a conflict: once it is dead-lettered,
    # the first retry has been handled
    without = deployment.publish({**retry, "source": {**retry["source"], "app": "other"}})
    (dead,) = deployment.dead_letters(1)
    assert (dead.body, dead.reason) == (without, "duplicate_conflict")
    stored = deployment.get(f"/events/{event['event_id']}").json()
    assert stored["timestamp"] == event["timestamp"] and stored["trace_context"] == event["trace_context"]
    assert deployment.stored_count([event["event_id"]]) == 1


def test_x_filled_fields_never_hides_a_client_field(deployment: Deployment) -> None:
    """Only timestamp, version, source and trace_context can be named: naming payload changes nothing."""
    event = envelope("github.pr.opened.v1")
    deployment.publish(event)
    deployment.wait_stored([event["event_id"]])
    forged = {**event, "payload": {**event["payload"], "title": "something else"}}
    body = deployment.publish(forged, headers={"x-filled-fields": "payload, trace_context"})
    (dead,) = deployment.dead_letters(1)
    assert (dead.body, dead.reason) == (body, "duplicate_conflict")


def test_conflict_inside_one_batch(deployment: Deployment) -> None:
    first = envelope("github.pr.opened.v1")
    second = {**first, "payload": {**first["payload"], "title": "other"}}
    deployment.publish(first)
    body = deployment.publish(second)
    (dead,) = deployment.dead_letters(1)
    assert (dead.body, dead.reason) == (body, "duplicate_conflict")
    assert deployment.stored_count([first["event_id"]]) == 1


def test_bad_messages_do_not_block_their_batch(deployment: Deployment) -> None:
    good = [envelope("github.pr.opened.v1") for _ in range(30)]
    for index, event in enumerate(good):
        deployment.publish(event)
        if index % 10 == 0:
            deployment.publish(b"not json", routing_key="x.y.v1")
    deployment.wait_stored([e["event_id"] for e in good])
    dead = deployment.dead_letters(3)
    assert {d.reason for d in dead} == {"json_invalid"}
    deployment.wait_drained()


@pytest.mark.internal
@pytest.mark.fault
def test_a_message_failing_transiently_goes_to_the_dlq_after_bounded_attempts(deployment_factory) -> None:
    """A row lock held by another transaction makes one insert time out again and again."""
    dep: Deployment = deployment_factory(
        CANDYSTORE_MAX_TRANSIENT_ATTEMPTS="3",
        CANDYSTORE_DB_TIMEOUT_MS="300",
        CANDYSTORE_BACKOFF_INITIAL_MS="20",
        CANDYSTORE_BACKOFF_MAX_MS="100",
    )
    blocked = envelope("github.pr.opened.v1")
    others = [envelope("github.pr.opened.v1") for _ in range(5)]
    with psycopg.connect(dep.database_url) as locker:
        locker.execute(
            'INSERT INTO events (event_id, event_type, "timestamp", version, source, payload, envelope,'
            " routing_key, raw_body) VALUES (%s, 'x.y.v1', now(), '1.0.0', '{}', '{}', '{}', '', '')",
            [blocked["event_id"]],
        )
        body = dep.publish(blocked)
        for event in others:
            dep.publish(event)
        (dead,) = dep.dead_letters(1, timeout=30)
        assert (dead.body, dead.reason) == (body, "retries_exhausted")
        assert "3 times" in dead.headers["x-dlq-detail"]
        dep.wait_stored([e["event_id"] for e in others])
        locker.rollback()
    assert dep.stored_count([blocked["event_id"]]) == 0
    metrics = dep.get("/metrics").text
    assert 'candystore_events_dead_lettered_total{reason="retries_exhausted"} 1.0' in metrics
