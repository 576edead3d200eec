"""Publish through Bloodbank's HTTP API, read back from Candystore: every field of every event type equal."""

from __future__ import annotations

import json
import random
import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from harness.corpus import valid_envelopes
from harness.triage import require
from holyfields import make_envelope, registry, sample_payload
from scenarios import describe_differences, fetch_stored, field_differences

pytestmark = pytest.mark.e2e

EVENT_TYPES = registry().event_types
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def _accepted(response: Any, what: str, bloodbank: Any) -> dict[str, Any]:
    assert bloodbank.accepted(response), (
        f"valid {what} rejected at publish: {response.status_code} {response.text[:300]}"
    )
    return response.json()


def full_envelope(event_type: str, parent_id: str, seed: int) -> dict[str, Any]:
    """Every optional part of the envelope filled, plus an unknown top-level field."""
    rng = random.Random(seed)
    return make_envelope(
        event_type,
        payload=sample_payload(event_type, rng),
        source={
            "host": "e2e-host-01",
            "type": "agent",
            "app": "harness-e2e",
            "meta": {"run": "e2e", "nested": {"n": 1, "ok": True, "none": None}, "list": [1, "two"]},
        },
        correlation_ids=[parent_id],
        agent_context={
            "type": "claude",
            "name": "tonny",
            "instance_id": str(uuid.uuid4()),
            "system_prompt": "You are a careful reviewer. «Ünïcödé» 数据 🚀",
            "mcp_servers": ["bloodbank", "candystore"],
            "file_references": ["README.md", "docs/adr/0007-fuzzing-profile.md"],
            "session_id": str(uuid.uuid4()),
        },
        trace_context={
            "trace_id": secrets.token_hex(16),
            "span_id": secrets.token_hex(8),
            "trace_flags": "01",
        },
        x_harness_extension={"note": "unknown top-level fields are kept", "value": 12.5, "flag": False},
    )


@pytest.fixture(scope="module")
def root_event(bloodbank: Any, candystore: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    """A stored root event the full envelopes name as their parent."""
    require(request, "publish", "read_by_id")
    envelope = make_envelope("github.pr.opened.v1")
    _accepted(bloodbank.publish(envelope), "root event", bloodbank)
    candystore.wait_stored(envelope["event_id"])
    return envelope


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_full_envelope_round_trips_field_identical(
    event_type: str, bloodbank: Any, candystore: Any, root_event: dict[str, Any]
) -> None:
    """Envelope fields dropped, renamed or changed between publish and storage."""
    sent = full_envelope(event_type, root_event["event_id"], seed=EVENT_TYPES.index(event_type))
    answer = _accepted(bloodbank.publish(sent), f"{event_type} event", bloodbank)
    assert answer.get("event_id") == sent["event_id"], f"publish answer names another event: {answer}"
    assert answer.get("status") == "published", f"publish answer without status 'published': {answer}"
    assert answer.get("routing_key", event_type) == event_type, f"routing key is not the event type: {answer}"

    stored = candystore.wait_stored(sent["event_id"])
    problems = field_differences(sent, stored)
    assert not problems, "envelope fields dropped or renamed in storage: " + "; ".join(problems)
    assert "stored_at" in stored, "stored event has no stored_at (the Candybar contract needs it)"

    # the list endpoint returns the same document (since inclusive, until exclusive)
    moment = datetime.fromisoformat(sent["timestamp"].replace("Z", "+00:00"))
    until = (moment + timedelta(milliseconds=1)).isoformat()
    response = candystore.list_events(event_type=event_type, since=sent["timestamp"], until=until, limit=1000)
    assert response.status_code == 200, f"GET /events failed: {response.status_code} {response.text[:300]}"
    listed = [e for e in response.json()["events"] if e.get("event_id") == sent["event_id"]]
    assert listed, (
        f"event missing from GET /events?event_type={event_type}&since={sent['timestamp']}&until={until} "
        "(since must be inclusive)"
    )
    problems = field_differences(sent, listed[0])
    assert not problems, "envelope fields dropped or renamed in GET /events: " + "; ".join(problems)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_partial_envelope_is_completed_by_bloodbank(event_type: str, bloodbank: Any, candystore: Any) -> None:
    """Partial envelope (event_type + payload) does not come back as a valid full envelope."""
    payload = sample_payload(event_type, random.Random(100 + EVENT_TYPES.index(event_type)))
    before = datetime.now().astimezone()
    answer = _accepted(
        bloodbank.publish({"event_type": event_type, "payload": payload}), "partial envelope", bloodbank
    )
    event_id = answer.get("event_id")
    assert isinstance(event_id, str), f"publish answer of a partial envelope has no event_id: {answer}"

    stored = candystore.wait_stored(event_id)
    envelope = {k: v for k, v in stored.items() if k != "stored_at"}
    issues = registry().validate(envelope)
    assert not issues, "completed envelope is invalid: " + "; ".join(str(i) for i in issues[:5])
    assert envelope["event_type"] == event_type and envelope["payload"] == payload, (
        "payload or event_type changed while completing a partial envelope"
    )
    assert envelope["correlation_ids"] == [], (
        f"a root event got correlation_ids {envelope['correlation_ids']} (expected [])"
    )
    try:
        stamped = datetime.fromisoformat(envelope["timestamp"].upper().replace("Z", "+00:00"))
    except ValueError:
        raise AssertionError(f"filled timestamp {envelope['timestamp']!r} is not RFC 3339") from None
    assert before - timedelta(minutes=5) <= stamped <= datetime.now().astimezone() + timedelta(minutes=5), (
        f"filled timestamp {envelope['timestamp']} is not the publish time"
    )
    trace = envelope.get("trace_context")
    assert isinstance(trace, dict) and HEX32.match(str(trace.get("trace_id"))), (
        f"no trace context filled in by Bloodbank (trace_context={trace!r})"
    )


def test_parent_header_fills_correlation_ids(bloodbank: Any, candystore: Any) -> None:
    """X-Parent-Event-Id ignored: correlation ids never populated from the header."""
    parents = [str(uuid.uuid4()) for _ in range(3)]
    header = bloodbank.surface.parent_header
    answer = _accepted(
        bloodbank.publish(
            {"event_type": "agent.tool.invoked.v1", "payload": sample_payload("agent.tool.invoked.v1")},
            headers=[(header, f"{parents[0]}, {parents[1]}"), (header, parents[2])],
        ),
        "event with X-Parent-Event-Id",
        bloodbank,
    )
    stored = candystore.wait_stored(answer["event_id"])
    got = stored.get("correlation_ids")
    assert isinstance(got, list) and got, (
        f"correlation ids never populated: X-Parent-Event-Id {parents} gave correlation_ids={got!r}"
    )
    assert sorted(str(p).lower() for p in got) == sorted(parents), (
        f"correlation_ids {got} are not the parents given in X-Parent-Event-Id {parents} "
        "(repeated and comma-separated values)"
    )


def test_traceparent_is_written_to_trace_context(bloodbank: Any, candystore: Any) -> None:
    """traceparent header ignored: the stored trace_context is not in the caller's trace."""
    trace_id, parent_span = secrets.token_hex(16), secrets.token_hex(8)
    answer = _accepted(
        bloodbank.publish(
            {"event_type": "agent.thread.prompt.v1", "payload": sample_payload("agent.thread.prompt.v1")},
            headers={"traceparent": f"00-{trace_id}-{parent_span}-01"},
        ),
        "event with traceparent",
        bloodbank,
    )
    stored = candystore.wait_stored(answer["event_id"])
    trace = stored.get("trace_context")
    assert isinstance(trace, dict), (
        f"no trace_context stored for an event published with traceparent: {trace!r}"
    )
    assert trace.get("trace_id") == trace_id, (
        f"traceparent not honoured: trace_context.trace_id {trace.get('trace_id')!r}, expected {trace_id!r}"
    )
    assert HEX16.match(str(trace.get("span_id"))), f"trace_context.span_id is not 16 hex digits: {trace!r}"


def test_every_valid_corpus_envelope_round_trips(bloodbank: Any, candystore: Any) -> None:
    """Valid corpus envelopes (unicode, offsets, extras, tracestate) rejected or changed in storage."""
    sent: dict[str, dict[str, Any]] = {}
    for name, envelope in valid_envelopes():
        envelope = {**envelope, "event_id": str(uuid.uuid4())}  # fresh ids: runs may share a store
        response = bloodbank.publish(envelope)
        assert bloodbank.accepted(response), (
            f"valid corpus envelope {name} rejected at publish: {response.status_code} {response.text[:300]}"
        )
        sent[envelope["event_id"]] = envelope
    found, missing = fetch_stored(candystore, sent)
    assert not missing, f"{len(missing)} accepted events never stored (lost), e.g. {sorted(missing)[:3]}"
    failures = {}
    for event_id, envelope in sent.items():
        added = () if "trace_context" in envelope else ("trace_context",)
        problems = field_differences(envelope, found[event_id], may_add=added)
        if problems:
            failures[event_id] = problems
    assert not failures, (
        f"envelope fields dropped or renamed in storage ({len(failures)} of {len(sent)} events): "
        + describe_differences(failures)
    )


def test_batch_publishes_valid_items_and_rejects_invalid_ones(bloodbank: Any, candystore: Any) -> None:
    """Invalid batch item blocks the valid ones, or is published anyway."""
    good = [make_envelope(t) for t in EVENT_TYPES[:3]]
    bad = make_envelope("github.pr.opened.v1", event_id="not-a-uuid")
    response = bloodbank.publish_batch([good[0], bad, good[1], good[2]])
    assert response.status_code < 500, f"batch with one invalid item answered {response.status_code}"
    assert response.status_code in {*bloodbank.surface.success, 200, 207}, (
        f"batch with valid items answered {response.status_code}: {response.text[:300]}"
    )
    found, missing = fetch_stored(candystore, [e["event_id"] for e in good])
    assert not missing, f"valid batch items never stored (an invalid item blocked them?): {sorted(missing)}"
    for envelope in good:
        problems = field_differences(envelope, found[envelope["event_id"]], may_add=("trace_context",))
        assert not problems, "batch item changed in storage: " + "; ".join(problems)
    assert "event_id" in response.text, (
        f"batch answer does not name the broken field of the invalid item: {response.text[:300]}"
    )


def _listed(candystore: Any, **params: Any) -> list[str]:
    response = candystore.list_events(limit=1000, **params)
    assert response.status_code == 200, (
        f"GET /events?{params} answered {response.status_code}: {response.text[:200]}"
    )
    events = response.json()["events"]
    assert all("event_id" in e for e in events), (
        f"GET /events lists events without their event_id: {events[:1]}"
    )
    return [e["event_id"] for e in events]


def _same_events(name: str, got: set[str], want: set[str]) -> None:
    """A filter's answer, worded as the defect: ignored (other events too) or missing events."""
    extra, missing = got - want, want - got
    assert not extra, (
        f"{name} filter ignored or leaking: {len(extra)} events that do not match it were returned"
    )
    assert not missing, f"{name} filter misses {len(missing)} of {len(want)} matching events"


def test_query_filters_find_stored_events(bloodbank: Any, candystore: Any) -> None:
    """GET /events filters (source_app, session_id, correlation_id, since/until) miss or leak events."""
    app, session = f"harness-e2e-{uuid.uuid4().hex[:8]}", f"session-{uuid.uuid4()}"
    # 10:30+05:30 is 05:00Z: since/until compare instants, whatever the offset
    parent = make_envelope(
        "agent.thread.prompt.v1",
        timestamp="2031-03-04T10:30:00.250000+05:30",
        source={"host": "h", "type": "agent", "app": app},
        agent_context={"type": "letta", "session_id": session},
    )
    child = make_envelope(
        "agent.tool.invoked.v1",
        timestamp="2031-03-04T05:00:01Z",
        source={"host": "h", "type": "agent", "app": app},
        correlation_ids=[parent["event_id"]],
        payload={**sample_payload("agent.tool.invoked.v1"), "session_id": session},
    )
    for envelope in (parent, child):
        _accepted(bloodbank.publish(envelope), "event for the query filters", bloodbank)
    fetch_stored(candystore, [parent["event_id"], child["event_id"]])
    both = {parent["event_id"], child["event_id"]}
    _same_events("source_app", set(_listed(candystore, source_app=app)), both)
    _same_events(
        "session_id (agent_context.session_id and payload.session_id)",
        set(_listed(candystore, session_id=session)),
        both,
    )
    assert _listed(candystore, correlation_id=parent["event_id"]) == [child["event_id"]], (
        "correlation_id filter must list the events naming it as a parent"
    )
    assert _listed(candystore, source_app=app, since="2031-03-04T05:00:00.25Z") == [
        child["event_id"],
        parent["event_id"],
    ], "since is inclusive and compares instants (offsets); events newest first"
    assert _listed(candystore, source_app=app, until="2031-03-04T05:00:00.25Z") == [], (
        "until is exclusive (an event at exactly until was listed)"
    )
    assert _listed(candystore, source_app=app, until="2031-03-04T10:30:00.250001+05:30") == [
        parent["event_id"]
    ], "until compares instants with their offsets"


# -- what Bloodbank publishes (read at the broker, so these need no read API) -----------------------------


@pytest.fixture
def published(amqp_url: str, topology: Any) -> Any:
    """The messages published to the main exchange while the check runs (needs only the broker)."""
    from harness.contracts import MessageCapture

    capture = MessageCapture(amqp_url, topology)
    try:
        capture.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield capture
    capture.close()


def _published_envelope(
    bloodbank: Any, published: Any, event: dict[str, Any], headers: Any
) -> dict[str, Any]:
    answer = _accepted(bloodbank.publish(event, headers=headers), "event with headers", bloodbank)
    event_id = answer.get("event_id")
    message = published.wait_for(event_id, timeout=10) if isinstance(event_id, str) else None
    assert message is not None, (
        f"Bloodbank answered {answer} but no message for it reached exchange {published.topology.exchange!r}"
    )
    return json.loads(message.body)


def test_parent_header_reaches_the_published_event(bloodbank: Any, published: Any) -> None:
    """X-Parent-Event-Id ignored by Bloodbank: the published event has not the header's parents."""
    parents = [str(uuid.uuid4()) for _ in range(2)]
    event = {"event_type": "agent.tool.invoked.v1", "payload": sample_payload("agent.tool.invoked.v1")}
    envelope = _published_envelope(
        bloodbank, published, event, [(bloodbank.surface.parent_header, ", ".join(parents))]
    )
    got = envelope.get("correlation_ids")
    assert sorted(str(p).lower() for p in got or []) == sorted(parents), (
        f"X-Parent-Event-Id ignored: {bloodbank.surface.parent_header}: {', '.join(parents)} was published "
        f"with correlation_ids={got!r}"
    )


def test_traceparent_reaches_the_published_event(bloodbank: Any, published: Any) -> None:
    """traceparent header ignored by Bloodbank: the published event is not in the caller's trace."""
    trace_id, parent_span = secrets.token_hex(16), secrets.token_hex(8)
    event = {"event_type": "agent.thread.prompt.v1", "payload": sample_payload("agent.thread.prompt.v1")}
    envelope = _published_envelope(
        bloodbank, published, event, {"traceparent": f"00-{trace_id}-{parent_span}-01"}
    )
    trace = envelope.get("trace_context") or {}
    assert isinstance(trace, dict) and trace.get("trace_id") == trace_id, (
        f"traceparent header ignored: published trace_context {trace!r}, expected trace_id {trace_id!r}"
    )
