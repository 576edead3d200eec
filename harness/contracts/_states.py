"""Candystore provider states, realized black-box: publish the events a state needs, wait until queryable.

A state handler never reaches into the service: it publishes envelopes through the AMQP exchange (signed with
the run's key when there is one) or through a Bloodbank URL, then polls the Candystore's public API until
every event answers 200 (bounded). States are registered by name with :func:`provider_state`; the pact's
state names are templates (``"an event with id {event_id} exists"``) and their values come as parameters.

Events with fixed ids (from the pact) are built deterministically from those ids, so realizing a state again
(another run against the same store) republishes byte-identical bodies, which a Candystore acknowledges as
duplicates; events already queryable are not published again at all.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from harness.contracts._results import Mismatch
from harness.probes import BloodbankClient, RawPublisher, encode
from holyfields import sample_payload, utc_now
from holyfields.topology import Topology

StateFunction = Callable[..., None]

#: state name (template) -> function(ctx, **parameters)
STATES: dict[str, StateFunction] = {}


def provider_state(name: str) -> Callable[[StateFunction], StateFunction]:
    """Register the function that realizes the provider state ``name`` (a name is registered once)."""

    def register(func: StateFunction) -> StateFunction:
        if name in STATES:
            raise ValueError(
                f"provider state {name!r} registered twice ({STATES[name].__name__}, {func.__name__})"
            )
        STATES[name] = func
        return func

    return register


class StateNotRealized(Exception):
    """A provider state could not be brought about through the public surfaces; the message says why."""


class EventSink(Protocol):
    """Where a state handler publishes the events it needs."""

    description: str

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None: ...


class AmqpEventSink:
    """Publishes straight into the main exchange, as Bloodbank would (confirms, mandatory, signed)."""

    def __init__(self, amqp_url: str, topology: Topology, signing_key: tuple[str, str] | None) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self.signing_key = signing_key
        signed = f", signed with key {signing_key[0]!r}" if signing_key else ", unsigned"
        self.description = f"AMQP exchange {topology.exchange!r}{signed}"

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None:
        try:
            publisher = RawPublisher(self.amqp_url, self.topology)
        except Exception as exc:
            raise StateNotRealized(f"cannot connect to the broker to publish: {exc!r}") from None
        try:
            for envelope in envelopes:
                publisher.publish(
                    encode(envelope),
                    envelope["event_type"],
                    message_id=envelope["event_id"],
                    signing_key=self.signing_key,
                )
        except Exception as exc:
            raise StateNotRealized(f"publishing to {self.topology.exchange!r} failed: {exc!r}") from None
        finally:
            publisher.close()


class BloodbankEventSink:
    """Publishes through a Bloodbank's ``POST /events`` (202 expected)."""

    def __init__(self, bloodbank_url: str, api_key: str | None) -> None:
        self.url = bloodbank_url
        self.api_key = api_key
        self.description = f"Bloodbank {bloodbank_url}"

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None:
        client = BloodbankClient(self.url, api_key=self.api_key, timeout=15.0)
        try:
            for envelope in envelopes:
                response = client.publish(envelope)
                if response.status_code != 202:
                    raise StateNotRealized(
                        f"POST {self.url}/events answered {response.status_code} for event "
                        f"{envelope['event_id']}: {response.text[:300]}"
                    )
        except httpx.HTTPError as exc:
            raise StateNotRealized(f"POST {self.url}/events failed: {exc!r}") from None
        finally:
            client.close()


def contract_event(
    event_id: str,
    *,
    event_type: str,
    timestamp: str,
    correlation_ids: Iterable[str] = (),
    agent_context: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A valid envelope, identical for identical arguments (the payload is seeded by ``event_id``)."""
    envelope: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "timestamp": timestamp,
        "version": "1.0.0",
        "source": source or {"host": "contracts.harness.local", "type": "agent", "app": "candybar-contract"},
        "correlation_ids": list(correlation_ids),
        "payload": sample_payload(event_type, random.Random(event_id)),
    }
    if agent_context is not None:
        envelope["agent_context"] = agent_context
    return envelope


def fixed_time(index: int) -> str:
    """A fixed RFC 3339 time (``index`` minutes after a base), so fixed events are byte-identical."""
    moment = datetime(2025, 3, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=index)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class StateContext:
    """What a state function may do: publish events and wait until the Candystore serves them."""

    candystore_url: str
    sink: EventSink
    timeout: float = 20.0
    published: list[str] = field(default_factory=list)

    def _status(self, http: httpx.Client, event_id: str) -> tuple[int, str]:
        try:
            response = http.get(f"/events/{event_id}")
            return response.status_code, response.text[:200]
        except httpx.HTTPError as exc:
            return 0, repr(exc)

    def ensure(self, envelopes: Sequence[dict[str, Any]]) -> None:
        """Make every envelope queryable: publish those the Candystore does not serve yet, then wait."""
        with httpx.Client(base_url=self.candystore_url, timeout=10.0) as http:
            missing = [e for e in envelopes if self._status(http, e["event_id"])[0] != 200]
            if missing:
                self.sink.publish(missing)
                self.published += [e["event_id"] for e in missing]
            self._wait(http, [e["event_id"] for e in missing])

    def _wait(self, http: httpx.Client, event_ids: list[str]) -> None:
        deadline = time.monotonic() + self.timeout
        pending = list(event_ids)
        last: tuple[int, str] = (0, "")
        while pending:
            still = []
            for event_id in pending:
                last = self._status(http, event_id)
                if last[0] != 200:
                    still.append(event_id)
            pending = still
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise StateNotRealized(
                    f"published {len(event_ids)} event(s) through {self.sink.description}, but "
                    f"{len(pending)} never became queryable at GET {self.candystore_url}/events/{{id}} "
                    f"within {self.timeout:.0f} s (e.g. {pending[0]}; last answer {last[0]} {last[1]!r})"
                )
            time.sleep(0.1)

    def absent(self, event_id: str) -> None:
        """Check that the Candystore has no event ``event_id`` (nothing can delete it through the API)."""
        with httpx.Client(base_url=self.candystore_url, timeout=10.0) as http:
            status, _ = self._status(http, event_id)
        if status == 200:
            raise StateNotRealized(f"event {event_id} exists, so 'unknown id' cannot be checked with it")


class CandystoreStates:
    """The state handler given to ``pact.Verifier.state_handler`` (teardown calls are accepted and ignored).

    It never raises: the Pact verifier retries a failed state change for minutes and then reports only
    "state change failed". Problems are kept in :attr:`problems` (state name -> mismatches) instead, and
    added to the matrix rows of the interactions that use the state.
    """

    def __init__(self, context: StateContext, states: dict[str, StateFunction] | None = None) -> None:
        self.context = context
        self.states = STATES if states is None else states
        self.problems: dict[str, list[Mismatch]] = {}
        self._lock = threading.Lock()

    def __call__(self, state: str, action: str, parameters: dict[str, Any] | None) -> None:
        if action != "setup":
            return
        func = self.states.get(state)
        try:
            if func is None:
                raise StateNotRealized(
                    f"no handler for provider state {state!r}; known: {sorted(self.states)}"
                )
            func(self.context, **(parameters or {}))
        except StateNotRealized as exc:
            self._note(state, parameters, str(exc))
        except Exception as exc:  # a bug or an unexpected answer: still a reason, never a verifier retry loop
            self._note(state, parameters, f"{type(exc).__name__}: {exc}")

    def _note(self, state: str, parameters: dict[str, Any] | None, why: str) -> None:
        expected = state.format(**parameters) if parameters else state
        with self._lock:
            self.problems.setdefault(state, []).append(
                Mismatch.of("provider state", expected, "not realized", why)
            )

    def notes_for(self, interactions: Iterable[dict[str, Any]]) -> dict[str, list[Mismatch]]:
        """Problems per interaction description (through the states the interaction names)."""
        notes: dict[str, list[Mismatch]] = {}
        for interaction in interactions:
            for state in interaction.get("providerStates", []):
                notes.setdefault(interaction["description"], []).extend(self.problems.get(state["name"], []))
        return notes


# The states of the Candybar -> Candystore pact. Timestamps: fixed for fixed ids, "now" for fresh events.

_AGENT = {
    "type": "claude",
    "name": "candybar-contract",
    "instance_id": "8710fe9b-fe1c-4e84-8ba7-f5787d43995a",
}


@provider_state("events for session {session_id} exist")
def _session_events(ctx: StateContext, *, session_id: str, event_ids: list[str]) -> None:
    ctx.ensure(
        [
            contract_event(
                event_id,
                event_type="agent.tool.invoked.v1",
                timestamp=fixed_time(index),
                agent_context={**_AGENT, "session_id": session_id},
            )
            for index, event_id in enumerate(event_ids)
        ]
    )


@provider_state("an event with id {event_id} exists")
def _one_event(ctx: StateContext, *, event_id: str, correlation_ids: list[str], session_id: str) -> None:
    ctx.ensure(
        [
            contract_event(
                event_id,
                event_type="theboard.meeting.comment_extracted.v1",
                timestamp=fixed_time(10),
                correlation_ids=correlation_ids,
                agent_context={**_AGENT, "session_id": session_id},
            )
        ]
    )


@provider_state("a chain of events ending in {event_id}")
def _chain(ctx: StateContext, *, event_id: str, ancestor_ids: list[str]) -> None:
    chain = [*ancestor_ids, event_id]
    ctx.ensure(
        [
            contract_event(
                eid,
                event_type="theboard.meeting.round_completed.v1",
                timestamp=fixed_time(20 + index),
                correlation_ids=chain[index - 1 : index] if index else [],
                agent_context=dict(_AGENT),
            )
            for index, eid in enumerate(chain)
        ]
    )


@provider_state("events exist")
def _latest(ctx: StateContext) -> None:
    # A fresh event (new id, now): the newest in the store, whatever a previous run left there.
    ctx.ensure(
        [
            contract_event(
                str(uuid.uuid4()),
                event_type="agent.thread.prompt.v1",
                timestamp=utc_now(),
                agent_context=dict(_AGENT),
            )
        ]
    )


@provider_state("no event with id {event_id} exists")
def _no_event(ctx: StateContext, *, event_id: str) -> None:
    ctx.absent(event_id)
