"""Fixtures of the provider verifications: how provider states are realized, and the broker capture queue.

Both work through public surfaces only. The route for Candystore states is chosen from what the run knows:

- reference services started by this session, or ``--amqp-url`` given: publish into the AMQP exchange
  (signed with the run's active key when there is one);
- else ``--bloodbank-url`` given: publish through that Bloodbank;
- ``HARNESS_CONTRACT_STATES=amqp|bloodbank`` forces one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.config import Settings
from harness.contracts import (
    AmqpEventSink,
    BloodbankEventSink,
    CandystoreStates,
    EventSink,
    MessageCapture,
    StateContext,
)
from holyfields.topology import Topology

ROUTE_ENV = "HARNESS_CONTRACT_STATES"


def _state_route(settings: Settings) -> str:
    forced = os.environ.get(ROUTE_ENV, "").strip().lower()
    if forced:
        if forced not in ("amqp", "bloodbank"):
            pytest.fail(f"{ROUTE_ENV}={forced!r}: choose amqp or bloodbank", pytrace=False)
        return forced
    if not settings.candystore_url or settings.amqp_url:
        return "amqp"
    if settings.bloodbank_url:
        return "bloodbank"
    pytest.fail(
        "cannot realize Candystore provider states: the Candystore under test is external, so events must "
        "reach it through its own broker (--amqp-url, the broker it consumes from) or its Bloodbank "
        "(--bloodbank-url)",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def event_sink(harness_settings: Settings, request: pytest.FixtureRequest) -> EventSink:
    """Where provider states publish their events (see the module docstring)."""
    if _state_route(harness_settings) == "bloodbank":
        return BloodbankEventSink(request.getfixturevalue("bloodbank_url"), harness_settings.api_key)
    amqp_url: str = request.getfixturevalue("amqp_url")
    topology: Topology = request.getfixturevalue("topology")
    return AmqpEventSink(amqp_url, topology, harness_settings.signing_key)


@pytest.fixture(scope="module")
def candystore_states(candystore_url: str, event_sink: EventSink) -> CandystoreStates:
    """The state handler of a Candystore verification (problems collected per state, never raised)."""
    return CandystoreStates(StateContext(candystore_url=candystore_url, sink=event_sink, timeout=20.0))


@pytest.fixture(scope="session")
def message_capture(harness_settings: Settings, request: pytest.FixtureRequest) -> Iterator[MessageCapture]:
    """Every message on the main exchange while the session runs (the broker the Bloodbank publishes to)."""
    if harness_settings.bloodbank_url and not harness_settings.amqp_url:
        pytest.fail(
            "the Bloodbank message contract reads what reached the broker: give --amqp-url of the broker "
            f"{harness_settings.bloodbank_url} publishes to (and HARNESS_EXCHANGE if its exchange is named "
            "differently)",
            pytrace=False,
        )
    amqp_url: str = request.getfixturevalue("amqp_url")
    topology: Topology = request.getfixturevalue("topology")
    with MessageCapture(amqp_url, topology) as capture:
        yield capture
