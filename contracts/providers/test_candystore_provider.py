"""Candystore verified against the Candybar pact, at any URL, with provider states realized black-box.

The verification runs once per module; each interaction is then its own test, so ``harness verify`` names
every broken interaction with its mismatches (path, expected, actual).
"""

from __future__ import annotations

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

PACT = PACT_DIR / "candybar-candystore.json"
INTERACTIONS = pact_interactions(PACT)


@pytest.fixture(scope="module")
def candystore_verification(
    candystore_url: str, candystore_states: CandystoreStates, run_report: Any
) -> dict[str, InteractionResult]:
    host = urlsplit(candystore_url).hostname or "localhost"
    verifier = (
        Verifier("candystore", host=host)
        .add_transport(url=candystore_url)
        .add_source(PACT)
        .state_handler(candystore_states, teardown=True)
        .set_request_timeout(15_000)
    )
    try:
        verifier.verify()
    except RuntimeError:
        pass  # "Failed to execute verifier": the mismatches are in verifier.results
    rows = interaction_results(
        verifier.results,
        provider="candystore",
        consumer="candybar",
        expected=[i["description"] for i in INTERACTIONS],
        notes=candystore_states.notes_for(INTERACTIONS),
    )
    record(run_report, rows)
    return {row.interaction: row for row in rows}


@pytest.mark.parametrize("interaction", [i["description"] for i in INTERACTIONS])
def test_candystore_honours_candybar_contract(
    candystore_verification: dict[str, InteractionResult], interaction: str
) -> None:
    """Candystore answers as the Candybar contract expects"""
    row = candystore_verification[interaction]
    assert row.ok, failure_report([row])


def test_every_provider_state_of_the_pact_has_a_handler() -> None:
    """Every provider state the Candybar pact names can be realized black-box"""
    named = {state["name"] for i in INTERACTIONS for state in i.get("providerStates", [])}
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
