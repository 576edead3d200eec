"""Causation chains through Candystore's trace API: chains, diamonds, fan-out, late and missing parents.

The graphs are published once per module through Bloodbank (parents in the body: the header route is the
e2e suite's check, so a Bloodbank ignoring ``X-Parent-Event-Id`` is named there once, not here as broken
traces) and checked from several events of each graph; the correlation-integrity figure of SPEC §5 is
computed over the graphs that are meant to be complete.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from harness.triage import require
from holyfields import make_envelope
from scenarios import fetch_stored

pytestmark = [pytest.mark.correlation, pytest.mark.needs("trace")]


@dataclass
class Graph:
    """Published events of one causation graph: name -> envelope, and the expected edges."""

    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)

    def id(self, name: str) -> str:
        return self.events[name]["event_id"]

    @property
    def ids(self) -> set[str]:
        return {e["event_id"] for e in self.events.values()}


@dataclass
class Graphs:
    complete: dict[str, Graph]
    missing: dict[str, Graph]
    absent_parents: dict[str, str]  # name -> id referenced but never published
    stored: dict[str, dict[str, Any]]


def _at(base: datetime, seconds: int) -> str:
    return (base + timedelta(seconds=seconds)).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _publish(bloodbank: Any, envelope: dict[str, Any], headers: Any = None) -> None:
    response = bloodbank.publish(envelope, headers=headers)
    assert bloodbank.accepted(response), (
        f"valid event rejected at publish: {response.status_code} {response.text[:300]}"
    )


def _build(graph: Graph, base: datetime, spec: list[tuple[str, list[str]]]) -> None:
    """Envelopes for ``[(name, [parent names])]`` in causal order, one second apart."""
    for index, (name, parents) in enumerate(spec):
        envelope = make_envelope(
            "theboard.meeting.comment_extracted.v1",
            timestamp=_at(base, index),
            correlation_ids=[graph.id(p) for p in parents],
            source={"host": "harness", "type": "agent", "app": "harness-correlation"},
        )
        graph.events[name] = envelope
        graph.edges |= {(graph.id(p), envelope["event_id"]) for p in parents}


@pytest.fixture(scope="module")
def graphs(bloodbank: Any, candystore: Any, request: pytest.FixtureRequest) -> Graphs:
    require(request, "publish", "read_by_id", "trace")
    base = datetime.now(UTC) - timedelta(hours=1)
    complete: dict[str, Graph] = {name: Graph() for name in ("chain", "diamond", "fan_out", "late_parent")}
    _build(
        complete["chain"], base, [("c0", []), ("c1", ["c0"]), ("c2", ["c1"]), ("c3", ["c2"]), ("c4", ["c3"])]
    )
    _build(complete["diamond"], base, [("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])])
    _build(complete["fan_out"], base, [("r", [])] + [(f"k{i}", ["r"]) for i in range(4)])
    _build(complete["late_parent"], base, [("p", []), ("child", ["p"]), ("grandchild", ["child"])])

    for envelope in complete["chain"].events.values():
        _publish(bloodbank, envelope)
    diamond = complete["diamond"]
    for name in ("a", "b", "c", "d"):
        _publish(bloodbank, diamond.events[name])
    for envelope in complete["fan_out"].events.values():
        _publish(bloodbank, envelope)
    late = complete["late_parent"]
    for name in ("grandchild", "child", "p"):  # children arrive before their parents
        _publish(bloodbank, late.events[name])

    absent = {"x": str(uuid.uuid4()), "y": str(uuid.uuid4())}
    missing = {"orphan": Graph(), "half": Graph()}
    orphan = make_envelope("agent.tool.invoked.v1", timestamp=_at(base, 0), correlation_ids=[absent["x"]])
    missing["orphan"].events["m1"] = orphan
    half = missing["half"]
    _build(half, base, [("stored_parent", [])])
    m2 = make_envelope(
        "agent.tool.invoked.v1",
        timestamp=_at(base, 5),
        correlation_ids=[half.id("stored_parent"), absent["y"]],
    )
    half.events["m2"] = m2
    half.edges.add((half.id("stored_parent"), m2["event_id"]))
    for graph in missing.values():
        for envelope in graph.events.values():
            _publish(bloodbank, envelope)

    every = [eid for g in [*complete.values(), *missing.values()] for eid in g.ids]
    stored, lost = fetch_stored(candystore, every)
    assert not lost, f"{len(lost)} accepted events never stored (lost): {sorted(lost)[:5]}"
    return Graphs(complete, missing, absent, stored)


def trace_of(candystore: Any, event_id: str) -> dict[str, Any]:
    response = candystore.trace(event_id)
    assert response.status_code != 404, (
        f"no trace endpoint, or it does not know a stored event: GET /events/trace/{event_id} answered 404"
    )
    assert response.status_code == 200, (
        f"trace query failed: GET /events/trace/{event_id} answered {response.status_code} "
        f"{response.text[:200]}"
    )
    body = response.json()
    for key in ("root_event_ids", "events", "edges", "missing_parents"):
        assert key in body, f"trace answer omits {key!r} (SPEC §4): keys {sorted(body)}"
    return body


def _ids(trace: dict[str, Any]) -> list[str]:
    return [str(e.get("event_id", "")).lower() for e in trace["events"]]


def _edges(trace: dict[str, Any]) -> set[tuple[str, str]]:
    return {(str(e["parent"]).lower(), str(e["child"]).lower()) for e in trace["edges"]}


def _check_whole_graph(candystore: Any, graph: Graph, from_name: str) -> None:
    trace = trace_of(candystore, graph.id(from_name))
    ids = _ids(trace)
    assert set(ids) == graph.ids, (
        f"trace from {from_name} is not the whole causation graph: "
        f"missing {sorted(graph.ids - set(ids))}, unexpected {sorted(set(ids) - graph.ids)}"
    )
    assert len(ids) == len(set(ids)), f"trace lists an event twice: {ids}"
    assert _edges(trace) == graph.edges, (
        f"trace edges wrong from {from_name}: missing {sorted(graph.edges - _edges(trace))}, "
        f"unexpected {sorted(_edges(trace) - graph.edges)}"
    )
    assert trace["missing_parents"] == [], (
        f"parents reported missing although stored: {trace['missing_parents']}"
    )
    roots = {eid for eid in graph.ids if not any(child == eid for _, child in graph.edges)}
    assert {str(r).lower() for r in trace["root_event_ids"]} == roots, (
        f"trace root_event_ids {trace['root_event_ids']} are not the events without parents {sorted(roots)}"
    )
    stamps = [e.get("timestamp", "") for e in trace["events"]]
    assert stamps == sorted(stamps), "trace events are not oldest first"


@pytest.mark.parametrize("from_name", ["c0", "c2", "c4"])
def test_chain_trace_is_the_whole_chain(graphs: Graphs, candystore: Any, from_name: str) -> None:
    """Trace of a causation chain incomplete, with wrong edges or roots."""
    _check_whole_graph(candystore, graphs.complete["chain"], from_name)


@pytest.mark.parametrize("from_name", ["a", "d"])
def test_diamond_trace_has_every_path(graphs: Graphs, candystore: Any, from_name: str) -> None:
    """Trace of a diamond (two parents joined again) loses a path or an edge."""
    _check_whole_graph(candystore, graphs.complete["diamond"], from_name)


def test_diamond_middle_sees_ancestors_and_descendants(graphs: Graphs, candystore: Any) -> None:
    """Trace from the middle of a diamond misses an ancestor or a descendant."""
    diamond = graphs.complete["diamond"]
    trace = trace_of(candystore, diamond.id("b"))
    ids = set(_ids(trace))
    expected = {diamond.id("a"), diamond.id("b"), diamond.id("d")}
    assert expected <= ids, f"trace from b lacks {sorted(expected - ids)} (ancestor a, descendant d)"
    assert {(diamond.id("a"), diamond.id("b")), (diamond.id("b"), diamond.id("d"))} <= _edges(trace), (
        f"trace from b lacks the edges a->b and b->d: {sorted(_edges(trace))}"
    )


def test_fan_out_trace_and_correlation_filter(graphs: Graphs, candystore: Any) -> None:
    """Children of an event not found through correlation_id / trace (fan-out)."""
    fan = graphs.complete["fan_out"]
    _check_whole_graph(candystore, fan, "r")
    leaf = trace_of(candystore, fan.id("k2"))  # a child sees its parent, not its siblings
    assert set(_ids(leaf)) == {fan.id("r"), fan.id("k2")}, (
        f"trace from one child should be the child and its parent only, got {_ids(leaf)}"
    )
    assert _edges(leaf) == {(fan.id("r"), fan.id("k2"))}, f"trace edges from one child: {_edges(leaf)}"
    response = candystore.list_events(correlation_id=fan.id("r"), limit=100)
    assert response.status_code == 200, f"GET /events?correlation_id= failed: {response.status_code}"
    listed = {e["event_id"] for e in response.json()["events"]}
    children = fan.ids - {fan.id("r")}
    assert listed == children, (
        f"GET /events?correlation_id=<root> should list exactly its 4 children: "
        f"missing {sorted(children - listed)}, unexpected {sorted(listed - children)}"
    )


def test_parent_stored_after_its_child_resolves(graphs: Graphs, candystore: Any) -> None:
    """A parent stored after its child stays reported missing (stale missing_parents)."""
    _check_whole_graph(candystore, graphs.complete["late_parent"], "grandchild")


def test_missing_parents_are_reported(graphs: Graphs, candystore: Any) -> None:
    """Missing parents not reported in the trace's missing_parents."""
    orphan = graphs.missing["orphan"]
    trace = trace_of(candystore, orphan.id("m1"))
    assert [str(p).lower() for p in trace["missing_parents"]] == [graphs.absent_parents["x"]], (
        f"parent never stored not reported missing: missing_parents={trace['missing_parents']}"
    )
    assert _ids(trace) == [orphan.id("m1")], f"trace of an orphan lists {_ids(trace)}"
    assert orphan.id("m1") in {str(r).lower() for r in trace["root_event_ids"]}, (
        "an event whose only parent is missing is not a root of its trace"
    )

    half = graphs.missing["half"]
    trace = trace_of(candystore, half.id("m2"))
    assert [str(p).lower() for p in trace["missing_parents"]] == [graphs.absent_parents["y"]], (
        f"of two parents, the missing one is not the one reported: missing_parents={trace['missing_parents']}"
    )
    assert set(_ids(trace)) == half.ids, f"trace lacks the stored parent: {_ids(trace)}"
    assert (half.id("stored_parent"), half.id("m2")) in _edges(trace), "edge to the stored parent missing"


def test_trace_of_an_unknown_event_is_404(candystore: Any) -> None:
    """Trace of an unknown event not answered 404."""
    response = candystore.trace(str(uuid.uuid4()))
    assert response.status_code == 404, f"trace of an unknown event answered {response.status_code}"


def test_correlation_ids_are_stored_as_published(graphs: Graphs) -> None:
    """Correlation ids never populated (or reduced) in storage."""
    published = {
        e["event_id"]: e["correlation_ids"]
        for g in [*graphs.complete.values(), *graphs.missing.values()]
        for e in g.events.values()
    }
    with_parents = {eid: parents for eid, parents in published.items() if parents}
    populated = {eid for eid in with_parents if graphs.stored[eid].get("correlation_ids")}
    assert populated, (
        f"correlation ids never populated: all {len(with_parents)} events published with parents "
        "were stored with empty correlation_ids"
    )
    wrong = {
        eid: graphs.stored[eid].get("correlation_ids")
        for eid, parents in with_parents.items()
        if sorted(str(p).lower() for p in graphs.stored[eid].get("correlation_ids") or []) != sorted(parents)
    }
    assert not wrong, (
        f"correlation_ids stored differently from what was published: {dict(list(wrong.items())[:3])}"
    )


def test_correlation_integrity(graphs: Graphs, candystore: Any, run_report: Any) -> None:
    """Correlation integrity below 100 %: events whose parents do not all resolve."""
    unresolved: dict[str, str] = {}
    total = 0
    for graph in graphs.complete.values():
        for envelope in graph.events.values():
            total += 1
            event_id = envelope["event_id"]
            stored_parents = [str(p).lower() for p in graphs.stored[event_id].get("correlation_ids") or []]
            if sorted(stored_parents) != sorted(envelope["correlation_ids"]):
                unresolved[event_id] = f"stored parents {stored_parents} != published"
                continue
            lost = [p for p in stored_parents if candystore.get_event(p).status_code != 200]
            if lost:
                unresolved[event_id] = f"parents not found: {lost}"
                continue
            trace = candystore.trace(event_id)
            if trace.status_code != 200:
                unresolved[event_id] = f"GET /events/trace/{event_id} answered {trace.status_code}"
            elif trace.json().get("missing_parents"):
                unresolved[event_id] = (
                    f"trace reports stored parents missing: {trace.json()['missing_parents']}"
                )
    value = round(100.0 * (total - len(unresolved)) / total, 2)
    run_report.add_sli("correlation integrity", value, slo="100 %", ok=value == 100.0, unit=" %")
    assert value == 100.0, (
        f"correlation integrity {value} % (SLO 100 %): {len(unresolved)} of {total} events with "
        f"unresolved parents, e.g. {dict(list(unresolved.items())[:3])}"
    )


def test_causation_cycles_do_not_break_the_trace(bloodbank: Any, candystore: Any) -> None:
    """Trace of a causation cycle (or a self-parent) loops, times out or answers 5xx."""
    first, second, selfish = (str(uuid.uuid4()) for _ in range(3))
    for event_id, parents in [(first, [second]), (second, [first]), (selfish, [selfish])]:
        _publish(
            bloodbank, make_envelope("agent.tool.invoked.v1", event_id=event_id, correlation_ids=parents)
        )
    fetch_stored(candystore, [first, second, selfish])
    for event_id, members in [(first, {first, second}), (selfish, {selfish})]:
        began = time.monotonic()
        trace = trace_of(candystore, event_id)
        elapsed = time.monotonic() - began
        ids = _ids(trace)
        assert elapsed < 5, f"trace of a causation cycle took {elapsed:.1f} s"
        assert set(ids) == members and len(ids) == len(members), (
            f"trace of a causation cycle lists {ids}, expected each of {sorted(members)} once"
        )
        assert trace["missing_parents"] == [], f"cycle members reported missing: {trace['missing_parents']}"
