"""The service levels of SPEC §5 as ONE table, and the Prometheus rules generated from it.

Each :class:`Slo` row is one SLI with its objective, its alert level, the alert's severity and ``for:``
window, the recording rule that computes the SLI from the services' metrics and the metrics it needs. The
committed rules file (``contracts/prometheus/rules.yml``) is :func:`render_rules` of this table for the SPEC
topology; ``harness slo check`` (and ``tests/test_slo.py``) fail when the two drift apart, and
``harness slo rules --profile FILE`` writes the rules for a team's queue names.

The metrics contract (``contracts/conformance/test_metrics.py``) checks that a target exposes every
:class:`MetricNeed` of this table, so the rules never rely on a name a target does not export.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from harness._layout import suites_root
from holyfields.topology import Topology

#: the committed rules file (generated from :data:`SLOS` for the SPEC topology)
RULES_FILE = suites_root() / "contracts" / "prometheus" / "rules.yml"
#: its ``promtool test rules`` unit tests (generated from :data:`CASES`)
RULE_TESTS_FILE = RULES_FILE.with_name("rules.test.yml")
#: window of the rates the recording rules compute
RATE_WINDOW = "5m"


@dataclass(frozen=True)
class MetricNeed:
    """A metric the rules rely on: its exposed family name, Prometheus type and the labels they read."""

    name: str
    kind: str  # counter, histogram, gauge
    labels: tuple[str, ...] = ()
    #: which scrape target exposes it: bloodbank, candystore or rabbitmq
    component: str = "bloodbank"
    #: named by SPEC §3/§4 (False: an extra of the reference services; a target lacking it gets a warning)
    spec: bool = True

    @property
    def sample_name(self) -> str:
        """The name of the samples the rules select (``_total`` of a counter, ``_bucket`` of a histogram)."""
        if self.kind == "counter":
            return self.name if self.name.endswith("_total") else self.name + "_total"
        if self.kind == "histogram":
            return self.name + "_bucket"
        return self.name


PUBLISHED = MetricNeed("bloodbank_events_published_total", "counter", ("event_type", "status"))
PUBLISH_LATENCY = MetricNeed("bloodbank_publish_latency_seconds", "histogram")
VALIDATION_FAILURES = MetricNeed("bloodbank_validation_failures_total", "counter", ("reason",))
RETRIES = MetricNeed("bloodbank_publish_retries_total", "counter")
BROKER_CONNECTED = MetricNeed("bloodbank_broker_connected", "gauge", spec=False)
RECEIVED = MetricNeed("candystore_events_received_total", "counter", component="candystore")
STORED = MetricNeed("candystore_events_stored_total", "counter", component="candystore")
DEAD_LETTERED = MetricNeed(
    "candystore_events_dead_lettered_total", "counter", ("reason",), component="candystore"
)
STORAGE_LATENCY = MetricNeed("candystore_storage_latency_seconds", "histogram", component="candystore")
E2E_LATENCY = MetricNeed("candystore_end_to_end_latency_seconds", "histogram", component="candystore")
TRANSIENT = MetricNeed("candystore_transient_failures_total", "counter", component="candystore", spec=False)
QUEUE_MESSAGES = MetricNeed("rabbitmq_queue_messages", "gauge", ("queue",), component="rabbitmq")
QUEUE_READY = MetricNeed("rabbitmq_queue_messages_ready", "gauge", ("queue",), component="rabbitmq")
QUEUE_CONSUMERS = MetricNeed("rabbitmq_queue_consumers", "gauge", ("queue",), component="rabbitmq")
QUEUE_UNACKED = MetricNeed("rabbitmq_queue_messages_unacked", "gauge", ("queue",), component="rabbitmq")

#: every metric of SPEC §3/§4 a target must expose (the rules use a subset; the dashboards the rest)
SERVICE_METRICS: tuple[MetricNeed, ...] = (
    PUBLISHED,
    PUBLISH_LATENCY,
    VALIDATION_FAILURES,
    RETRIES,
    BROKER_CONNECTED,
    RECEIVED,
    STORED,
    DEAD_LETTERED,
    STORAGE_LATENCY,
    E2E_LATENCY,
    TRANSIENT,
)


@dataclass(frozen=True)
class Slo:
    """One row of SPEC §5 as an alert: ``expr`` of the recording rule ``record``; the alert fires when the
    recorded value is on the wrong side of ``alert`` (in Prometheus units) for ``for_``.

    ``objective`` / ``alert`` are in the SPEC's units (``unit``); ``scale`` converts them to the recorded
    value's (percent -> ratio, ms -> s). ``alert_expr``, when given, replaces the threshold comparison
    (conditions that are not one number against a level). ``expr`` and ``alert_expr`` may name ``{queue}``
    and ``{dlq}`` (the topology's queue names) and ``{window}`` (:data:`RATE_WINDOW`).
    """

    key: str
    sli: str
    objective: float | None
    alert_level: float | None
    higher_is_better: bool
    unit: str
    alert: str | None
    severity: str
    for_: str
    record: str | None
    expr: str | None
    needs: tuple[MetricNeed, ...]
    summary: str
    scale: float = 1.0
    alert_expr: str | None = None
    #: why there is no alert rule (a row Prometheus cannot measure)
    not_alerted: str = ""

    @property
    def objective_text(self) -> str:
        if self.objective is None:
            return "-"
        return ("≥ " if self.higher_is_better else "< ") + f"{self.objective:g} {self.unit}"

    @property
    def alert_text(self) -> str:
        if self.alert_level is None:
            return "-"
        return ("< " if self.higher_is_better else "> ") + f"{self.alert_level:g} {self.unit}"

    def condition(self) -> str:
        """The alert's PromQL (before the topology is filled in)."""
        if self.alert_expr:
            return self.alert_expr
        assert self.record is not None and self.alert_level is not None
        op = "<" if self.higher_is_better else ">"
        return f"{self.record} {op} {self.alert_level * self.scale:g}"


_READY = "slo:candystore_queue_ready:messages"

#: SPEC §5, one row per alert (the recovery row is split by what recovers)
SLOS: tuple[Slo, ...] = (
    Slo(
        key="publish_success_rate",
        sli="publish success rate",
        objective=99.9,
        alert_level=99.5,
        higher_is_better=True,
        unit="%",
        scale=0.01,
        alert="PublishSuccessRateLow",
        severity="page",
        for_="5m",
        record="slo:bloodbank_publish_success:ratio_rate5m",
        expr='sum(rate(bloodbank_events_published_total{{status="published"}}[{window}]))'
        " / sum(rate(bloodbank_events_published_total[{window}]))",
        needs=(PUBLISHED,),
        summary="Bloodbank confirms fewer than 99.5 % of the events it hands to the broker",
    ),
    Slo(
        key="storage_success_rate",
        sli="storage success rate (stored without DLQ, valid input)",
        objective=99.9,
        alert_level=99.5,
        higher_is_better=True,
        unit="%",
        scale=0.01,
        alert="StorageSuccessRateLow",
        severity="page",
        for_="5m",
        record="slo:candystore_storage_success:ratio_rate5m",
        expr="sum(rate(candystore_events_stored_total[{window}])) / (sum(rate(candystore_events_stored_total"
        '[{window}])) + (sum(rate(candystore_events_dead_lettered_total{{reason="retries_exhausted"}}'
        "[{window}])) or vector(0)))",
        needs=(STORED, DEAD_LETTERED),
        summary="Candystore dead-letters more than 0.5 % of valid events after exhausting its retries",
    ),
    Slo(
        key="validation_success_rate",
        sli="validation success rate (valid traffic)",
        objective=99.0,
        alert_level=95.0,
        higher_is_better=True,
        unit="%",
        scale=0.01,
        alert="ValidationSuccessRateLow",
        severity="ticket",
        for_="10m",
        record="slo:bloodbank_validation_success:ratio_rate5m",
        expr='sum(rate(bloodbank_events_published_total{{status="published"}}[{window}])) / (sum(rate('
        'bloodbank_events_published_total{{status="published"}}[{window}])) + sum(rate('
        "bloodbank_validation_failures_total[{window}])))",
        needs=(PUBLISHED, VALIDATION_FAILURES),
        summary="more than 5 % of the events producers send fail validation at Bloodbank",
    ),
    Slo(
        key="e2e_latency_p99_ms",
        sli="end-to-end latency p99, publish → stored",
        objective=500.0,
        alert_level=1000.0,
        higher_is_better=False,
        unit="ms",
        scale=0.001,
        alert="EndToEndLatencyHigh",
        severity="page",
        for_="5m",
        record="slo:candystore_end_to_end_latency:p99_rate5m",
        expr="histogram_quantile(0.99, sum by (le) (rate(candystore_end_to_end_latency_seconds_bucket"
        "[{window}])))",
        needs=(E2E_LATENCY,),
        summary="the 99th percentile from event timestamp to its commit is above 1 s",
    ),
    Slo(
        key="correlation_integrity",
        sli="correlation integrity (events whose parents all resolve)",
        objective=100.0,
        alert_level=98.0,
        higher_is_better=True,
        unit="%",
        alert=None,
        severity="",
        for_="",
        record=None,
        expr=None,
        needs=(),
        summary="",
        not_alerted="no service exports it as a metric: measured from the store by the ledger and the "
        "correlation suite",
    ),
    Slo(
        key="dlq_size",
        sli="DLQ size",
        objective=100.0,
        alert_level=1000.0,
        higher_is_better=False,
        unit="messages",
        alert="DeadLetterQueueLarge",
        severity="page",
        for_="1m",
        record="slo:dlq:messages",
        expr='sum(rabbitmq_queue_messages{{queue="{dlq}"}})',
        needs=(QUEUE_MESSAGES,),
        summary="more than 1000 messages wait in the dead-letter queue",
    ),
    Slo(
        key="queue_depth_growing",
        sli="queue depth that keeps growing",
        objective=None,
        alert_level=1000.0,
        higher_is_better=False,
        unit="messages",
        alert="QueueDepthGrowing",
        severity="ticket",
        for_="10m",
        record=_READY,
        expr='sum(rabbitmq_queue_messages_ready{{queue="{queue}"}})',
        alert_expr=f"{_READY} > 1000 and deriv({_READY}[10m]) > 0",
        needs=(QUEUE_READY,),
        summary="the Candystore queue holds more than 1000 ready messages and keeps growing",
    ),
    Slo(
        key="consumer_not_consuming",
        sli="consumer not consuming",
        objective=None,
        alert_level=None,
        higher_is_better=False,
        unit="",
        alert="CandystoreNotConsuming",
        severity="page",
        for_="5m",
        record=None,
        expr=None,
        alert_expr=f'{_READY} > 0 and on () (sum(rabbitmq_queue_consumers{{{{queue="{{queue}}"}}}}) == 0'
        " or on () sum(rate(candystore_events_received_total[{window}])) == 0)",
        needs=(QUEUE_READY, QUEUE_CONSUMERS, RECEIVED),
        summary="messages wait in the Candystore queue but no consumer is attached or none is delivered",
    ),
    Slo(
        key="recovery_broker_seconds",
        sli="recovery after a transient fault (broker restart)",
        objective=30.0,
        alert_level=30.0,
        higher_is_better=False,
        unit="s",
        alert="BrokerRecoveryTooSlow",
        severity="page",
        for_="30s",
        record=None,
        expr=None,
        alert_expr="min(bloodbank_broker_connected) == 0",
        needs=(BROKER_CONNECTED,),
        summary="Bloodbank has not been connected to the broker for more than 30 s",
    ),
    Slo(
        key="recovery_database_seconds",
        sli="recovery after a transient fault (database restart)",
        objective=30.0,
        alert_level=30.0,
        higher_is_better=False,
        unit="s",
        alert="StorageRecoveryTooSlow",
        severity="page",
        for_="30s",
        record=None,
        expr=None,
        # Stalled storage: nothing committed for 10 s while delivered messages wait unacknowledged (held
        # for a database that does not answer), for 30 s. Not the transient-failure counter: an
        # implementation that waits for its database counts one failure, then only waits.
        alert_expr="sum(increase(candystore_events_stored_total[10s])) == 0"
        ' and on () sum(rabbitmq_queue_messages_unacked{{queue="{queue}"}}) > 0',
        needs=(STORED, QUEUE_UNACKED),
        summary="Candystore has stored nothing for more than 30 s while delivered events wait (database?)",
    ),
)


def _fill(text: str, topology: Topology) -> str:
    return text.format(queue=topology.queue, dlq=topology.dlq, window=RATE_WINDOW)


def _q(text: str) -> str:
    """A YAML double-quoted scalar (a JSON string is one)."""
    return json.dumps(text, ensure_ascii=False)


_UNITS = {"s": 1, "m": 60, "h": 3600}
_RANGE = re.compile(r"\[(\d+)([smh])\]")


#: shortest range of a time-scaled expression: three scrapes of the private Prometheus (rate needs two)
_MIN_RANGE_S = 3


def _duration(text: str, time_scale: float, least: int = 1) -> str:
    """A Prometheus duration (``30s``, ``5m``, ``1h``) times ``time_scale``, whole seconds (>= ``least``)."""
    if time_scale == 1.0:
        return text
    seconds = int(text[:-1]) * _UNITS[text[-1]]
    return f"{max(least, round(seconds * time_scale))}s"


def _scale_ranges(expr: str, time_scale: float) -> str:
    return _RANGE.sub(lambda m: f"[{_duration(m.group(1) + m.group(2), time_scale, _MIN_RANGE_S)}]", expr)


def render_rules(topology: Topology | None = None, *, time_scale: float = 1.0) -> str:
    """The Prometheus rules file (recording + alerting) of :data:`SLOS` for ``topology`` (SPEC names).

    ``time_scale`` < 1 shrinks every ``for:`` window and every range of the expressions by that factor (0.05:
    ``5m`` -> ``15s``), the same rules on a clock fast enough to watch each alert fire within a test; the
    committed file and a team's rules are always at 1.0."""
    topology = topology or Topology()
    lines = [
        "# Generated by `harness slo rules` from harness/slo.py (SPEC §5); do not edit by hand:",
        "# change the table and regenerate (`harness slo check` fails on drift).",
        f"# Queues: {topology.queue} (Candystore), {topology.dlq} (dead letters).",
        "groups:",
        "  - name: 33god-slo-recording",
        "    rules:",
    ]
    seen: set[str] = set()
    for slo in SLOS:
        if slo.record and slo.expr and slo.record not in seen:
            seen.add(slo.record)
            expr = _scale_ranges(_fill(slo.expr, topology), time_scale)
            lines += [f"      - record: {slo.record}", f"        expr: {_q(expr)}"]
    lines += ["  - name: 33god-slo-alerts", "    rules:"]
    for slo in SLOS:
        if not slo.alert:
            continue
        condition = _scale_ranges(_fill(slo.condition(), topology), time_scale)
        lines += [
            f"      - alert: {slo.alert}",
            f"        expr: {_q(condition)}",
            f"        for: {_duration(slo.for_, time_scale)}",
            "        labels:",
            f"          severity: {slo.severity}",
            f"          slo: {slo.key}",
            "        annotations:",
            f"          summary: {_q(slo.summary)}",
            f"          objective: {_q(slo.objective_text)}",
            f"          alert_level: {_q(slo.alert_text)}",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    """Synthetic series for ``promtool test rules``: ``fires`` must fire the alert at ``at``, ``quiet`` must
    not (at any of ``quiet_at``). Series are ``(selector, values)`` in promtool's expanding notation."""

    interval: str
    at: str
    fires: tuple[tuple[str, str], ...]
    quiet: tuple[tuple[str, str], ...]
    quiet_at: tuple[str, ...] = ()
    why_quiet: str = ""


_PUB = "bloodbank_events_published_total"
_Q = 'queue="candystore.events",vhost="/"'

#: alert -> its fires / must-not-fire case (a test fails when an alert has none)
CASES: dict[str, Case] = {
    "PublishSuccessRateLow": Case(
        "1m",
        "15m",
        fires=(
            (f'{_PUB}{{event_type="a.b.v1",status="published"}}', "0+990x20"),
            (f'{_PUB}{{event_type="a.b.v1",status="failed"}}', "0+10x20"),
        ),
        quiet=(
            (f'{_PUB}{{event_type="a.b.v1",status="published"}}', "0+999x20"),
            (f'{_PUB}{{event_type="a.b.v1",status="failed"}}', "0+1x20"),
        ),
        why_quiet="99.9 % published: the objective, not the alert level",
    ),
    "StorageSuccessRateLow": Case(
        "1m",
        "15m",
        fires=(
            ("candystore_events_stored_total", "0+990x20"),
            ('candystore_events_dead_lettered_total{reason="retries_exhausted"}', "0+10x20"),
        ),
        quiet=(
            ("candystore_events_stored_total", "0+1000x20"),
            ('candystore_events_dead_lettered_total{reason="envelope_invalid"}', "0+100x20"),
        ),
        why_quiet="invalid input dead-lettered does not count against storage",
    ),
    "ValidationSuccessRateLow": Case(
        "1m",
        "25m",
        fires=(
            (f'{_PUB}{{event_type="a.b.v1",status="published"}}', "0+90x30"),
            ('bloodbank_validation_failures_total{reason="payload_invalid"}', "0+10x30"),
        ),
        quiet=(
            (f'{_PUB}{{event_type="a.b.v1",status="published"}}', "0+99x30"),
            ('bloodbank_validation_failures_total{reason="payload_invalid"}', "0+1x30"),
        ),
        why_quiet="99 % valid",
    ),
    "EndToEndLatencyHigh": Case(
        "1m",
        "15m",
        fires=(
            ('candystore_end_to_end_latency_seconds_bucket{le="0.5"}', "0+0x20"),
            ('candystore_end_to_end_latency_seconds_bucket{le="1.0"}', "0+0x20"),
            ('candystore_end_to_end_latency_seconds_bucket{le="2.5"}', "0+100x20"),
            ('candystore_end_to_end_latency_seconds_bucket{le="+Inf"}', "0+100x20"),
        ),
        quiet=(
            ('candystore_end_to_end_latency_seconds_bucket{le="0.5"}', "0+0x20"),
            ('candystore_end_to_end_latency_seconds_bucket{le="1.0"}', "0+100x20"),
            ('candystore_end_to_end_latency_seconds_bucket{le="2.5"}', "0+100x20"),
            ('candystore_end_to_end_latency_seconds_bucket{le="+Inf"}', "0+100x20"),
        ),
        why_quiet="p99 between 500 and 1000 ms misses the objective but is below the alert level",
    ),
    "DeadLetterQueueLarge": Case(
        "1m",
        "5m",
        fires=(('rabbitmq_queue_messages{queue="dlq.all",vhost="/"}', "1001x10"),),
        quiet=(
            ('rabbitmq_queue_messages{queue="dlq.all",vhost="/"}', "999x10"),
            (f"rabbitmq_queue_messages{{{_Q}}}", "5000x10"),
        ),
        why_quiet="999 dead letters; other queues do not count",
    ),
    "QueueDepthGrowing": Case(
        "1m",
        "25m",
        fires=((f"rabbitmq_queue_messages_ready{{{_Q}}}", "1000+50x30"),),
        quiet=((f"rabbitmq_queue_messages_ready{{{_Q}}}", "5000x30"),),
        why_quiet="deep but not growing",
    ),
    "CandystoreNotConsuming": Case(
        "1m",
        "10m",
        fires=(
            (f"rabbitmq_queue_messages_ready{{{_Q}}}", "10x20"),
            (f"rabbitmq_queue_consumers{{{_Q}}}", "0x20"),
            ("candystore_events_received_total", "100x20"),
        ),
        quiet=(
            (f"rabbitmq_queue_messages_ready{{{_Q}}}", "10x20"),
            (f"rabbitmq_queue_consumers{{{_Q}}}", "1x20"),
            ("candystore_events_received_total", "0+100x20"),
        ),
        why_quiet="a consumer attached and receiving",
    ),
    "BrokerRecoveryTooSlow": Case(
        "15s",
        "2m",
        fires=(("bloodbank_broker_connected", "1 1 0 0 0 0 0 0 0 0"),),
        quiet=(("bloodbank_broker_connected", "1 1 0 0 1 1 1 1 1 1"),),
        quiet_at=("45s", "2m"),
        why_quiet="disconnected for 30 s, then back",
    ),
    "StorageRecoveryTooSlow": Case(
        "5s",
        "2m",
        fires=(
            ("candystore_events_stored_total", "100x30"),
            (f"rabbitmq_queue_messages_unacked{{{_Q}}}", "50x30"),
        ),
        quiet=(
            ("candystore_events_stored_total", "0+100x30"),
            (f"rabbitmq_queue_messages_unacked{{{_Q}}}", "50x30"),
        ),
        why_quiet="messages in flight, yet storing",
    ),
}


def render_rule_tests() -> str:
    """The ``promtool test rules`` file of :data:`CASES` (labels and annotations from :data:`SLOS`)."""
    lines = [
        "# Generated by `harness slo tests` from harness/slo.py; run `promtool test rules` in this folder.",
        "rule_files:",
        f"  - {RULES_FILE.name}",
        "evaluation_interval: 15s",
        "tests:",
    ]
    for slo in alerts():
        case = CASES[slo.alert or ""]
        for verdict, series, times in (
            ("fires", case.fires, (case.at,)),
            ("quiet", case.quiet, case.quiet_at or (case.at,)),
        ):
            name = f"{slo.alert} {verdict}" + (f": {case.why_quiet}" if verdict == "quiet" else "")
            lines += [f"  - name: {_q(name)}", f"    interval: {case.interval}", "    input_series:"]
            for selector, values in series:
                lines += [f"      - series: {_q(selector)}", f"        values: {_q(values)}"]
            lines.append("    alert_rule_test:")
            for at in times:
                lines += [f"      - eval_time: {at}", f"        alertname: {slo.alert}"]
                if verdict == "quiet":
                    lines.append("        exp_alerts: []")
                    continue
                lines += [
                    "        exp_alerts:",
                    "          - exp_labels:",
                    f"              severity: {slo.severity}",
                    f"              slo: {slo.key}",
                    "            exp_annotations:",
                    f"              summary: {_q(slo.summary)}",
                    f"              objective: {_q(slo.objective_text)}",
                    f"              alert_level: {_q(slo.alert_text)}",
                ]
    return "\n".join(lines) + "\n"


def alerts() -> list[Slo]:
    """The rows that have an alert rule."""
    return [s for s in SLOS if s.alert]


def check() -> list[str]:
    """Problems of the committed rules and rule-test files against the table (empty: no drift)."""
    problems = []
    for path, text, command in (
        (RULES_FILE, render_rules(), "rules"),
        (RULE_TESTS_FILE, render_rule_tests(), "tests"),
    ):
        if not path.exists():
            problems.append(f"{path} is missing: write it with `harness slo {command} --out {path}`")
        elif path.read_text() != text:
            problems.append(
                f"{path} differs from harness/slo.py: regenerate with `harness slo {command} --out {path}`"
            )
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="slo_command", required=True)
    rules = sub.add_parser("rules", help="print (or --out) the Prometheus recording and alerting rules")
    rules.add_argument("--out", help="write the rules to this file instead of stdout")
    rules.add_argument("--profile", help="target profile TOML: use its queue names ([broker] queue, dlq)")
    tests = sub.add_parser("tests", help="print (or --out) the `promtool test rules` file of the rules")
    tests.add_argument("--out", help="write the tests to this file instead of stdout")
    dashboards = sub.add_parser("dashboards", help="write the Grafana dashboards (pipeline health, DLQ)")
    dashboards.add_argument("--out", default=None, help="directory (default: contracts/grafana)")
    sub.add_parser("check", help="fail when the rules, their tests or the dashboards differ from the tables")
    sub.add_parser("table", help="print the SLO table (objective, alert level, severity, for:)")


def run(args: argparse.Namespace) -> int:
    if args.slo_command == "dashboards":
        from harness import grafana

        for path in grafana.write(Path(args.out) if args.out else grafana.DASHBOARD_DIR):
            print(f"harness slo dashboards: wrote {path}")
        return 0
    if args.slo_command == "check":
        from harness import grafana

        problems = check() + grafana.check()
        for problem in problems:
            print(f"harness slo check: {problem}", file=sys.stderr)
        return 1 if problems else 0
    if args.slo_command == "table":
        for s in SLOS:
            alert = f"{s.alert} ({s.severity}, for {s.for_})" if s.alert else f"no alert: {s.not_alerted}"
            print(f"{s.sli:58} {s.objective_text:14} {s.alert_text:16} {alert}")
        return 0
    topology = None
    if args.slo_command == "tests":
        return _write(render_rule_tests(), args.out)
    if args.profile:
        from harness.profile import Profile, ProfileError

        try:
            topology = Profile.load(args.profile).broker
        except ProfileError as exc:
            print(f"harness slo rules: {exc}", file=sys.stderr)
            return 2
    return _write(render_rules(topology), args.out)


def _write(text: str, out: str | None) -> int:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0
