"""Candybar -> Candystore (HTTP): the pact, exercised by the Candybar client model, written and drift-checked.

The ids are fixed so that a provider can realize each state by publishing exactly those events (see
:mod:`harness.contracts._states`); the values every implementation chooses (times, counts) are matched by
type or pattern.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pact import Pact, match

from contracts.consumers.candybar import CandybarClient, EventNotFound, InvalidQuery
from harness.contracts import PACT_DIR, REFRESH_HINT, check_or_update, fixed_time
from harness.contracts import patterns as p

pytestmark = pytest.mark.contract

CONSUMER, PROVIDER = "candybar", "candystore"
PACT_FILE = PACT_DIR / f"{CONSUMER}-{PROVIDER}.json"

SESSION_ID = "candybar-contract-session-3766a9bf"
SESSION_EVENTS = [
    "fa6ce214-3182-42c3-b9d6-b24fedb330e6",
    "89d3e598-2338-48bb-b934-2384ab3db2b9",
    "79be4e86-0fe8-42f9-8dfd-df8d6cfadbe8",
]
EVENT_ID = "b02b7b5a-0f83-4674-be36-b2f9763b1a5b"
EVENT_PARENTS = ["6ce7c48e-ef63-4769-aa30-98e2fb3defb5", "529caf20-eb7b-4c11-84f0-1a7487cc787c"]
CHAIN_ANCESTORS = ["ed582a9d-87c5-4036-ba16-c9dcbc6d762e", "1471845d-8c68-48ef-b93e-a84f04b855c8"]
CHAIN_END = "a65d00c8-8a6f-4430-be65-c0dba16065f4"
UNKNOWN_ID = "ab4f28bf-5e3d-4ff8-af6f-bc6aef711517"
LATEST_EXAMPLE_ID = "53695be6-262b-41ab-b17f-6ed0a1d63e82"


def _source(*, app: bool = True) -> dict:
    source = {
        "host": match.str("contracts.harness.local"),
        "type": match.regex("agent", regex=p.SOURCE_TYPE),
    }
    if app:
        source["app"] = match.str("candybar-contract")
    return source


def _agent(session_id: str | None) -> dict:
    agent = {"type": match.regex("claude", regex=p.AGENT_TYPE), "name": match.str("candybar-contract")}
    if session_id is not None:
        agent["session_id"] = match.str(session_id)
    return agent


def stored_event(
    event_id: str,
    event_type: str,
    *,
    minute: int,
    correlation_ids: object,
    agent: dict | None,
    app: bool = True,
) -> dict:
    """One event as Candystore returns it: the envelope as published plus ``stored_at``."""
    body = {
        "event_id": p.uuid(event_id),
        "event_type": p.event_type(event_type),
        "timestamp": p.timestamp(fixed_time(minute)),
        "version": p.version("1.0.0"),
        "source": _source(app=app),
        "correlation_ids": correlation_ids,
        "payload": match.like({}),
        "stored_at": p.timestamp("2025-03-01T12:30:00.000000Z"),
    }
    if agent is not None:
        body["agent_context"] = agent
    return body


def session_item(event_id: str, minute: int) -> dict:
    return stored_event(
        event_id,
        "agent.tool.invoked.v1",
        minute=minute,
        correlation_ids=p.array_of(p.uuid(EVENT_PARENTS[0]), min=0),
        agent=_agent(SESSION_ID),
    )


def page(events: object, *, total: int, limit: int, offset: int, has_more: object) -> dict:
    return {
        "events": events,
        "total": match.int(total),
        "limit": limit,
        "offset": offset,
        "has_more": has_more,
    }


def candybar_pact() -> Pact:
    """Every request Candybar makes to Candystore, and what it needs in each answer."""
    pact = Pact(CONSUMER, PROVIDER).with_specification("V4")
    session_state = {"session_id": SESSION_ID, "event_ids": SESSION_EVENTS}

    (
        pact.upon_receiving("a request for the first page of a session's events")
        .given("events for session {session_id} exist", session_state)
        .with_request("GET", "/events")
        .with_query_parameters({"session_id": SESSION_ID, "limit": "2", "offset": "0"})
        .will_respond_with(200)
        .with_body(
            page(
                p.array_of(
                    session_item(SESSION_EVENTS[2], 2), p.example(session_item(SESSION_EVENTS[1], 1)), min=2
                ),
                total=3,
                limit=2,
                offset=0,
                has_more=True,
            ),
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("a request for the last page of a session's events")
        .given("events for session {session_id} exist", session_state)
        .with_request("GET", "/events")
        .with_query_parameters({"session_id": SESSION_ID, "limit": "2", "offset": "2"})
        .will_respond_with(200)
        .with_body(
            page(
                p.array_of(session_item(SESSION_EVENTS[0], 0), min=1),
                total=3,
                limit=2,
                offset=2,
                has_more=False,
            ),
            content_type="application/json",
        )
    )
    latest = stored_event(
        LATEST_EXAMPLE_ID,
        "agent.thread.prompt.v1",
        minute=40,
        correlation_ids=p.array_of(p.uuid(EVENT_PARENTS[0]), min=0),
        agent=None,  # optional in the envelope: the latest events of a store need not carry one
        app=False,
    )
    (
        pact.upon_receiving("a request for the latest events")
        .given("events exist")
        .with_request("GET", "/events")
        .with_query_parameter("limit", "5")
        .will_respond_with(200)
        .with_body(
            page(p.array_of(latest, min=1), total=1, limit=5, offset=0, has_more=match.bool(False)),
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("a request for one event by id")
        .given(
            "an event with id {event_id} exists",
            {"event_id": EVENT_ID, "correlation_ids": EVENT_PARENTS, "session_id": SESSION_ID},
        )
        .with_request("GET", f"/events/{EVENT_ID}")
        .will_respond_with(200)
        .with_body(
            stored_event(
                EVENT_ID,
                "theboard.meeting.comment_extracted.v1",
                minute=10,
                # two parents: a store that keeps only one correlation id breaks this
                correlation_ids=p.array_of(p.uuid(EVENT_PARENTS[0]), EVENT_PARENTS[1], min=2),
                agent=_agent(SESSION_ID),
            ),
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("a request for an unknown event")
        .given("no event with id {event_id} exists", {"event_id": UNKNOWN_ID})
        .with_request("GET", f"/events/{UNKNOWN_ID}")
        .will_respond_with(404)
        .with_body({"detail": match.str(f"event {UNKNOWN_ID} not found")}, content_type="application/json")
    )
    chain_item = stored_event(
        CHAIN_ANCESTORS[0],
        "theboard.meeting.round_completed.v1",
        minute=20,
        correlation_ids=p.array_of(p.uuid(CHAIN_ANCESTORS[0]), min=0),
        agent=_agent(None),
    )
    (
        pact.upon_receiving("a request for the trace of an event")
        .given(
            "a chain of events ending in {event_id}", {"event_id": CHAIN_END, "ancestor_ids": CHAIN_ANCESTORS}
        )
        .with_request("GET", f"/events/trace/{CHAIN_END}")
        .will_respond_with(200)
        .with_body(
            {
                "root_event_ids": p.array_of(p.uuid(CHAIN_ANCESTORS[0]), min=1),
                "events": p.array_of(
                    chain_item,
                    p.example(chain_item)
                    | {"event_id": CHAIN_ANCESTORS[1], "correlation_ids": CHAIN_ANCESTORS[:1]},
                    p.example(chain_item) | {"event_id": CHAIN_END, "correlation_ids": CHAIN_ANCESTORS[1:]},
                    min=3,
                ),
                "edges": p.array_of(
                    {"parent": p.uuid(CHAIN_ANCESTORS[0]), "child": p.uuid(CHAIN_ANCESTORS[1])},
                    {"parent": CHAIN_ANCESTORS[1], "child": CHAIN_END},
                    min=2,
                ),
                "missing_parents": [],
            },
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("a request for events with an invalid limit")
        .with_request("GET", "/events")
        .with_query_parameter("limit", "0")
        .will_respond_with(422)
    )
    (
        pact.upon_receiving("a health check")
        .with_request("GET", "/health")
        .will_respond_with(200)
        .with_body(
            {
                "status": match.regex("ok", regex="^(ok|degraded)$"),
                "version": match.str("1.0.0"),
                "database": match.regex("up", regex="^(up|down)$"),
                "broker": match.regex("up", regex="^(up|down)$"),
            },
            content_type="application/json",
        )
    )
    return pact


def test_candybar_reads_candystore_through_the_contract() -> None:
    """Candybar's client reads every answer of the Candybar -> Candystore contract"""
    pact = candybar_pact()
    with pact.serve(addr="127.0.0.1") as server:
        client = CandybarClient(str(server.url))
        try:
            first = client.session(SESSION_ID, limit=2, offset=0)
            assert [row.event_id for row in first.rows] == SESSION_EVENTS[:0:-1]
            assert first.has_more and first.total == 3 and first.rows[0].session_id == SESSION_ID
            last = client.session(SESSION_ID, limit=2, offset=2)
            assert not last.has_more and [row.event_id for row in last.rows] == SESSION_EVENTS[:1]

            latest = client.latest(limit=5)
            assert latest.rows and latest.rows[0].agent is None

            event = client.event(EVENT_ID)
            assert event.parents == tuple(EVENT_PARENTS) and event.agent == "candybar-contract"
            assert event.source == "candybar-contract@contracts.harness.local (agent)"
            with pytest.raises(EventNotFound):
                client.event(UNKNOWN_ID)

            trace = client.trace(CHAIN_END)
            assert trace.roots == CHAIN_ANCESTORS[:1] and not trace.missing_parents
            assert [row.event_id for row in trace.rows] == [*CHAIN_ANCESTORS, CHAIN_END]
            assert trace.edges[-1] == (CHAIN_ANCESTORS[1], CHAIN_END)

            with pytest.raises(InvalidQuery):
                client.latest(limit=0)
            assert client.health()["database"] == "up"
        finally:
            client.close()


def test_committed_candybar_pact_is_current(tmp_path: Path) -> None:
    """The committed Candybar -> Candystore pact is what the consumer test writes (no drift)"""
    candybar_pact().write_file(tmp_path, overwrite=True)
    drift = check_or_update(tmp_path / PACT_FILE.name, PACT_FILE)
    assert not drift, f"{PACT_FILE.name} differs from the consumer's contract; {REFRESH_HINT}\n{drift}"
