"""Contract verification against any Bloodbank or Candystore, through public surfaces only.

- pacts: matchers built on the envelope's own patterns (:mod:`~harness.contracts._patterns`), committed files
  and their drift check;
- Candystore provider states realized by publishing events (AMQP or a Bloodbank URL) and polling the API;
- Bloodbank message verification: publish over HTTP, return what a capture queue on the broker received;
- results as rows of the contract matrix (interaction, provider, consumer, ok, mismatches with path,
  expected and actual value).

>>> from harness.contracts import Mismatch, InteractionResult
>>> row = InteractionResult("get one event", "candystore", "candybar", False,
...                         [Mismatch.of("$.event_id", "present", "missing")])
>>> print(row.describe())
candybar -> candystore 'get one event': 1 mismatch(es)
  $.event_id: expected present, actual missing
"""

from __future__ import annotations

from harness.contracts import _patterns as patterns
from harness.contracts._messages import (
    PUBLISHED_FIELDS,
    BloodbankProducer,
    CapturedMessage,
    MessageCapture,
    message_examples,
)
from harness.contracts._pactfile import (
    PACT_DIR,
    REFRESH_HINT,
    UPDATE_ENV,
    check_or_update,
    normalized,
    pact_drift,
)
from harness.contracts._results import (
    InteractionResult,
    Mismatch,
    failure_report,
    interaction_results,
    pact_interactions,
    record,
)
from harness.contracts._states import (
    STATES,
    AmqpEventSink,
    BloodbankEventSink,
    CandystoreStates,
    EventSink,
    StateContext,
    StateNotRealized,
    contract_event,
    fixed_time,
    provider_state,
)

__all__ = [
    "PACT_DIR",
    "PUBLISHED_FIELDS",
    "REFRESH_HINT",
    "STATES",
    "UPDATE_ENV",
    "AmqpEventSink",
    "BloodbankEventSink",
    "BloodbankProducer",
    "CandystoreStates",
    "CapturedMessage",
    "EventSink",
    "InteractionResult",
    "MessageCapture",
    "Mismatch",
    "StateContext",
    "StateNotRealized",
    "check_or_update",
    "contract_event",
    "failure_report",
    "fixed_time",
    "interaction_results",
    "message_examples",
    "normalized",
    "pact_drift",
    "pact_interactions",
    "patterns",
    "provider_state",
    "record",
]
