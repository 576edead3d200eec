"""The publisher library against the real broker: topology, message properties, signing, confirms,
unroutable events, nacks, batches."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from harness.backends import Backend
from holyfields import make_envelope
from holyfields.topology import Topology
from reference_impl.bloodbank import (
    BrokerUnavailable,
    InvalidEnvelope,
    Publisher,
    PublishResult,
    RetriesExhausted,
    RetryConfig,
    Signer,
    Unroutable,
)

from .helpers import Tap, open_connection

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

FAST_RETRY = RetryConfig(retries=2, base_delay=0.01, max_delay=0.05)


def _publisher(backend: Backend, topology: Topology, **kwargs: Any) -> Publisher:
    kwargs.setdefault("retry", FAST_RETRY)
    return Publisher(backend.amqp_url, topology, **kwargs)


async def test_topology_is_declared_idempotently_without_the_candystore_queue(
    backend: Backend, isolated: Topology
) -> None:
    async with _publisher(backend, isolated) as first, _publisher(backend, isolated) as second:
        assert first.ready and second.ready
    connection = open_connection(backend.amqp_url)
    try:
        channel = connection.channel()
        channel.exchange_declare(isolated.exchange, "topic", durable=True, passive=True)
        channel.exchange_declare(isolated.dlx, "topic", durable=True, passive=True)
        channel.queue_declare(isolated.dlq, durable=True, passive=True)
        # dlq.all is bound to the DLX with '#': anything dead-lettered lands there
        channel.confirm_delivery()
        channel.basic_publish(isolated.dlx, "dlq.anything", b"x", mandatory=True)
        assert channel.queue_declare(isolated.dlq, passive=True).method.message_count == 1
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="NOT_FOUND"):
            channel.queue_declare(isolated.queue, passive=True)  # Candystore's to declare
    finally:
        connection.close()


async def test_an_existing_dlq_with_other_arguments_is_accepted(backend: Backend, isolated: Topology) -> None:
    connection = open_connection(backend.amqp_url)
    connection.channel().queue_declare(isolated.dlq, durable=True, arguments={"x-max-length": 5})
    connection.close()
    async with _publisher(backend, isolated) as publisher:
        assert publisher.ready


async def test_message_properties_headers_and_routing_key(
    backend: Backend, isolated: Topology, tap: Tap
) -> None:
    envelope = make_envelope("github.pr.opened.v1")
    before = int(time.time())
    async with _publisher(backend, isolated) as publisher:
        result = await publisher.publish(envelope)
    assert result == PublishResult(
        envelope["event_id"], "github.pr.opened.v1", "github.pr.opened.v1", 1, result.seconds
    )
    (message,) = tap.take(1)
    assert message.exchange == isolated.exchange
    assert message.routing_key == "github.pr.opened.v1"
    props = message.properties
    assert props.delivery_mode == 2
    assert props.message_id == envelope["event_id"]
    assert props.content_type == "application/json"
    assert before <= props.timestamp <= int(time.time())
    # no signing key configured: no signature headers; the publisher filled trace_context (ADR 0030)
    assert message.headers == {"x-filled-fields": "trace_context"}
    received = message.envelope
    trace_context = received.pop("trace_context")
    assert received == envelope  # everything else byte-for-byte what the caller gave
    assert len(trace_context["trace_id"]) == 32 and len(trace_context["span_id"]) == 16


async def test_signed_with_the_active_key_over_the_exact_body(
    backend: Backend, isolated: Topology, tap: Tap
) -> None:
    signer = Signer.from_spec("old:s3cret,new:n3w", active_key_id="new")
    async with _publisher(backend, isolated, signer=signer) as publisher:
        await publisher.publish(make_envelope())
    (message,) = tap.take(1)
    expected = hmac.new(b"n3w", message.body, hashlib.sha256).hexdigest()
    assert message.headers == {
        "x-signature": f"sha256={expected}",
        "x-signature-key-id": "new",
        "x-filled-fields": "trace_context",
    }
    assert signer.verify(message.body, message.headers)
    assert not signer.verify(message.body.replace(b"}", b" }", 1), message.headers)


async def test_trace_context_follows_the_publish_span(backend: Backend, isolated: Topology, tap: Tap) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with _publisher(backend, isolated, tracer=provider.get_tracer("test")) as publisher:
        await publisher.publish(make_envelope())
        given = make_envelope(trace_context={"trace_id": "a" * 32, "span_id": "b" * 16, "trace_flags": "01"})
        await publisher.publish(given)
    first, second = tap.take(2)
    (span, _) = exporter.get_finished_spans()
    assert first.envelope["trace_context"] == {
        "trace_id": f"{span.context.trace_id:032x}",
        "span_id": f"{span.context.span_id:016x}",
        "trace_flags": f"{int(span.context.trace_flags):02x}",
    }
    assert span.context.trace_flags.sampled
    assert span.attributes["messaging.message.id"] == first.envelope["event_id"]
    assert second.envelope["trace_context"] == given["trace_context"]  # the caller's value wins


async def test_unroutable_event_is_an_error_not_a_silent_drop(backend: Backend, isolated: Topology) -> None:
    async with _publisher(backend, isolated) as publisher:
        envelope = make_envelope()
        with pytest.raises(Unroutable, match="unroutable: no queue is bound") as caught:
            await publisher.publish(envelope)
        assert caught.value.event_id == envelope["event_id"]
        assert caught.value.attempts == 1  # not retried: nothing transient about it
        assert publisher.retries_total == 0
        assert publisher.ready  # the channel survives a returned message


async def test_invalid_envelopes_are_refused_before_the_broker(
    backend: Backend, isolated: Topology, tap: Tap
) -> None:
    async with _publisher(backend, isolated) as publisher:
        with pytest.raises(InvalidEnvelope, match=r"\$.event_id: 'nope' is not a valid uuid") as caught:
            await publisher.publish(make_envelope(event_id="nope"))
        assert [issue.path for issue in caught.value.issues] == ["$.event_id"]
        with pytest.raises(InvalidEnvelope, match="needs string `event_id` and `event_type`"):
            await publisher.publish({"payload": {}})
    assert tap.count() == 0


async def test_a_nack_is_retried_then_reported(
    backend: Backend, isolated: Topology, tap_factory: Callable[..., Tap]
) -> None:
    # a full queue with overflow=reject-publish makes the broker nack: a real transient refusal
    full = tap_factory(isolated.exchange, "#", **{"x-max-length": 1, "x-overflow": "reject-publish"})
    envelope = make_envelope()
    retried: list[tuple[str, int]] = []

    def drain_on_second_retry(event_id: str, attempt: int, error: BaseException, delay: float) -> None:
        retried.append((event_id, attempt))
        if event_id == envelope["event_id"] and attempt == 2:
            full.take(1)  # room again: the next attempt is accepted

    async with _publisher(backend, isolated, on_retry=drain_on_second_retry) as publisher:
        await publisher.publish(make_envelope())
        result = await publisher.publish(envelope)
        assert result.attempts == 3
        assert retried == [(envelope["event_id"], 1), (envelope["event_id"], 2)]
        with pytest.raises(RetriesExhausted, match=r"after 3 attempt\(s\); last error: the broker refused"):
            await publisher.publish(make_envelope())
    assert full.take(1)[0].envelope["event_id"] == envelope["event_id"]


async def test_batch_is_pipelined_with_one_outcome_per_event(
    backend: Backend, isolated: Topology, tap_factory: Callable[..., Tap]
) -> None:
    tap = tap_factory(isolated.exchange, "github.#")  # only github events are routable
    envelopes = [make_envelope("github.pr.opened.v1") for _ in range(300)]
    envelopes[10] = make_envelope("n8n.workflow.completed.v1")
    envelopes[20] = make_envelope("github.pr.opened.v1", event_id="bad")
    async with _publisher(backend, isolated) as publisher:
        outcomes = await publisher.publish_many(envelopes)
    assert len(outcomes) == 300
    assert isinstance(outcomes[10], Unroutable)
    assert isinstance(outcomes[20], InvalidEnvelope)
    published = [o for o in outcomes if isinstance(o, PublishResult)]
    assert [o.event_id for o in published] == [
        e["event_id"] for i, e in enumerate(envelopes) if i not in (10, 20)
    ]
    received = tap.take(298)
    assert [m.properties.message_id for m in received] == [o.event_id for o in published]
    trace_ids = {m.envelope["trace_context"]["trace_id"] for m in received}
    assert len(trace_ids) == 1  # one span for the batch


async def test_connect_fails_clearly_when_nothing_listens(isolated: Topology) -> None:
    from harness.backends import free_port

    publisher = Publisher(f"amqp://guest:guest@127.0.0.1:{free_port()}/", isolated, retry=FAST_RETRY)
    try:
        with pytest.raises(BrokerUnavailable, match=r"cannot connect to the broker at amqp://guest:\*\*\*@"):
            await publisher.connect()
        assert not publisher.ready
        with pytest.raises(RetriesExhausted, match="not confirmed by the broker after 3 attempt"):
            await publisher.publish(make_envelope())
    finally:
        await publisher.close()


async def test_publish_before_connect_says_so(isolated: Topology) -> None:
    publisher = Publisher("amqp://guest:guest@127.0.0.1:1/", isolated, retry=RetryConfig(0))
    with pytest.raises(RetriesExhausted, match=r"call `await publisher.connect\(\)` first"):
        await publisher.publish(make_envelope())
