"""Bloodbank verified against the Candystore message pact, at any URL: each example event is published through
the Bloodbank's HTTP API and the message a capture queue on the broker received is compared with the pact.

Besides the pact's matchers, two checks Pact cannot express run on the captured messages: routing key =
event_type and message id = event_id, and the ``x-signature`` value is the HMAC-SHA256 of the body under the
named key (when the run knows the keys).
"""

from __future__ import annotations

from typing import Any

import pytest
from pact import Verifier

from harness.config import Settings
from harness.contracts import (
    PACT_DIR,
    BloodbankProducer,
    InteractionResult,
    MessageCapture,
    failure_report,
    interaction_results,
    message_examples,
    pact_interactions,
    record,
)
from harness.triage import require

pytestmark = pytest.mark.contract

PACT = PACT_DIR / "candystore-bloodbank.json"
INTERACTIONS = pact_interactions(PACT)


@pytest.fixture(scope="module")
def bloodbank_verification(
    bloodbank: Any,
    message_capture: MessageCapture,
    harness_settings: Settings,
    run_report: Any,
    request: pytest.FixtureRequest,
) -> dict[str, InteractionResult]:
    require(request, "publish")
    producer = BloodbankProducer(bloodbank, message_capture, message_examples(INTERACTIONS))
    verifier = Verifier("bloodbank").message_handler(producer.handlers()).add_source(PACT)
    try:
        verifier.verify()
    except RuntimeError:
        pass  # "Failed to execute verifier": the mismatches are in verifier.results
    extra = producer.consistency_problems()
    for description, found in producer.signature_problems(harness_settings.keyring).items():
        extra.setdefault(description, []).extend(found)
    rows = interaction_results(
        verifier.results,
        provider="bloodbank",
        consumer="candystore",
        expected=list(producer.examples),
        notes=producer.problems,
        extra=extra,
    )
    record(run_report, rows)
    return {row.interaction: row for row in rows}


@pytest.mark.parametrize("interaction", list(message_examples(INTERACTIONS)))
def test_bloodbank_publishes_what_candystore_consumes(
    bloodbank_verification: dict[str, InteractionResult], interaction: str
) -> None:
    """Bloodbank publishes the messages the Candystore contract expects (body, routing key, properties)"""
    row = bloodbank_verification[interaction]
    assert row.ok, failure_report([row])
