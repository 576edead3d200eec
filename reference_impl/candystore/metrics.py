"""Prometheus metrics of SPEC §4, in a registry of their own (one per app instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Counters and histograms of one Candystore instance."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "candystore_events_received",
            "Messages delivered by the broker (redeliveries included)",
            registry=r,
        )
        self.stored = Counter("candystore_events_stored", "Events committed to PostgreSQL", registry=r)
        self.duplicates = Counter(
            "candystore_events_duplicate",
            "Redeliveries of an event already stored with the same body (acknowledged, no second row)",
            registry=r,
        )
        self.dead_lettered = Counter(
            "candystore_events_dead_lettered",
            "Messages dead-lettered on purpose, by x-dlq-reason",
            ["reason"],
            registry=r,
        )
        self.transient_failures = Counter(
            "candystore_transient_failures",
            "Storage attempts that failed for a transient reason (the messages were kept)",
            registry=r,
        )
        self.storage_latency = Histogram(
            "candystore_storage_latency_seconds",
            "Duration of one batch insert including its commit",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end_latency = Histogram(
            "candystore_end_to_end_latency_seconds",
            "Event timestamp to commit of its row",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "candystore_messages_in_flight", "Messages delivered but not yet acknowledged", registry=r
        )
        self.stream_clients = Gauge("candystore_stream_clients", "Connected WebSocket clients", registry=r)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
