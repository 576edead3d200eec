"""POST /events and the read endpoints, in process (TestClient) against the real broker: every status code
with its message, completion, correlation and trace headers, metrics."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from harness.backends import free_port
from holyfields import make_envelope, registry, sample_payload
from reference_impl.bloodbank import Signer

from .helpers import Tap

pytestmark = pytest.mark.integration

Factory = Callable[..., TestClient]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric line {line_start!r}")


# --- 202 -------------------------------------------------------------------------------------------------
def test_partial_event_is_completed_published_and_confirmed(client_factory: Factory, tap: Tap) -> None:
    signer = Signer.from_spec("k1:one,k2:two", active_key_id="k2")
    client = client_factory(signer=signer)
    parents = [str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())]
    payload = sample_payload("agent.thread.prompt.v1")
    response = client.post(
        "/events",
        json={"event_type": "agent.thread.prompt.v1", "payload": payload},
        headers=[
            ("X-Parent-Event-Id", f"{parents[0]}, {parents[1]}"),
            ("X-Parent-Event-Id", parents[2]),
            ("traceparent", TRACEPARENT),
        ],
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {
        "event_id": body["event_id"],
        "event_type": "agent.thread.prompt.v1",
        "routing_key": "agent.thread.prompt.v1",
        "status": "published",
    }
    (message,) = tap.take(1)  # confirmed before the answer: it is already in the queue
    envelope = message.envelope
    assert registry().validate(envelope) == []
    assert envelope["event_id"] == body["event_id"] == message.properties.message_id
    assert message.routing_key == "agent.thread.prompt.v1"
    assert envelope["payload"] == payload
    assert envelope["version"] == "1.0.0"
    assert envelope["source"] == {"host": "test-host", "type": "manual", "app": "bloodbank"}
    assert envelope["correlation_ids"] == parents
    assert envelope["trace_context"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    # the span id is the publish span's, a child of the caller's span
    assert envelope["trace_context"]["span_id"] != "00f067aa0ba902b7"
    assert message.properties.delivery_mode == 2 and message.properties.content_type == "application/json"
    expected = "sha256=" + hmac.new(b"two", message.body, hashlib.sha256).hexdigest()
    assert message.headers == {
        "x-signature": expected,
        "x-signature-key-id": "k2",
        "x-filled-fields": "timestamp,version,source,trace_context",  # what Bloodbank chose (ADR 0030)
    }


def test_full_envelope_is_published_unchanged(client_factory: Factory, tap: Tap) -> None:
    client = client_factory()
    envelope = make_envelope(
        "theboard.meeting.created.v1",
        correlation_ids=[str(uuid.uuid4())],
        agent_context={"type": "claude", "name": "tonny", "session_id": "s-1"},
        x_future_field={"kept": True},
    )
    assert client.post("/events", json=envelope).status_code == 202
    received = tap.take(1)[0].envelope
    assert received.pop("trace_context")
    assert received == envelope


def test_only_fields_bloodbank_filled_are_named_in_x_filled_fields(client_factory: Factory, tap: Tap) -> None:
    """ADR 0030: a consumer ignores exactly the named fields when comparing a retry with the stored event."""
    client = client_factory()
    complete = {**make_envelope(), "trace_context": {"trace_id": "1" * 32, "span_id": "2" * 16}}
    no_source = {k: v for k, v in make_envelope().items() if k not in ("source", "version")}
    for body in (complete, no_source):
        assert client.post("/events", json=body).status_code == 202
    first, second = tap.take(2)
    assert "x-filled-fields" not in first.headers  # the caller gave every field
    assert second.headers["x-filled-fields"] == "version,source,trace_context"


def test_publish_span_is_a_child_of_traceparent(client_factory: Factory, tap: Tap) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = client_factory(tracer_provider=provider)
    client.post("/events", json=make_envelope(), headers={"traceparent": TRACEPARENT})
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert tap.take(1)[0].envelope["trace_context"]["span_id"] == f"{span.context.span_id:016x}"


# --- 4xx -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"", "body is empty"),
        (b"\xff\xfe{}", "body is not valid UTF-8"),
        (b"[]", "body must be a JSON object (an event envelope), got array; send arrays of events to POST"),
        (b'"text"', "body must be a JSON object (an event envelope), got string"),
        (b"3.5", "got number"),
        (b"null", "got null"),
    ],
)
def test_400_when_not_json_or_not_an_object(client_factory: Factory, body: bytes, message: str) -> None:
    response = client_factory().post("/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_413_when_too_large_with_or_without_content_length(client_factory: Factory, tap: Tap) -> None:
    client = client_factory(max_body_bytes=2000)
    big = make_envelope("agent.thread.prompt.v1")
    big["payload"]["prompt"] = "x" * 3000
    response = client.post("/events", json=big)
    assert response.status_code == 413
    assert response.json()["detail"].endswith(
        "exceeds the limit of 2000 bytes (set by BLOODBANK_MAX_BODY_BYTES)"
    )

    def chunks() -> Iterator[bytes]:
        yield b'{"payload": "' + b"x" * 1500
        yield b"x" * 1500 + b'"}'

    response = client.post("/events", content=chunks())  # chunked transfer: no Content-Length
    assert response.status_code == 413
    assert "more than 2000 bytes" in response.json()["detail"]
    assert tap.count() == 0


def test_422_lists_every_violation(client_factory: Factory, tap: Tap) -> None:
    envelope = make_envelope("github.pr.opened.v1", event_id="nope", timestamp="yesterday")
    envelope["source"] = "a-string"
    del envelope["payload"]["title"]
    envelope["payload"]["pr_number"] = 0
    response = client_factory().post("/events", json=envelope)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert {item["path"] for item in detail} == {
        "$.event_id",
        "$.timestamp",
        "$.source",
        "$.payload.title",
        "$.payload.pr_number",
    }
    for item in detail:
        assert set(item) == {"path", "message", "rule"}
        assert item["message"].startswith(item["path"] + ": ")
    assert tap.count() == 0


def test_422_for_an_unknown_event_type_suggests_the_close_one(client_factory: Factory) -> None:
    response = client_factory().post("/events", json={"event_type": "github.pr.opend.v1", "payload": {}})
    assert response.status_code == 422
    (issue,) = response.json()["detail"]
    assert issue["rule"] == "unknown_event_type"
    assert "did you mean 'github.pr.opened.v1'?" in issue["message"]


def test_422_for_a_bad_parent_header(client_factory: Factory) -> None:
    response = client_factory().post(
        "/events", json=make_envelope(), headers={"X-Parent-Event-Id": "not-a-uuid"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "path": "header:X-Parent-Event-Id",
            "message": "header:X-Parent-Event-Id: 'not-a-uuid' is not a valid uuid",
            "rule": "format:uuid",
        }
    ]


def test_401_without_a_valid_api_key(client_factory: Factory, tap: Tap) -> None:
    client = client_factory(api_keys=("key-a", "key-b"))
    missing = client.post("/events", json=make_envelope())
    assert missing.status_code == 401
    assert missing.json()["detail"] == "X-API-Key header is missing: this Bloodbank requires an API key"
    assert missing.headers["WWW-Authenticate"] == 'ApiKey header="X-API-Key"'
    wrong = client.post("/events/batch", json=[make_envelope()], headers={"X-API-Key": "key-c"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"].startswith("X-API-Key is not a valid key")
    assert tap.count() == 0
    assert client.post("/events", json=make_envelope(), headers={"X-API-Key": "key-b"}).status_code == 202
    assert client.get("/healthz").status_code == 200  # probes need no key


def test_429_with_retry_after_per_client(client_factory: Factory, tap: Tap) -> None:
    client = client_factory(rate_limit=0.5, rate_burst=2, api_keys=("a", "b"))
    statuses = [
        client.post("/events", json=make_envelope(), headers={"X-API-Key": "a"}).status_code for _ in range(2)
    ]
    assert statuses == [202, 202]
    limited = client.post("/events", json=make_envelope(), headers={"X-API-Key": "a"})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.json()["detail"] == (
        "rate limit exceeded: 0.5 requests/s per client (burst 2); retry after 2 s"
    )
    assert client.post("/events", json=make_envelope(), headers={"X-API-Key": "b"}).status_code == 202
    assert tap.count() == 3


def test_key_guessing_is_rate_limited_by_address(client_factory: Factory) -> None:
    client = client_factory(rate_limit=0.5, rate_burst=2, api_keys=("right",))
    guesses = [
        client.post("/events", json={}, headers={"X-API-Key": f"guess-{n}"}).status_code for n in range(3)
    ]
    assert guesses == [401, 401, 429]


def test_trace_context_without_traceparent_or_exporter(client_factory: Factory, tap: Tap) -> None:
    client_factory().post("/events", json=make_envelope())
    trace_context = tap.take(1)[0].envelope["trace_context"]
    # a new trace, not recorded (nothing would receive the span), with real ids
    assert trace_context["trace_id"] != "0" * 32 and trace_context["span_id"] != "0" * 16
    assert int(trace_context["trace_flags"], 16) & 1 == 0  # the "sampled" bit is off


# --- 503 -------------------------------------------------------------------------------------------------
def test_503_when_unroutable_never_a_silent_202(client_factory: Factory) -> None:
    client = client_factory()  # isolated exchange, no queue bound
    envelope = make_envelope()
    response = client.post("/events", json=envelope)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.json()
    assert body["reason"] == "unroutable" and body["event_id"] == envelope["event_id"]
    assert "no queue is bound to exchange" in body["detail"]
    status = f'bloodbank_events_published_total{{event_type="{envelope["event_type"]}",status="unroutable"}}'
    assert _metric(client, status) == 1


def test_503_and_not_ready_when_the_broker_is_unreachable(client_factory: Factory) -> None:
    client = client_factory(amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/", connect_timeout=1)
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["broker"] == "down" and "cannot connect to the broker" in ready.json()["detail"]
    response = client.post("/events", json=make_envelope())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.json()
    assert body["reason"] == "broker_unavailable"
    assert "not confirmed by the broker after 2 attempt(s)" in body["detail"]
    assert "same event_id is safe" in body["detail"]
    assert _metric(client, "bloodbank_publish_retries_total") >= 1


def test_a_confirmed_publish_is_never_reported_as_a_failure(client_factory: Factory, tap: Tap) -> None:
    client = client_factory()
    service: Any = client.app.state.service  # type: ignore[attr-defined]

    def broken(*_: Any) -> Any:
        raise RuntimeError("metrics backend exploded")

    service.metrics.published.labels = broken
    assert client.post("/events", json=make_envelope()).status_code == 202
    assert tap.count() == 1


# --- read endpoints --------------------------------------------------------------------------------------
def test_health_and_readiness(client_factory: Factory) -> None:
    client = client_factory()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "broker": "up"}


def test_metrics_use_the_spec_names(client_factory: Factory, tap: Tap) -> None:
    client = client_factory()
    envelope = make_envelope("n8n.workflow.completed.v1")
    client.post("/events", json=envelope)
    client.post("/events", content=b"{")
    client.post("/events", json=make_envelope(event_id="x"))
    client.post("/events", json={"event_type": "no.such.v1", "payload": {}})
    client.post("/events", json=make_envelope("github.pr.opened.v1", payload={}))
    text = client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    published = 'bloodbank_events_published_total{event_type="n8n.workflow.completed.v1",status="published"}'
    assert _metric(client, published) == 1
    for reason in ("json_invalid", "envelope_invalid", "unknown_event_type", "payload_invalid"):
        assert _metric(client, f'bloodbank_validation_failures_total{{reason="{reason}"}}') == 1
    assert _metric(client, "bloodbank_publish_latency_seconds_count") == 1
    assert _metric(client, "bloodbank_publish_retries_total") == 0
    assert _metric(client, "bloodbank_broker_connected") == 1


def test_schemas(client_factory: Factory) -> None:
    client = client_factory()
    index = client.get("/schemas").json()
    assert index["event_types"] == list(registry().event_types)
    assert index["envelope"]["$id"].endswith("event-envelope.v1.schema.json")
    assert client.get("/schemas/github.pr.opened.v1").json() == registry().payload_schema(
        "github.pr.opened.v1"
    )
    missing = client.get("/schemas/github.pr.opend.v1")
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        "unknown event type 'github.pr.opend.v1'; did you mean 'github.pr.opened.v1'?"
    )
