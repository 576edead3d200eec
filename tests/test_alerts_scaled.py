"""Every SLO alert but one fires live on the embedded stack, on a clock 50 times faster than production.

The private Prometheus loads the rules of ``harness/slo.py`` rendered with ``time_scale=0.02``: the same
expressions over the services' real metrics, with every ``for:`` window and every range shrunk 50 times
(``5m`` -> ``6s``, ``10m`` -> ``12s``; ranges never below 3 s, three scrapes). The windows themselves are
proven by ``promtool test rules`` (tests/test_slo.py) and, at full length, by tests/test_alerts_live.py (on
demand). Each phase causes one kind of trouble, watches its alerts go pending -> firing, checks that the
alerts of other troubles stay quiet, then ends the trouble and watches them resolve:

- bad traffic: invalid envelopes (ValidationSuccessRateLow), events whose timestamp is 5 s old
  (EndToEndLatencyHigh) and a poison storm into the exchange (DeadLetterQueueLarge);
- Candystore stopped while events keep coming (CandystoreNotConsuming, QueueDepthGrowing);
- PostgreSQL stopped under traffic (StorageRecoveryTooSlow);
- RabbitMQ stopped under traffic (BrokerRecoveryTooSlow, PublishSuccessRateLow).

The bad-traffic and PostgreSQL phases (about 40 s with the stack) run in the test command; the other two
(about 65 s) on demand with HARNESS_LIVE_ALERTS=1, like the full-length tests.

StorageSuccessRateLow (events dead-lettered after exhausted storage retries) has no black-box trigger
short of a database that rejects one event for good; its promtool case covers it. Run with ``-s`` for the
timings.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pika
import pytest

from harness.backends import wait_until
from harness.config import Settings
from harness.slo import alerts
from harness.stack import Stack
from holyfields import make_envelope

pytestmark = [
    pytest.mark.integration,
    pytest.mark.internal,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not found (apt-get install)"),
]
on_demand = pytest.mark.skipif(
    os.environ.get("HARNESS_LIVE_ALERTS", "") not in ("1", "true", "yes"),
    reason="on demand (about 65 s): HARNESS_LIVE_ALERTS=1 pytest tests/test_alerts_scaled.py -s",
)
SCALE = 0.02
#: seconds an alert may be seen to fire early: its state shows at the next rule evaluation (1 s) and poll
SLACK = 2.5
EVENT_TYPE = "n8n.workflow.completed.v1"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    settings = Settings.resolve({"backend": "local"}, environ={})
    with Stack(settings, prometheus=True, rules_time_scale=SCALE) as running:
        wait_until(
            lambda: set(running.prometheus.targets_health().values()) == {"up"}, timeout=30, interval=0.5
        )
        yield running


def _headers(info: dict[str, Any]) -> dict[str, str]:
    return {"X-API-Key": info["api_key"]} if info.get("api_key") else {}


@contextmanager
def _traffic(
    info: dict[str, Any], make: Callable[[], dict[str, Any]], per_second: float
) -> Iterator[list[int]]:
    """POST ``make()`` to Bloodbank ``per_second`` times a second (open model: a slow answer, e.g. retries
    while the broker is down, does not delay the next) until the block ends; yields the statuses."""
    statuses: list[int] = []
    stop = threading.Event()
    http = httpx.Client(base_url=info["bloodbank_url"], headers=_headers(info), timeout=30)

    def post() -> None:
        try:
            statuses.append(http.post("/events", json=make()).status_code)
        except httpx.HTTPError:
            statuses.append(0)

    def run(pool: ThreadPoolExecutor) -> None:
        while not stop.wait(1 / per_second):
            pool.submit(post)

    with http, ThreadPoolExecutor(max_workers=64) as pool:
        thread = threading.Thread(target=run, args=(pool,), daemon=True)
        thread.start()
        try:
            yield statuses
        finally:
            stop.set()
            thread.join(timeout=5)


class Watch:
    """When each alert was first seen pending and firing, and inactive again, in seconds from the start.

    Every poll records the state of every alert of the table, so a time is right whichever alert is
    being waited for."""

    def __init__(self, stack: Stack) -> None:
        self.prometheus = stack.prometheus
        self.began = time.monotonic()
        self.seen: dict[str, dict[str, float]] = {}
        self.names = [row.alert for row in alerts() if row.alert]

    def poll(self) -> dict[str, str]:
        now = round(time.monotonic() - self.began, 1)
        states = {name: "inactive" for name in self.names}
        for alert in self.prometheus.alerts():
            name = alert["labels"].get("alertname")
            if name in states and states[name] != "firing":
                states[name] = alert["state"]
        for name, state in states.items():
            if state != "inactive" or name in self.seen:
                self.seen.setdefault(name, {}).setdefault(state, now)
        return states

    def until(self, alert: str, state: str, timeout: float) -> float:
        wait_until(
            lambda: self.poll()[alert] == state, timeout=timeout, interval=0.25, describe=f"{alert} {state}"
        )
        return self.seen[alert][state]

    def held(self, alert: str) -> float:
        """Seconds from first seen pending to first seen firing."""
        return self.seen[alert]["firing"] - self.seen[alert]["pending"]

    def quiet(self, *names: str) -> None:
        states = self.poll()
        loud = {name: states[name] for name in names if states[name] != "inactive"}
        assert not loud, f"alerts of another trouble went off: {loud}"


def _invalid() -> dict[str, Any]:
    envelope = make_envelope(EVENT_TYPE)
    del envelope["payload"]
    return envelope


def _late() -> dict[str, Any]:
    stamp = datetime.now(UTC) - timedelta(seconds=5)
    return make_envelope(EVENT_TYPE, timestamp=stamp.isoformat().replace("+00:00", "Z"))


def _valid() -> dict[str, Any]:
    return make_envelope(EVENT_TYPE)


def _report(watch: Watch, phase: str) -> None:
    for alert, times in watch.seen.items():
        print(f"\n{phase}: {alert} {times}")


def test_every_alert_has_a_live_phase_here_or_a_reason() -> None:
    covered = {
        "ValidationSuccessRateLow",
        "EndToEndLatencyHigh",
        "DeadLetterQueueLarge",
        "CandystoreNotConsuming",
        "QueueDepthGrowing",
        "StorageRecoveryTooSlow",
        "BrokerRecoveryTooSlow",
        "PublishSuccessRateLow",
    }
    reasoned = {"StorageSuccessRateLow"}
    assert {row.alert for row in alerts()} == covered | reasoned


def test_bad_traffic_fires_validation_latency_and_dlq_alerts(stack: Stack) -> None:
    info = stack.info()
    watch = Watch(stack)
    connection = pika.BlockingConnection(pika.URLParameters(info["amqp_url"]))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        with _traffic(info, _invalid, 8), _traffic(info, _late, 8), _traffic(info, _valid, 4):
            for _ in range(1001):
                channel.basic_publish(
                    info["exchange"],
                    EVENT_TYPE,
                    f"poison {uuid.uuid4()}".encode(),
                    pika.BasicProperties(message_id=str(uuid.uuid4()), delivery_mode=2),
                )
            dlq = watch.until("DeadLetterQueueLarge", "firing", 30)
            watch.until("EndToEndLatencyHigh", "firing", 40)
            watch.until("ValidationSuccessRateLow", "firing", 50)
            watch.quiet("PublishSuccessRateLow", "BrokerRecoveryTooSlow", "CandystoreNotConsuming")
        channel.queue_purge(info["dlq"])
        for alert in ("DeadLetterQueueLarge", "EndToEndLatencyHigh", "ValidationSuccessRateLow"):
            watch.until(alert, "inactive", 40)
    finally:
        connection.close()
    _report(watch, "bad traffic")
    # each fired after its (scaled) window, not at once: 1m -> 1.2 s, 5m -> 6 s, 10m -> 12 s
    # (within SLACK: the state is seen at the next evaluation and poll)
    assert watch.seen["DeadLetterQueueLarge"]["pending"] < dlq
    assert watch.held("EndToEndLatencyHigh") >= 6 - SLACK
    assert watch.held("ValidationSuccessRateLow") >= 12 - SLACK


@on_demand
def test_candystore_stopped_fires_not_consuming_and_queue_growing(stack: Stack) -> None:
    info = stack.info()
    candystore = stack.services["candystore"]
    watch = Watch(stack)
    candystore.stop()
    try:
        with _traffic(info, _valid, 120) as statuses:
            watch.until("CandystoreNotConsuming", "firing", 40)
            watch.until("QueueDepthGrowing", "firing", 60)
            watch.quiet("BrokerRecoveryTooSlow", "StorageRecoveryTooSlow")
    finally:
        candystore.start()
    watch.until("CandystoreNotConsuming", "inactive", 60)
    watch.until("QueueDepthGrowing", "inactive", 60)
    _report(watch, "candystore stopped")
    assert statuses.count(202) > 1000, "the queue never held 1000 events: the trouble was not made"
    assert watch.held("CandystoreNotConsuming") >= 6 - SLACK
    assert watch.held("QueueDepthGrowing") >= 12 - SLACK


def test_postgres_stopped_fires_storage_recovery_too_slow(stack: Stack) -> None:
    info = stack.info()
    assert stack.backend is not None
    watch = Watch(stack)
    with _traffic(info, _valid, 10):
        wait_until(
            lambda: stack.prometheus.slis()["storage_success_rate"] is not None, timeout=20, interval=0.5
        )
        stack.backend.postgres.stop()
        try:
            watch.until("StorageRecoveryTooSlow", "firing", 40)
            watch.quiet("BrokerRecoveryTooSlow", "PublishSuccessRateLow")
        finally:
            stack.backend.postgres.start()
        watch.until("StorageRecoveryTooSlow", "inactive", 60)
    _report(watch, "postgres stopped")


@on_demand
def test_rabbitmq_stopped_fires_broker_recovery_and_publish_success_alerts(stack: Stack) -> None:
    info = stack.info()
    assert stack.backend is not None
    watch = Watch(stack)
    with _traffic(info, _valid, 10) as statuses:
        stack.backend.rabbitmq.stop()
        try:
            watch.until("BrokerRecoveryTooSlow", "firing", 30)
            watch.until("PublishSuccessRateLow", "firing", 60)
        finally:
            stack.backend.rabbitmq.start()
        watch.until("BrokerRecoveryTooSlow", "inactive", 60)
        watch.until("PublishSuccessRateLow", "inactive", 60)
    _report(watch, "rabbitmq stopped")
    assert 503 in statuses, f"Bloodbank never answered 503 while the broker was down: {sorted(set(statuses))}"
    assert watch.held("PublishSuccessRateLow") >= 6 - SLACK
