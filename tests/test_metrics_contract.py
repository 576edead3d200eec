"""harness.metrics_contract on expositions a target might serve: each defect named, extras warned about."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest

from harness.metrics_contract import check_exposition, needs_of
from reference_impl.bloodbank.metrics import Metrics as BloodbankMetrics
from reference_impl.candystore.metrics import Metrics as CandystoreMetrics


def _bloodbank(**drop: bool) -> CollectorRegistry:
    """A Bloodbank-like registry; ``drop`` switches parts off or into their defective form."""
    r = CollectorRegistry()
    labels = ["event_type"] if drop.get("status_label") else ["event_type", "status"]
    published = Counter("bloodbank_events_published_total", "x", labels, registry=r)
    published.labels(*(["a.b.v1"] if drop.get("status_label") else ["a.b.v1", "published"])).inc()
    if drop.get("latency_as_summary"):
        Summary("bloodbank_publish_latency_seconds", "x", registry=r).observe(0.1)
    else:
        Histogram("bloodbank_publish_latency_seconds", "x", registry=r).observe(0.1)
    Counter("bloodbank_validation_failures_total", "x", ["reason"], registry=r).labels("json_invalid")
    Counter("bloodbank_publish_retries_total", "x", registry=r)
    if not drop.get("gauge"):
        Gauge("bloodbank_broker_connected", "x", registry=r).set(1)
    return r


def _problems(registry: CollectorRegistry) -> dict[str, tuple[str, str, str]]:
    problems, _ = check_exposition(generate_latest(registry).decode(), needs_of("bloodbank"))
    return {p.metric: (p.expected, p.actual, p.severity) for p in problems}


def test_the_reference_services_meet_the_contract() -> None:
    for component, text in (
        ("bloodbank", BloodbankMetrics(["a.b.v1"], broker_up=lambda: True).render()),
        ("candystore", CandystoreMetrics().render()),
    ):
        problems, notes = check_exposition(text.decode(), needs_of(component))
        assert problems == [], component
    assert any("candystore_events_dead_lettered_total: no series yet" in n for n in notes)


def test_a_complete_exposition_has_no_problem() -> None:
    assert _problems(_bloodbank()) == {}


def test_a_histogram_served_as_a_summary_is_mistyped() -> None:
    assert _problems(_bloodbank(latency_as_summary=True)) == {
        "bloodbank_publish_latency_seconds": ("a histogram", "a summary", "error")
    }


def test_a_missing_label_is_named_with_the_labels_there_are() -> None:
    assert _problems(_bloodbank(status_label=True)) == {
        "bloodbank_events_published_total": (
            "labels ['event_type', 'status']",
            "labels ['event_type']",
            "error",
        )
    }


def test_a_metric_spec_does_not_require_is_a_warning() -> None:
    assert _problems(_bloodbank(gauge=True)) == {
        "bloodbank_broker_connected": ("a gauge", "missing", "warning")
    }


def test_missing_metrics_are_each_named() -> None:
    problems, _ = check_exposition("# nothing here\n", needs_of("candystore"))
    missing = {p.metric for p in problems if p.actual == "missing" and p.severity == "error"}
    assert missing == {
        "candystore_events_received_total",
        "candystore_events_stored_total",
        "candystore_events_dead_lettered_total",
        "candystore_storage_latency_seconds",
        "candystore_end_to_end_latency_seconds",
    }


def test_a_counter_without_total_and_without_type_is_named() -> None:
    text = "candystore_events_stored 3\n"
    problems, _ = check_exposition(text, needs_of("candystore"))
    stored = [p for p in problems if p.metric == "candystore_events_stored_total"]
    assert [p.actual for p in stored] == ["untyped (no # TYPE line)"]


def test_an_unparsable_exposition_is_one_problem() -> None:
    problems, _ = check_exposition('broken{le="1" 3\n', needs_of("candystore"))
    assert len(problems) == 1 and "unparsable" in problems[0].actual
