"""Candystore <- Bloodbank (messages): one interaction per event-type family, written and drift-checked.

Each message is the canonical envelope with matchers, plus the broker metadata Candystore relies on: the
routing key (= event_type), content type, message id (= event_id), persistent delivery and the signature
headers. The provider verification publishes each example through the Bloodbank under test and compares what
reached the broker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from pathlib import Path

import pytest
from pact import Pact, match

from contracts.consumers.candystore_intake import Rejected, accept
from harness.contracts import PACT_DIR, REFRESH_HINT, check_or_update, fixed_time
from harness.contracts import patterns as p
from holyfields import sample_payload

pytestmark = pytest.mark.contract

CONSUMER, PROVIDER = "candystore", "bloodbank"
PACT_FILE = PACT_DIR / f"{CONSUMER}-{PROVIDER}.json"

#: family -> (event type, example event id, example parent ids or None for a root event, source, agent)
FAMILIES: dict[str, tuple[str, str, list[str], dict[str, str], bool]] = {
    "fireflies": (
        "fireflies.transcript.ready.v1",
        "0b4c7d2e-5f1a-4e3b-9c8d-7a6b5c4d3e2f",
        [],
        {"host": "fireflies-bridge.local", "type": "webhook", "app": "fireflies-bridge"},
        False,
    ),
    "theboard": (
        "theboard.meeting.created.v1",
        "1c5d8e3f-6a2b-4f4c-8d9e-8b7c6d5e4f30",
        ["2d6e9f40-7b3c-4a5d-9eaf-9c8d7e6f5041"],
        {"host": "theboard.local", "type": "agent", "app": "theboard"},
        False,
    ),
    "agent": (
        "agent.thread.prompt.v1",
        "3e7fa051-8c4d-4b6e-8fb0-ad9e8f706152",
        ["4f80b162-9d5e-4c7f-90c1-beaf90817263"],
        {"host": "workstation-01", "type": "agent", "app": "claude-code"},
        True,
    ),
    "github": (
        "github.pr.opened.v1",
        "5091c273-ae6f-4d80-a1d2-cfb0a1928374",
        [],
        {"host": "github-webhooks.local", "type": "webhook", "app": "github-bridge"},
        False,
    ),
    "n8n": (
        "n8n.workflow.completed.v1",
        "61a2d384-bf70-4e91-b2e3-d0c1b2a39485",
        ["72b3e495-c081-4fa2-83f4-e1d2c3b4a596"],
        {"host": "n8n.local", "type": "scheduled", "app": "n8n"},
        False,
    ),
}
EXAMPLE_KEY = ("contract-example", "not-a-secret")


def description(family: str) -> str:
    return f"event {FAMILIES[family][0]} ({family} family)"


def envelope(family: str) -> dict:
    """The canonical envelope of ``family`` with matchers (the example values form a valid event)."""
    event_type, event_id, parents, source, with_agent = FAMILIES[family]
    body = {
        "event_id": p.uuid(event_id),
        "event_type": event_type,
        "timestamp": p.timestamp(fixed_time(0)),
        "version": p.version("1.0.0"),
        "source": {
            "host": match.str(source["host"]),
            "type": match.regex(source["type"], regex=p.SOURCE_TYPE),
            "app": match.str(source["app"]),
        },
        # parents given by the producer must arrive; a root event must not get any
        "correlation_ids": p.array_of(p.uuid(parents[0]), *parents[1:], min=len(parents)) if parents else [],
        "payload": match.like(sample_payload(event_type, random.Random(f"contract:{event_type}"))),
    }
    if with_agent:
        body["agent_context"] = {
            "type": match.regex("claude", regex=p.AGENT_TYPE),
            "name": match.str("tonny"),
            "session_id": match.str("contract-agent-session"),
        }
    return body


def metadata(family: str) -> dict:
    event_type, event_id, *_ = FAMILIES[family]
    example_body = json.dumps(p.example(envelope(family)), separators=(",", ":")).encode()
    signature = "sha256=" + hmac.new(EXAMPLE_KEY[1].encode(), example_body, hashlib.sha256).hexdigest()
    return {
        "routing_key": event_type,
        "message_id": p.uuid(event_id),
        "delivery_mode": 2,
        "x-signature": match.regex(signature, regex=p.SIGNATURE),
        "x-signature-key-id": match.str(EXAMPLE_KEY[0]),
    }


def bloodbank_pact() -> Pact:
    """The messages Candystore consumes from Bloodbank's exchange, one per event-type family."""
    pact = Pact(CONSUMER, PROVIDER).with_specification("V4")
    for family in FAMILIES:
        (
            pact.upon_receiving(description(family), "Async")
            .with_body(envelope(family), "application/json")
            .with_metadata(metadata(family))
        )
    return pact


def test_candystore_accepts_every_message_of_the_contract() -> None:
    """Candystore's intake rules accept every message of the Candystore <- Bloodbank contract"""
    seen: list[str] = []

    def handler(body: object, meta: dict) -> None:
        seen.append(accept(str(body), meta)["event_type"])

    bloodbank_pact().verify(handler, "Async")
    assert sorted(seen) == sorted(family[0] for family in FAMILIES.values())


def test_intake_rejects_a_message_whose_routing_key_is_not_its_event_type() -> None:
    """Candystore's intake rules reject a message routed under another key than its event_type"""
    body = json.dumps(p.example(envelope("github")))
    meta = {**p.example(metadata("github")), "contentType": "application/json", "routing_key": "github.#"}
    with pytest.raises(Rejected, match="routing key"):
        accept(body, meta)


def test_committed_bloodbank_pact_is_current(tmp_path: Path) -> None:
    """The committed Candystore <- Bloodbank pact is what the consumer test writes (no drift)"""
    bloodbank_pact().write_file(tmp_path, overwrite=True)
    drift = check_or_update(tmp_path / PACT_FILE.name, PACT_FILE)
    assert not drift, f"{PACT_FILE.name} differs from the consumer's contract; {REFRESH_HINT}\n{drift}"
