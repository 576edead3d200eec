"""What every producer relies on when Bloodbank says no (SPEC §3): a malformed event is answered 4xx with the
reasons, never 5xx, and nothing reaches the broker. Each check is a row of the contract matrix."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from harness.contracts import InteractionResult, MessageCapture, Mismatch, failure_report, record
from holyfields import make_envelope

pytestmark = pytest.mark.contract

CONSUMER = "producers"


def _bad_payload(event_id: str) -> bytes:
    envelope = make_envelope("github.pr.opened.v1", event_id=event_id)
    envelope["payload"]["pr_number"] = 0  # schema: integer >= 1
    return json.dumps(envelope).encode()


def _no_payload(event_id: str) -> bytes:
    envelope = make_envelope("github.pr.opened.v1", event_id=event_id)
    del envelope["payload"]
    return json.dumps(envelope).encode()


def _not_json(event_id: str) -> bytes:
    return b'{"event_id": "' + event_id.encode() + b'", "event_type": '


#: interaction -> (body for an event id, expected status)
CASES: dict[str, tuple[Callable[[str], bytes], int]] = {
    "POST /events, payload breaks its schema -> 422": (_bad_payload, 422),
    "POST /events, envelope without payload -> 422": (_no_payload, 422),
    "POST /events, body not JSON -> 400": (_not_json, 400),
}


def _check(bloodbank: Any, capture: MessageCapture, make_body: Callable[[str], bytes], status: int) -> list:
    event_id = str(uuid.uuid4())
    response = bloodbank.publish(make_body(event_id))
    found: list[Mismatch] = []
    if response.status_code != status:
        if response.status_code >= 500:
            why = "a 4xx condition answered with a server error"
        elif response.status_code < 300:
            why = "malformed event accepted"
        else:
            why = "wrong status"
        found.append(Mismatch.of("status", status, f"{response.status_code} {response.text[:120]}", why))
    elif status == 422:
        try:
            detail = response.json()["detail"]
            shaped = isinstance(detail, list) and all("path" in d and "message" in d for d in detail)
            shaped = shaped and bool(detail)
        except (ValueError, KeyError, TypeError):
            shaped = False
        if not shaped:
            found.append(Mismatch.of("$.detail", "[{path, message}, …]", response.text[:120], "422 body"))
    message = capture.wait_for(event_id, timeout=1.0 if response.status_code < 300 else 0.3)
    if message is not None:
        found.append(
            Mismatch.of(
                "broker",
                "nothing published",
                f"message on routing key {message.routing_key!r}",
                "a rejected event reached the exchange",
            )
        )
    return found


@pytest.mark.parametrize("interaction", list(CASES))
def test_bloodbank_rejects_malformed_events(
    bloodbank: Any, message_capture: MessageCapture, run_report: Any, interaction: str
) -> None:
    """Bloodbank rejects a malformed event with 4xx (not 5xx, not 202) and publishes nothing"""
    make_body, status = CASES[interaction]
    mismatches = _check(bloodbank, message_capture, make_body, status)
    row = InteractionResult(interaction, "bloodbank", CONSUMER, not mismatches, mismatches)
    record(run_report, [row])
    assert row.ok, failure_report([row])
