"""``GET /events/trace/{id}``: ancestors and descendants through correlation_ids (SPEC §4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from .helpers import Deployment, envelope, iso

pytestmark = [pytest.mark.integration, pytest.mark.correlation]

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _publish_graph(deployment: Deployment, parents: dict[str, list[str]]) -> dict[str, str]:
    """Publish one event per name (in the given order, one second apart); returns name -> event_id."""
    ids = {name: str(uuid.uuid4()) for name in parents}
    for extra in {p for ps in parents.values() for p in ps} - set(ids):
        ids[extra] = str(uuid.uuid4())  # referenced but never published
    events = []
    for index, (name, names) in enumerate(parents.items()):
        events.append(
            envelope(
                "agent.tool.invoked.v1",
                event_id=ids[name],
                timestamp=iso(T0 + timedelta(seconds=index)),
                correlation_ids=[ids[p] for p in names],
            )
        )
    for event in reversed(events):  # children before parents: storage order must not matter
        deployment.publish(event)
    deployment.wait_stored([e["event_id"] for e in events])
    return ids


def _trace(deployment: Deployment, event_id: str) -> dict:
    response = deployment.get(f"/events/trace/{event_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _names(ids: dict[str, str], values: list[str]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[v] for v in values]


def _edges(ids: dict[str, str], trace: dict) -> set[tuple[str, str]]:
    by_id = {v: k for k, v in ids.items()}
    return {(by_id[e["parent"]], by_id[e["child"]]) for e in trace["edges"]}


def test_chain(deployment: Deployment) -> None:
    ids = _publish_graph(deployment, {"a": [], "b": ["a"], "c": ["b"], "d": ["c"]})
    for name in "abcd":
        trace = _trace(deployment, ids[name])
        assert _names(ids, [e["event_id"] for e in trace["events"]]) == ["a", "b", "c", "d"]
        assert _names(ids, trace["root_event_ids"]) == ["a"]
        assert _edges(ids, trace) == {("a", "b"), ("b", "c"), ("c", "d")}
        assert trace["missing_parents"] == []
    assert all("stored_at" in e and "payload" in e for e in trace["events"])


def test_diamond(deployment: Deployment) -> None:
    ids = _publish_graph(deployment, {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]})
    trace = _trace(deployment, ids["d"])
    assert _names(ids, [e["event_id"] for e in trace["events"]]) == ["a", "b", "c", "d"]
    assert _edges(ids, trace) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}
    assert _names(ids, trace["root_event_ids"]) == ["a"]
    top = _trace(deployment, ids["a"])
    assert len(top["events"]) == 4 and len(top["edges"]) == 4
    side = _trace(deployment, ids["b"])  # its sibling c is neither ancestor nor descendant
    assert _names(ids, [e["event_id"] for e in side["events"]]) == ["a", "b", "d"]
    assert _edges(ids, side) == {("a", "b"), ("b", "d")}


def test_chain_with_a_missing_parent(deployment: Deployment) -> None:
    ids = _publish_graph(deployment, {"b": ["ghost"], "c": ["b"], "d": ["c"]})
    trace = _trace(deployment, ids["d"])
    assert _names(ids, [e["event_id"] for e in trace["events"]]) == ["b", "c", "d"]
    assert _names(ids, trace["missing_parents"]) == ["ghost"]
    assert _names(ids, trace["root_event_ids"]) == ["b"]
    assert _edges(ids, trace) == {("ghost", "b"), ("b", "c"), ("c", "d")}


def test_cycle_terminates(deployment: Deployment) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    deployment.publish(envelope("agent.tool.invoked.v1", event_id=a, correlation_ids=[b]))
    deployment.publish(envelope("agent.tool.invoked.v1", event_id=b, correlation_ids=[a]))
    deployment.wait_stored([a, b])
    trace = _trace(deployment, a)
    assert {e["event_id"] for e in trace["events"]} == {a, b}
    assert trace["root_event_ids"] == []


def test_trace_errors(deployment: Deployment) -> None:
    assert deployment.get(f"/events/trace/{uuid.uuid4()}").status_code == 404
    bad = deployment.get("/events/trace/xyz")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "event_id"]
