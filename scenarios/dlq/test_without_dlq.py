"""Failure handling checked with as little as possible: raw injection, the read API, the queue depth.

The DLQ checks need a dead-letter exchange to tap. These do not: a Candystore without a DLQ, or one whose
DLQ is reached another way, is still checked for what matters most — an invalid envelope must never become
readable, a poison message must not vanish, and a second publish of an event_id with another body must not
be reported "published" and then thrown away.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from harness.probes import DeadLetterTap
from holyfields import make_envelope, registry, sample_payload

pytestmark = pytest.mark.dlq


def _barrier(inject: Any, candystore: Any) -> None:
    """A valid event injected behind the others and stored: what came before it has been handled (FIFO)."""
    marker = make_envelope(
        "n8n.workflow.completed.v1", source={"host": "harness", "type": "system", "app": "harness-barrier"}
    )
    inject(json.dumps(marker).encode(), marker["event_type"], message_id=marker["event_id"])
    candystore.wait_stored(marker["event_id"], timeout=30)


def _invalid_but_storable() -> dict[str, dict[str, Any]]:
    """Envelopes that break the schema in ways a store without validation would keep (valid uuids)."""
    payload = sample_payload("github.pr.opened.v1")
    missing = registry().payload_schema("github.pr.opened.v1")["required"][0]
    cases = {
        f"payload without its required {missing!r}": make_envelope(
            "github.pr.opened.v1", payload={k: v for k, v in payload.items() if k != missing}
        ),
        "version not semver": make_envelope("github.pr.opened.v1", version="latest"),
        "source without type": make_envelope(
            "github.pr.opened.v1", source={"host": "harness", "app": "harness-intake"}
        ),
    }
    return cases


@pytest.mark.needs("inject", "read_by_id")
def test_invalid_envelopes_never_become_readable(inject: Any, candystore: Any) -> None:
    """Candystore stored envelopes that violate the schema (no validation at consume)."""
    cases = _invalid_but_storable()
    for envelope in cases.values():
        inject(json.dumps(envelope).encode(), envelope["event_type"], message_id=envelope["event_id"])
    _barrier(inject, candystore)
    readable = [
        f"{name} (event {envelope['event_id']}) is readable at by-id"
        for name, envelope in cases.items()
        if candystore.get_event(envelope["event_id"]).status_code == 200
    ]
    assert not readable, (
        f"{len(readable)} of {len(cases)} invalid envelopes were stored and served: " + "; ".join(readable)
    )


@pytest.mark.needs("inject", "read_by_id")
def test_poison_is_not_acknowledged_and_lost(
    inject: Any, candystore: Any, harness_capabilities: Any, amqp_channel: Any, topology: Any
) -> None:
    """Poison message acknowledged and lost: not stored, not in the queue, and no DLQ to hold it."""
    if harness_capabilities.get("dlq").ok:
        pytest.skip("the target has a DLQ: the DLQ checks follow each failed message into it")
    bodies = [f"harness poison {uuid.uuid4()}".encode(), b'{"event_id": "not-an-envelope"}']
    for body in bodies:
        inject(body)
    _barrier(inject, candystore)
    depth = amqp_channel.queue_declare(topology.queue, passive=True).method.message_count
    assert depth >= len(bodies), (
        f"{len(bodies)} poison messages were acknowledged and lost: {topology.queue!r} holds {depth} "
        f"message(s) and there is no dead-letter exchange {topology.dlx!r} to keep them"
    )


@pytest.mark.needs("publish", "read_by_id")
def test_a_second_publish_with_another_body_is_not_silently_dropped(
    bloodbank: Any, candystore: Any, harness_capabilities: Any, amqp_url: str, topology: Any
) -> None:
    """Second publish of an event_id with another body reported published, then silently dropped."""
    first = make_envelope("agent.tool.invoked.v1")
    assert bloodbank.accepted(bloodbank.publish(first)), "the first publish was not accepted"
    candystore.wait_stored(first["event_id"])
    payload = dict(first["payload"])
    text_field = next(k for k, v in payload.items() if isinstance(v, str))
    payload[text_field] += " (second body)"
    second = {**first, "payload": payload}
    tap = DeadLetterTap(amqp_url, topology).start() if harness_capabilities.get("dlq").ok else None
    try:
        answer = bloodbank.publish(second)
        if not bloodbank.accepted(answer):
            return  # rejected at publish (e.g. 409): the caller was told
        stored = candystore.get_event(first["event_id"]).json()
        if stored.get("payload") == second["payload"]:
            return  # overwritten: the DLQ check of duplicates names that
        if tap is None:
            pytest.fail(
                f"the second publish of {first['event_id']} with another body was answered "
                f"{answer.status_code} (published) but is not stored and there is no DLQ: silently dropped",
                pytrace=False,
            )
        try:
            tap.wait_for(first["event_id"], timeout=15)
        except AssertionError:
            pytest.fail(
                f"the second publish of {first['event_id']} with another body was answered "
                f"{answer.status_code} (published), is not stored and never reached the DLQ "
                f"{topology.dlx!r}: silently dropped",
                pytrace=False,
            )
    finally:
        if tap is not None:
            tap.close()
