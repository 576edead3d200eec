"""Fault injection on the real servers: no loss, no duplicate, no dead letter, no restart (SPEC §4, §5)."""

from __future__ import annotations

import time

import httpx
import pytest

from harness.backends import Backend, wait_until

from .helpers import Deployment, envelope

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.internal]

FAST_RETRY = {"CANDYSTORE_BACKOFF_INITIAL_MS": "50", "CANDYSTORE_BACKOFF_MAX_MS": "1000"}


def _health(dep: Deployment) -> dict:
    try:
        return httpx.get(dep.url + "/health", timeout=5).json()
    except httpx.HTTPError:
        return {}


def _metric(dep: Deployment, name: str) -> float:
    for line in httpx.get(dep.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _publish_paced(dep: Deployment, events: list[dict], seconds: float) -> None:
    """Spread the events evenly over ``seconds`` of wall-clock time (load shaping, not synchronisation)."""
    began = time.monotonic()
    for index, event in enumerate(events):
        due = began + seconds * index / len(events)
        while time.monotonic() < due:
            time.sleep(max(0.0, min(0.01, due - time.monotonic())))
        dep.publish(event)


def test_postgres_outage_while_1000_events_arrive(deployment_factory, backend: Backend) -> None:
    dep: Deployment = deployment_factory(**FAST_RETRY)
    assert dep.service is not None and dep.service.proc is not None
    pid = dep.service.proc.pid
    events = [envelope("github.pr.opened.v1") for _ in range(1000)]
    ids = [e["event_id"] for e in events]
    for event in events[:100]:
        dep.publish(event)
    dep.wait_stored(ids[:100])
    try:
        backend.postgres.stop()
        wait_until(
            lambda: _health(dep).get("database") == "down", timeout=10, describe="health: database down"
        )
        _publish_paced(dep, events[100:], seconds=10.0)
        assert dep.queue_depth(dep.topology.dlq) == 0
        assert _health(dep)["database"] == "down"
    finally:
        backend.postgres.start()
    dep.wait_stored(ids, timeout=60)
    dep.wait_drained()
    assert dep.stored_count(ids) == 1000
    assert dep.queue_depth(dep.topology.dlq) == 0
    assert dep.service.proc is not None and dep.service.proc.pid == pid and dep.service.proc.poll() is None
    assert _metric(dep, "candystore_events_stored_total") == 1000
    wait_until(dep.ready, timeout=10, describe="readyz 200 after the outage")


def test_sigkill_in_the_middle_of_a_batch_loses_and_duplicates_nothing(deployment_factory) -> None:
    dep: Deployment = deployment_factory(CANDYSTORE_BATCH_SIZE="250", CANDYSTORE_PREFETCH="500", **FAST_RETRY)
    dep.stop()  # let a backlog build up while nobody consumes
    events = [envelope("github.pr.opened.v1") for _ in range(5000)]
    ids = [e["event_id"] for e in events]
    for event in events:
        dep.publish(event)
    assert dep.queue_depth() == 5000
    dep.start()
    wait_until(lambda: dep.stored_count() > 0, timeout=30, interval=0.005, describe="first batch committed")
    assert dep.service is not None
    dep.service.kill()
    before = dep.stored_count()
    assert 0 < before < 5000, f"the kill came too late ({before} stored)"
    dep.start()
    dep.wait_stored(ids, timeout=60)
    dep.wait_drained()
    assert dep.stored_count() == 5000
    assert dep.queue_depth(dep.topology.dlq) == 0
    # exactly once: the restarted process inserted precisely the rows that were missing
    assert _metric(dep, "candystore_events_stored_total") == 5000 - before


def test_broker_restart_resumes_consumption(deployment_factory, backend: Backend) -> None:
    dep: Deployment = deployment_factory(**FAST_RETRY)
    first = [envelope("github.pr.opened.v1") for _ in range(50)]
    for event in first:
        dep.publish(event)
    dep.wait_stored([e["event_id"] for e in first])
    try:
        backend.rabbitmq.stop()
        wait_until(lambda: _health(dep).get("broker") == "down", timeout=10, describe="health: broker down")
    finally:
        backend.rabbitmq.start()
        dep.reconnect()
    wait_until(dep.ready, timeout=30, describe="readyz 200 after the broker restart")
    second = [envelope("github.pr.opened.v1") for _ in range(50)]
    for event in second:
        dep.publish(event)
    dep.wait_stored([e["event_id"] for e in second])
    assert dep.queue_depth(dep.topology.dlq) == 0


def test_frozen_database_times_out_and_recovers(deployment_factory, backend: Backend) -> None:
    """SIGSTOP on PostgreSQL: connections hang instead of failing; timeouts make that a transient fault."""
    dep: Deployment = deployment_factory(CANDYSTORE_DB_TIMEOUT_MS="1000", **FAST_RETRY)
    events = [envelope("github.pr.opened.v1") for _ in range(200)]
    ids = [e["event_id"] for e in events]
    try:
        backend.postgres.pause()
        for event in events:
            dep.publish(event)
        wait_until(
            lambda: _metric(dep, "candystore_transient_failures_total") >= 1,
            timeout=30,
            describe="the consumer's insert timed out",
        )
        assert _health(dep)["database"] == "down"
        assert dep.queue_depth(dep.topology.dlq) == 0
    finally:
        backend.postgres.resume()
    dep.wait_stored(ids, timeout=60)
    dep.wait_drained()
    assert dep.queue_depth(dep.topology.dlq) == 0
