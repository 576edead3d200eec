"""Round trip: every field read back equals what was published, nothing dropped or renamed (SPEC §4, §6)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from .helpers import Deployment, envelope

pytestmark = pytest.mark.integration


def _full_envelope() -> dict:
    parent = str(uuid.uuid4())
    return envelope(
        "agent.thread.prompt.v1",
        timestamp="2025-01-15T10:30:00.123456+01:00",
        version="1.2.3",
        source={"host": "workstation-01", "type": "agent", "app": "claude-code", "meta": {"pid": 4242}},
        correlation_ids=[parent, str(uuid.uuid4())],
        agent_context={
            "type": "claude",
            "name": "planner",
            "instance_id": str(uuid.uuid4()),
            "system_prompt": "be brief",
            "mcp_servers": ["fs", "git"],
            "file_references": ["a.py"],
            "session_id": "sess-1",
            "custom_key": {"nested": [1, 2.5, None, True]},
        },
        payload={
            "agent_name": "planner",
            "provider": "anthropic",
            "prompt": "héllo ✓ 漢字 \U0001f600",
            "model": "m",
            "tags": ["x", "y"],
        },
        trace_context={
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "trace_flags": "01",
        },
        x_future_field={"added": "by a minor version"},
        another_extra=[1, "two", 3.0],
    )


def test_every_field_reads_back_as_published(deployment: Deployment) -> None:
    event = _full_envelope()
    deployment.publish(event)
    deployment.wait_stored([event["event_id"]])
    got = deployment.get(f"/events/{event['event_id']}").json()
    stored_at = got.pop("stored_at")
    assert got == event
    assert list(got) == list(event)  # not even the order of the fields changed
    assert datetime.fromisoformat(stored_at).tzinfo is not None
    listed = deployment.get("/events", correlation_id=event["correlation_ids"][1]).json()["events"]
    assert [{k: v for k, v in e.items() if k != "stored_at"} for e in listed] == [event]


def test_columns_hold_the_full_envelope(deployment: Deployment) -> None:
    event = _full_envelope()
    body = deployment.publish(event)
    deployment.wait_stored([event["event_id"]])
    (row,) = deployment.sql(
        'SELECT event_id::text, event_type, "timestamp", version, source, correlation_ids::text[],'
        " agent_context, payload, trace_context, envelope, routing_key, raw_body, stored_at"
        " FROM events WHERE event_id = %s",
        [event["event_id"]],
    )
    (
        event_id,
        event_type,
        timestamp,
        version,
        source,
        parents,
        agent_context,
        payload,
        trace_context,
        whole,
        routing_key,
        raw,
        stored_at,
    ) = row
    assert (event_id, event_type, version) == (event["event_id"], event["event_type"], event["version"])
    assert timestamp == datetime(2025, 1, 15, 9, 30, 0, 123456, tzinfo=UTC)
    assert (source, parents, agent_context) == (
        event["source"],
        event["correlation_ids"],
        event["agent_context"],
    )
    assert (payload, trace_context, whole) == (event["payload"], event["trace_context"], event)
    assert (routing_key, bytes(raw)) == (event["event_type"], body)
    assert stored_at is not None


def test_body_formatting_and_numbers_are_kept(deployment: Deployment) -> None:
    event = envelope("acme.numbers.kept.v1", payload={"float": 1.0, "big": 9007199254740993, "exp": 1.5e-7})
    body = json.dumps(event, indent=3).encode() + b"\n"
    deployment.publish(body, routing_key=event["event_type"])
    deployment.wait_stored([event["event_id"]])
    text = deployment.get(f"/events/{event['event_id']}").text
    assert '"float": 1.0' in text and "9007199254740993" in text
    assert json.loads(text)["payload"] == event["payload"]


def test_nul_characters_survive(deployment: Deployment) -> None:
    event = envelope("acme.odd.chars.v1", payload={"text": "a\u0000b", "k\u0000": 1})
    deployment.publish(event)
    deployment.wait_stored([event["event_id"]])
    got = deployment.get(f"/events/{event['event_id']}").json()
    assert got["payload"] == event["payload"]


def test_uppercase_event_id_is_one_event(deployment: Deployment) -> None:
    event = envelope("github.pr.opened.v1")
    event["event_id"] = event["event_id"].upper()
    deployment.publish(event)
    deployment.wait_stored([event["event_id"].lower()])
    got = deployment.get(f"/events/{event['event_id'].lower()}").json()
    assert got["event_id"] == event["event_id"]  # returned as published


def test_get_event_errors(deployment: Deployment) -> None:
    missing = deployment.get(f"/events/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert "not found" in missing.json()["detail"]
    bad = deployment.get("/events/not-a-uuid")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "event_id"]
