"""The service levels of SPEC §5 that a load run is judged against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Threshold:
    """One SLI: its objective, its alert level, and which direction is good."""

    sli: str
    slo: float
    alert: float
    higher_is_better: bool
    unit: str
    #: lower-is-better objectives met AT the SLO value (``≤ 0 events`` lost) instead of strictly below it
    inclusive: bool = False

    def status(self, value: float | None) -> str:
        """``met``, ``missed`` (worse than the SLO, not yet alerting), ``alert``, or ``not measured``."""
        if value is None:
            return "not measured"
        if self.higher_is_better:
            return "met" if value >= self.slo else ("missed" if value >= self.alert else "alert")
        met = value <= self.slo if self.inclusive else value < self.slo
        return "met" if met else ("missed" if value <= self.alert else "alert")

    @property
    def objective(self) -> str:
        if self.higher_is_better:
            return f"≥ {self.slo:g} {self.unit}"
        return ("≤ " if self.inclusive else "< ") + f"{self.slo:g} {self.unit}"


THRESHOLDS: dict[str, Threshold] = {
    "publish_success_rate": Threshold("publish success rate", 99.9, 99.5, True, "%"),
    "storage_success_rate": Threshold("storage success rate (valid input)", 99.9, 99.5, True, "%"),
    "validation_success_rate": Threshold("validation success rate (valid traffic)", 99.0, 95.0, True, "%"),
    "e2e_latency_p99_ms": Threshold("end-to-end latency p99, publish → stored", 500.0, 1000.0, False, "ms"),
    "correlation_integrity": Threshold(
        "correlation integrity (events whose parents all resolve)", 100.0, 98.0, True, "%"
    ),
    "dlq_size": Threshold("DLQ size", 100.0, 1000.0, False, "messages"),
    "lost_events": Threshold("events lost (ledger: accepted, never stored)", 0.0, 0.0, False, "events", True),
    "duplicated_events": Threshold(
        "events duplicated (ledger: stored twice)", 0.0, 0.0, False, "events", True
    ),
    # not an SLI of SPEC §5: a run that did not deliver its load cannot vouch for the others
    "achieved_rate_percent": Threshold("achieved arrival rate (of the target)", 85.0, 50.0, True, "%"),
    "recovery_seconds": Threshold("recovery after a transient fault", 30.0, 30.0, False, "s"),
}


def passed(rows: list[dict[str, Any]]) -> bool:
    """True when no measured SLI missed its objective."""
    return all(row["status"] in ("met", "not measured") for row in rows)


def judge(measured: dict[str, float | None], missed: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """One row per SLI: value, objective, alert level and status (``missed``: keys that failed unmeasured,
    e.g. a recovery that never happened)."""
    rows = []
    for key, threshold in THRESHOLDS.items():
        value = measured.get(key)
        status = "alert" if key in missed and value is None else threshold.status(value)
        rows.append(
            {
                "key": key,
                "sli": threshold.sli,
                "value": None if value is None else round(value, 3),
                "unit": threshold.unit,
                "slo": threshold.objective,
                "alert": ("< " if threshold.higher_is_better else "> ")
                + f"{threshold.alert:g} {threshold.unit}",
                "status": status,
            }
        )
    return rows
