"""Prometheus metrics of one Bloodbank app (SPEC §3), in a registry of its own (several apps per process)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

#: reasons of ``bloodbank_validation_failures_total``
VALIDATION_REASONS = (
    "json_invalid",
    "not_an_object",
    "too_large",
    "header_invalid",
    "unknown_event_type",
    "envelope_invalid",
    "payload_invalid",
)
#: statuses of ``bloodbank_events_published_total``
PUBLISH_STATUSES = ("published", "unroutable", "failed")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The counters and histogram of SPEC §3, plus a broker-connected gauge."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, event_types: Iterable[str] = (), broker_up: Callable[[], bool] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.published = Counter(
            "bloodbank_events_published_total",
            "Events handed to the broker, by event type and outcome (published = confirmed by the broker)",
            ["event_type", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bloodbank_publish_latency_seconds",
            "Time from the first publish attempt to the broker's confirm (retries included)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.validation_failures = Counter(
            "bloodbank_validation_failures_total",
            "Requests or batch items rejected before publishing, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.retries = Counter(
            "bloodbank_publish_retries_total",
            "Publish attempts retried after a transient broker failure",
            registry=self.registry,
        )
        self.broker_connected = Gauge(
            "bloodbank_broker_connected",
            "1 while connected to the broker with the topology declared",
            registry=self.registry,
        )
        if broker_up is not None:
            self.broker_connected.set_function(lambda: 1.0 if broker_up() else 0.0)
        for reason in VALIDATION_REASONS:  # every series exists from the start, at 0
            self.validation_failures.labels(reason)
        self._published_children: dict[str, Counter] = {}
        for event_type in event_types:
            for status in PUBLISH_STATUSES:
                self.published.labels(event_type, status)

    def count_published(self, event_type: str) -> None:
        """Count one confirmed event (hot path: the labelled child is cached)."""
        child = self._published_children.get(event_type)
        if child is None:
            child = self._published_children[event_type] = self.published.labels(event_type, "published")
        child.inc()

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
