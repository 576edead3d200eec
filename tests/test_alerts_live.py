"""The SLO alerts proven live on the embedded stack (about 2.5 minutes, so on demand: HARNESS_LIVE_ALERTS=1).

A private Prometheus scrapes the stack every second with contracts/prometheus/rules.yml loaded:

- after a burst, Prometheus's SLIs agree with the harness's own measurement (publish and storage success
  exactly; end-to-end p99 within the histogram bucket that holds the measured one; DLQ size exactly);
- a broker outage makes BrokerRecoveryTooSlow go pending, then firing once its ``for: 30s`` has passed, and
  it resolves after the broker is back;
- a poison storm of 1,001 undecodable messages makes DeadLetterQueueLarge fire after its ``for: 1m``; it
  resolves once the DLQ is emptied.

The timings are printed (run with ``-s``) and asserted against each alert's window.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pika
import pytest

from harness.backends import wait_until
from harness.config import Settings
from harness.stack import Stack
from holyfields import make_envelope

pytestmark = [
    pytest.mark.integration,
    pytest.mark.internal,
    pytest.mark.skipif(
        os.environ.get("HARNESS_LIVE_ALERTS", "") not in ("1", "true", "yes"),
        reason="on demand (about 2.5 min): HARNESS_LIVE_ALERTS=1 pytest tests/test_alerts_live.py -s",
    ),
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not found (apt-get install)"),
]
BURST = 60
STORM = 1001
#: end-to-end latency histogram buckets of the reference Candystore (seconds)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    settings = Settings.resolve({"backend": "local"}, environ={})
    with Stack(settings, prometheus=True) as running:
        yield running


def _watch(prometheus: Any, alert: str, until: str, timeout: float) -> float:
    """Seconds until ``alert`` reaches state ``until`` (polled every 0.5 s)."""
    began = time.monotonic()
    wait_until(lambda: prometheus.alert_state(alert) == until, timeout=timeout, interval=0.5, describe=alert)
    return time.monotonic() - began


def _bucket_width(value_s: float) -> float:
    lower = 0.0
    for upper in BUCKETS:
        if value_s <= upper:
            return upper - lower
        lower = upper
    return float("inf")


def test_prometheus_slis_agree_with_the_harness(stack: Stack) -> None:
    info = stack.info()
    prometheus = stack.prometheus
    wait_until(lambda: set(prometheus.targets_health().values()) == {"up"}, timeout=20, interval=0.5)
    headers = {"X-API-Key": info["api_key"]} if info.get("api_key") else {}
    events = []
    with httpx.Client(base_url=info["bloodbank_url"], headers=headers, timeout=30) as http:
        accepted = 0
        for _ in range(BURST):
            response = http.post("/events", json=make_envelope("n8n.workflow.completed.v1"))
            accepted += response.status_code == 202
            events.append(response.json()["event_id"])
    latencies = []
    with httpx.Client(base_url=info["candystore_url"], timeout=10) as http:
        for event_id in events:
            wait_until(lambda i=event_id: http.get(f"/events/{i}").status_code == 200, timeout=20)
            row = http.get(f"/events/{event_id}").json()
            stored = datetime.fromisoformat(row["stored_at"].replace("Z", "+00:00"))
            sent = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
            latencies.append((stored - sent).total_seconds())
    measured_p99 = sorted(latencies)[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    stored_expr = f"sum(candystore_events_stored_total) >= {BURST}"
    wait_until(lambda: bool(prometheus.query(stored_expr)), timeout=20, interval=0.5)
    wait_until(lambda: prometheus.slis()["e2e_latency_p99_ms"] is not None, timeout=10, interval=0.5)
    slis = prometheus.slis()
    print(f"\nharness: publish {100 * accepted / BURST:.2f} %, e2e p99 {1000 * measured_p99:.1f} ms, dlq 0")
    print(f"prometheus: {slis}")
    assert slis["publish_success_rate"] == pytest.approx(100 * accepted / BURST, abs=0.01)
    assert slis["storage_success_rate"] == pytest.approx(100.0, abs=0.01)
    tolerance_ms = 1000 * _bucket_width(measured_p99)
    assert abs(slis["e2e_latency_p99_ms"] - 1000 * measured_p99) <= tolerance_ms, (slis, measured_p99)
    assert slis["dlq_size"] == 0


def test_broker_outage_fires_broker_recovery_too_slow_and_resolves(stack: Stack) -> None:
    prometheus = stack.prometheus
    assert prometheus.alert_state("BrokerRecoveryTooSlow") == "inactive"
    assert stack.backend is not None
    began = time.monotonic()
    stack.backend.rabbitmq.stop()  # graceful: returns after the node has shut down (seconds)
    stopped = time.monotonic() - began
    try:
        _watch(prometheus, "BrokerRecoveryTooSlow", "pending", 15)
        pending = time.monotonic() - began
        _watch(prometheus, "BrokerRecoveryTooSlow", "firing", 45)
        firing = time.monotonic() - began
    finally:
        stack.backend.rabbitmq.start()
    back = time.monotonic()
    resolved = _watch(prometheus, "BrokerRecoveryTooSlow", "inactive", 45)
    print(
        f"\nBrokerRecoveryTooSlow: broker stopped in {stopped:.1f} s; alert pending by {pending:.1f} s, "
        f"firing at {firing:.1f} s after the stop began; resolved {resolved:.1f} s after the broker was back "
        f"(outage {back - began:.1f} s)"
    )
    assert pending <= stopped + 5, (stopped, pending)
    assert 30 <= firing <= stopped + 30 + 10, (stopped, firing)


def test_poison_storm_fires_dead_letter_queue_large_and_resolves(stack: Stack) -> None:
    prometheus = stack.prometheus
    info = stack.info()
    dlq = info["dlq"]
    wait_until(lambda: httpx.get(f"{info['candystore_url']}/readyz").status_code == 200, timeout=60)
    connection = pika.BlockingConnection(pika.URLParameters(info["amqp_url"]))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        began = time.monotonic()
        for _ in range(STORM):
            channel.basic_publish(
                info["exchange"],
                "n8n.workflow.completed.v1",
                f"poison {uuid.uuid4()}".encode(),
                pika.BasicProperties(message_id=str(uuid.uuid4()), delivery_mode=2),
                mandatory=True,
            )

        def dlq_count() -> int:
            return channel.queue_declare(dlq, passive=True).method.message_count

        wait_until(lambda: dlq_count() >= STORM, timeout=60, interval=0.5, describe="storm dead-lettered")
        wait_until(lambda: prometheus.slis()["dlq_size"] == dlq_count(), timeout=10, interval=0.5)
        pending = _watch(prometheus, "DeadLetterQueueLarge", "pending", 30)
        firing = _watch(prometheus, "DeadLetterQueueLarge", "firing", 90)
        firing_after = time.monotonic() - began
        channel.queue_purge(dlq)
        resolved = _watch(prometheus, "DeadLetterQueueLarge", "inactive", 30)
    finally:
        connection.close()
    print(
        f"\nDeadLetterQueueLarge: pending, then firing {firing:.1f} s later ({firing_after:.1f} s after the "
        f"storm began); resolved {resolved:.1f} s after the DLQ was emptied"
    )
    assert pending < 30 and 55 <= firing <= 75, (pending, firing)
