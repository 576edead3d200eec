"""The metrics contract: does a target's ``/metrics`` expose what the SLO rules and dashboards read?

:func:`check_exposition` compares one Prometheus text exposition with the :class:`~harness.slo.MetricNeed`
list of a component (names, types, label sets). Each missing or mistyped metric is one :class:`MetricProblem`
naming it; a metric SPEC §3/§4 does not name (an extra of the reference services the rules use) is a
``warning``, never an error. Black-box: it reads the text a target serves, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.slo import SERVICE_METRICS, MetricNeed


@dataclass(frozen=True)
class MetricProblem:
    """One metric of the contract a target does not meet."""

    metric: str
    expected: str
    actual: str
    #: "error" (the rules cannot work) or "warning" (a metric SPEC does not require)
    severity: str = "error"

    def line(self) -> str:
        return f"{self.metric}: expected {self.expected}, actual {self.actual}"


def needs_of(component: str) -> list[MetricNeed]:
    """The metrics ``component`` (bloodbank, candystore) must expose."""
    return [n for n in SERVICE_METRICS if n.component == component]


def _family_name(need: MetricNeed) -> str:
    """The family name the Python parser reports (a counter's ``_total`` is cut off)."""
    return need.name.removesuffix("_total") if need.kind == "counter" else need.name


def check_exposition(text: str, needs: list[MetricNeed]) -> tuple[list[MetricProblem], list[str]]:
    """Problems of ``text`` against ``needs``, plus notes (labels that could not be checked: no series yet).

    A text that does not parse is one problem naming the parser's complaint.
    """
    from prometheus_client.parser import text_string_to_metric_families

    try:
        families = {f.name: f for f in text_string_to_metric_families(text)}
    except Exception as exc:  # the parser raises ValueError and friends on bad lines
        return [MetricProblem("/metrics", "Prometheus text exposition format", f"unparsable: {exc}")], []
    problems: list[MetricProblem] = []
    notes: list[str] = []
    for need in needs:
        severity = "error" if need.spec else "warning"
        family = families.get(_family_name(need))
        if family is None:
            family = _untyped(families, need)
        if family is None:
            problems.append(MetricProblem(need.name, f"a {need.kind}", "missing", severity))
            continue
        if family.type != need.kind:
            actual = "untyped (no # TYPE line)" if family.type == "unknown" else f"a {family.type}"
            problems.append(MetricProblem(need.name, f"a {need.kind}", actual, severity))
            continue
        samples = [s for s in family.samples if s.name == need.sample_name]
        if need.kind == "histogram":
            suffixes = {s.name.removeprefix(need.name) for s in family.samples}
            absent = [x for x in ("_bucket", "_sum", "_count") if x not in suffixes]
            if absent:
                expected = "histogram series _bucket, _sum, _count"
                problems.append(MetricProblem(need.name, expected, f"no {absent}", severity))
                continue
        names = {s.name for s in family.samples if not s.name.endswith("_created")}
        if names and not samples:
            expected = f"series named {need.sample_name}"
            problems.append(MetricProblem(need.name, expected, f"series {sorted(names)}", severity))
            continue
        if not samples:
            if need.labels:
                notes.append(f"{need.name}: no series yet, labels {list(need.labels)} not checked")
            continue
        for sample in samples:
            missing = [label for label in need.labels if label not in sample.labels]
            if missing:
                have = sorted(k for k in sample.labels if k != "le")
                problems.append(
                    MetricProblem(need.name, f"labels {list(need.labels)}", f"labels {have}", severity)
                )
                break
    return problems, notes


def _untyped(families: dict, need: MetricNeed):  # type: ignore[no-untyped-def]
    """A family exposed without ``# TYPE`` (parsed as ``unknown`` under its full sample name)."""
    family = families.get(need.sample_name) or families.get(need.name)
    return family if family is not None and family.type == "unknown" else None
