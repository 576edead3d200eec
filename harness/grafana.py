"""Grafana dashboards of the pipeline (health, dead letters), generated from the panel lists below.

The committed files (``contracts/grafana/*.json``) are :func:`render` of :data:`DASHBOARDS`; ``harness slo
check`` fails when they drift, ``harness slo dashboards --out contracts/grafana`` rewrites them. Queries read
the SLO recording rules of ``contracts/prometheus/rules.yml`` where there is one, and the dashboard variables
``$queue`` / ``$dlq`` (defaults: the SPEC names) for the broker's per-queue series. Import them into Grafana
with a Prometheus data source (the ``DS_PROMETHEUS`` input).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._layout import suites_root
from holyfields.topology import Topology

DASHBOARD_DIR = suites_root() / "contracts" / "grafana"


@dataclass(frozen=True)
class Panel:
    title: str
    #: PromQL, one per series (legend format after ``|``, optional)
    queries: tuple[str, ...]
    unit: str = "short"
    kind: str = "timeseries"  # timeseries or stat
    description: str = ""


PIPELINE: tuple[Panel, ...] = (
    Panel(
        "Publish rate by status",
        ("sum by (status) (rate(bloodbank_events_published_total[1m]))|{{status}}",),
        "ops",
    ),
    Panel(
        "Publish success (SLO ≥ 99.9 %, alert < 99.5 %)",
        ("slo:bloodbank_publish_success:ratio_rate5m|publish success",),
        "percentunit",
        "stat",
    ),
    Panel(
        "Validation failures at publish, by reason",
        ("sum by (reason) (rate(bloodbank_validation_failures_total[1m]))|{{reason}}",),
        "ops",
    ),
    Panel(
        "Publish latency p99 (to the broker's confirm)",
        ("histogram_quantile(0.99, sum by (le) (rate(bloodbank_publish_latency_seconds_bucket[1m])))|p99",),
        "s",
    ),
    Panel(
        "Received and stored rate",
        (
            "sum(rate(candystore_events_received_total[1m]))|received",
            "sum(rate(candystore_events_stored_total[1m]))|stored",
        ),
        "ops",
    ),
    Panel(
        "Storage success (SLO ≥ 99.9 %, alert < 99.5 %)",
        ("slo:candystore_storage_success:ratio_rate5m|storage success",),
        "percentunit",
        "stat",
    ),
    Panel(
        "End-to-end latency p99, publish → stored (SLO < 500 ms, alert > 1 s)",
        ("slo:candystore_end_to_end_latency:p99_rate5m|p99",),
        "s",
    ),
    Panel(
        "Storage latency p99 (batch insert + commit)",
        ("histogram_quantile(0.99, sum by (le) (rate(candystore_storage_latency_seconds_bucket[1m])))|p99",),
        "s",
    ),
    Panel(
        "Candystore queue: ready, unacknowledged, consumers",
        (
            "slo:candystore_queue_ready:messages|ready",
            'sum(rabbitmq_queue_messages_unacked{queue="$queue"})|unacknowledged',
            'sum(rabbitmq_queue_consumers{queue="$queue"})|consumers',
        ),
    ),
    Panel("Messages in flight in Candystore", ("sum(candystore_messages_in_flight)|in flight",)),
    Panel("Bloodbank connected to the broker", ("min(bloodbank_broker_connected)|connected",), kind="stat"),
    Panel("Scrape targets up", ("up|{{job}}",), kind="stat"),
    Panel(
        "Firing SLO alerts",
        ('count(ALERTS{alertstate="firing"}) or vector(0)|firing',),
        kind="stat",
        description="alerts of contracts/prometheus/rules.yml currently firing",
    ),
)

DLQ: tuple[Panel, ...] = (
    Panel(
        "Dead-letter queue size (SLO < 100, alert > 1000)",
        ("slo:dlq:messages|messages",),
        kind="stat",
    ),
    Panel(
        "Dead letters per second, by reason",
        ("sum by (reason) (rate(candystore_events_dead_lettered_total[5m]))|{{reason}}",),
        "ops",
    ),
    Panel(
        "Dead letters since start, by reason",
        ("sum by (reason) (candystore_events_dead_lettered_total)|{{reason}}",),
    ),
    Panel(
        "Transient storage failures (kept, retried)",
        ("sum(rate(candystore_transient_failures_total[5m]))|transient failures",),
        "ops",
    ),
    Panel(
        "Dead-letter queue: ready, consumers",
        (
            'sum(rabbitmq_queue_messages_ready{queue="$dlq"})|ready',
            'sum(rabbitmq_queue_consumers{queue="$dlq"})|consumers',
        ),
    ),
    Panel(
        "Rejected before publishing, by reason",
        ("sum by (reason) (increase(bloodbank_validation_failures_total[5m]))|{{reason}}",),
    ),
)

#: file stem -> (title, panels)
DASHBOARDS: dict[str, tuple[str, tuple[Panel, ...]]] = {
    "pipeline-health": ("33GOD pipeline health", PIPELINE),
    "dlq": ("33GOD dead letters", DLQ),
}


def _panel(index: int, panel: Panel) -> dict[str, Any]:
    targets = []
    for ref, query in zip("ABCDEFGH", panel.queries, strict=False):
        expr, _, legend = query.partition("|")
        targets.append(
            {
                "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
                "expr": expr,
                "legendFormat": legend,
                "refId": ref,
            }
        )
    width = 8 if panel.kind == "stat" else 12
    return {
        "id": index + 1,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
        "gridPos": {"h": 8, "w": width, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {},
        "targets": targets,
    }


def render(stem: str, topology: Topology | None = None) -> str:
    """The Grafana dashboard JSON of ``stem`` (variables default to ``topology``'s queue names)."""
    topology = topology or Topology()
    title, panels = DASHBOARDS[stem]
    variables = [
        {
            "name": name,
            "label": label,
            "type": "custom",
            "query": value,
            "current": {"text": value, "value": value},
            "options": [{"text": value, "value": value, "selected": True}],
        }
        for name, label, value in (
            ("queue", "Candystore queue", topology.queue),
            ("dlq", "DLQ", topology.dlq),
        )
    ]
    dashboard = {
        "__inputs": [
            {"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus"}
        ],
        "uid": f"33god-{stem}",
        "title": title,
        "tags": ["33god", "slo"],
        "timezone": "utc",
        "schemaVersion": 38,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": variables},
        "panels": [_panel(i, p) for i, p in enumerate(panels)],
    }
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def queries(stem: str, topology: Topology | None = None) -> list[tuple[str, str]]:
    """(panel title, PromQL with the variables filled in) of every query of dashboard ``stem``."""
    topology = topology or Topology()
    _, panels = DASHBOARDS[stem]
    return [
        (p.title, q.partition("|")[0].replace("$queue", topology.queue).replace("$dlq", topology.dlq))
        for p in panels
        for q in p.queries
    ]


def check(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Problems of the committed dashboards against :data:`DASHBOARDS` (empty: no drift)."""
    problems = []
    for stem in DASHBOARDS:
        path = directory / f"{stem}.json"
        if not path.exists() or path.read_text() != render(stem):
            state = "is missing" if not path.exists() else "differs from harness/grafana.py"
            problems.append(f"{path} {state}: regenerate with `harness slo dashboards --out {directory}`")
    return problems


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stem in DASHBOARDS:
        path = directory / f"{stem}.json"
        path.write_text(render(stem))
        written.append(path)
    return written
