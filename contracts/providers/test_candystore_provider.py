"""Candystore verified against the Candybar pacts, at any URL, with provider states realized black-box.

Two consumers write a Candybar pact with the same provider states: the Python stand-in (``candybar``) and
Candybar's TypeScript client (``candybar-ts``, contracts/consumers/candybar-ts). Each pact is verified once
per module; each interaction is then its own test (``[consumer: description]``), so ``harness verify``
names every broken interaction with its mismatches (path, expected, actual).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from pact import Verifier

from harness.config import Settings
from harness.contracts import (
    PACT_DIR,
    STATES,
    BloodbankEventSink,
    CandystoreStates,
    InteractionResult,
    StateContext,
    failure_report,
    interaction_results,
    pact_interactions,
    record,
)

pytestmark = pytest.mark.contract

#: consumer -> its pact with Candystore
PACTS = {consumer: PACT_DIR / f"{consumer}-candystore.json" for consumer in ("candybar", "candybar-ts")}
INTERACTIONS = {consumer: pact_interactions(pact) for consumer, pact in PACTS.items()}
CASES = [
    pytest.param(consumer, i["description"], id=f"{consumer}: {i['description']}")
    for consumer, interactions in INTERACTIONS.items()
    for i in interactions
]


def verify_pact(
    consumer: str, candystore_url: str, states: CandystoreStates, run_report: Any
) -> dict[str, InteractionResult]:
    """One pact against the Candystore at ``candystore_url``: a matrix row per interaction."""
    host = urlsplit(candystore_url).hostname or "localhost"
    verifier = (
        Verifier("candystore", host=host)
        .add_transport(url=candystore_url)
        .add_source(PACTS[consumer])
        .state_handler(states, teardown=True)
        .set_request_timeout(15_000)
    )
    try:
        verifier.verify()
    except RuntimeError:
        pass  # "Failed to execute verifier": the mismatches are in verifier.results
    interactions = INTERACTIONS[consumer]
    rows = interaction_results(
        verifier.results,
        provider="candystore",
        consumer=consumer,
        expected=[i["description"] for i in interactions],
        notes=states.notes_for(interactions),
    )
    record(run_report, rows)
    return {row.interaction: row for row in rows}


@pytest.fixture(scope="module")
def candystore_verification(
    candystore_url: str, candystore_states: CandystoreStates, run_report: Any
) -> Callable[[str], dict[str, InteractionResult]]:
    """The rows of one consumer's pact, verified on first use (each pact once per module)."""
    done: dict[str, dict[str, InteractionResult]] = {}

    def rows(consumer: str) -> dict[str, InteractionResult]:
        if consumer not in done:
            # problems are kept per state name: a fresh handler per pact keeps the notes apart
            states = CandystoreStates(candystore_states.context)
            done[consumer] = verify_pact(consumer, candystore_url, states, run_report)
        return done[consumer]

    return rows


@pytest.mark.parametrize(("consumer", "interaction"), CASES)
def test_candystore_honours_candybar_contract(
    candystore_verification: Callable[[str], dict[str, InteractionResult]], consumer: str, interaction: str
) -> None:
    """Candystore answers as the Candybar contract expects"""
    row = candystore_verification(consumer)[interaction]
    assert row.ok, failure_report([row])


def test_every_provider_state_of_the_pact_has_a_handler() -> None:
    """Every provider state the Candybar pacts name can be realized black-box"""
    named = {
        state["name"]
        for interactions in INTERACTIONS.values()
        for i in interactions
        for state in i.get("providerStates", [])
    }
    assert named <= set(STATES), f"provider states without a handler: {sorted(named - set(STATES))}"


@pytest.mark.needs("publish")
def test_provider_states_can_be_realized_through_a_bloodbank(
    harness_settings: Settings, candystore_url: str, request: pytest.FixtureRequest
) -> None:
    """Provider states can also be realized through a Bloodbank URL (the route for a broker out of reach)"""
    if harness_settings.candystore_url and not harness_settings.bloodbank_url:
        pytest.skip("the Candystore under test is external and no Bloodbank of it was given")
    sink = BloodbankEventSink(request.getfixturevalue("bloodbank_url"), harness_settings.api_key)
    states = CandystoreStates(StateContext(candystore_url=candystore_url, sink=sink, timeout=20.0))
    states("events exist", "setup", None)
    assert not states.problems, f"state not realized through {sink.description}: {states.problems}"
    assert len(states.context.published) == 1
