"""What a load run measures after the fact, from consumer-side observations of every event it published.

Candystore's own ``stored_at`` of each event (read back by this run's session id) against the producer's send
time gives publish → stored for every accepted event, not a sample; the stream watchers give publish → seen.
Same clock on one machine; against services elsewhere the hosts' clocks must agree (NTP) for these figures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx

from harness.profile import CandystoreSurface


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float], of: int) -> dict[str, Any]:
    """p50/p95/p99/max (ms) of ``values``, how many were measured and what share of ``of`` that is."""
    return {
        "p50": _round(percentile(values, 0.50)),
        "p95": _round(percentile(values, 0.95)),
        "p99": _round(percentile(values, 0.99)),
        "max": _round(max(values) if values else None),
        "measured": len(values),
        "measured_percent": round(100.0 * len(values) / of, 2) if of else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def parse_time(text: str) -> float:
    """RFC 3339 → POSIX seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def stored_by_session(
    candystore_url: str,
    session_id: str,
    *,
    surface: CandystoreSurface | None = None,
    page: int = 1000,
    client: httpx.Client | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Event id -> the stored copies of this run's events, listed by ``session_id`` (two = a duplicate)."""
    surface = surface or CandystoreSurface()
    own = client is None
    client = client or httpx.Client(timeout=30)
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        offset = 0
        while True:
            params = surface.query(session_id=session_id, limit=page, offset=offset)
            response = client.request(surface.list.method, candystore_url + surface.list.url(), params=params)
            response.raise_for_status()
            data = response.json()
            events = data.get("events", [])
            for event in events:
                found.setdefault(event["event_id"], []).append(event)
            offset += len(events)
            if not data.get("has_more") or not events:
                break
    finally:
        if own:
            client.close()
    return found


def wait_for_stored(
    candystore_url: str,
    session_id: str,
    accepted: set[str],
    *,
    surface: CandystoreSurface | None = None,
    timeout: float = 30.0,
    interval: float = 0.5,
) -> dict[str, list[dict[str, Any]]]:
    """Poll until every accepted event is stored (or ``timeout``); then one final, stable listing."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=30) as client:
        while True:
            found = stored_by_session(candystore_url, session_id, surface=surface, client=client)
            if accepted <= found.keys() or time.monotonic() >= deadline:
                break
            time.sleep(interval)  # poll interval while the consumer catches up
        # listing newest-first while rows arrive can shift pages; read once more now that nothing moves
        return stored_by_session(candystore_url, session_id, surface=surface, client=client)


def e2e_latencies(
    sent: dict[str, tuple[float, str]], stored: dict[str, list[dict[str, Any]]]
) -> dict[str, float]:
    """Event id -> publish → stored (ms), from the first stored copy's ``stored_at``."""
    out = {}
    for event_id, copies in stored.items():
        at = sent.get(event_id)
        stamps = [c.get("stored_at") for c in copies if c.get("stored_at")]
        if at is not None and stamps:
            out[event_id] = max(0.0, (min(parse_time(s) for s in stamps) - at[0]) * 1000)
    return out


def correlation_integrity(
    parents: dict[str, list[str]], stored: dict[str, list[dict[str, Any]]]
) -> tuple[float | None, list[str]]:
    """Percent of stored child events whose stored parents list equals what was sent and all resolve."""
    checked, broken = 0, []
    for child, sent_parents in parents.items():
        copies = stored.get(child)
        if not copies:
            continue  # not stored: counted as lost, not here
        checked += 1
        kept = copies[0].get("correlation_ids") == sent_parents
        if not kept or not all(p in stored for p in sent_parents):
            broken.append(child)
    return (100.0 * (checked - len(broken)) / checked if checked else None), broken[:20]


def per_second(
    sent: dict[str, tuple[float, str]],
    accepted: Iterable[str],
    latencies: dict[str, float],
    start: float,
) -> list[dict[str, Any]]:
    """One row per second of the run (by send time): events published and their e2e p50/p95/p99/max."""
    buckets: dict[int, list[str]] = {}
    for event_id in accepted:
        second = int(sent[event_id][0] - start)
        buckets.setdefault(second, []).append(event_id)
    rows = []
    for second in range(0, max(buckets) + 1 if buckets else 0):
        ids = buckets.get(second, [])
        values = [latencies[e] for e in ids if e in latencies]
        row = {"second": second, "published": len(ids)}
        row.update({k: v for k, v in summary(values, len(ids)).items() if k in ("p50", "p95", "p99", "max")})
        rows.append(row)
    return rows


def recovery_seconds(
    sent: dict[str, tuple[float, str]],
    accepted: set[str],
    stored: dict[str, list[dict[str, Any]]],
    cleared_at: float,
) -> float | None:
    """Seconds from the fault being cleared until the pipeline caught up under load, or None if it did not.

    Caught up = publishing works again (the first accepted event sent after the clear) AND the backlog
    is gone (every accepted event sent before the clear is stored: the newest ``stored_at`` among them).
    """
    after = [sent[e][0] for e in accepted if sent[e][0] >= cleared_at]
    if not after:
        return None
    before = [e for e in accepted if sent[e][0] < cleared_at]
    if any(e not in stored for e in before):
        return None
    backlog_done = max(
        (min(parse_time(c["stored_at"]) for c in stored[e] if c.get("stored_at")) for e in before),
        default=cleared_at,
    )
    return round(max(0.0, max(min(after), backlog_done) - cleared_at), 3)


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One record of several processes' records (see :meth:`load.locustfile.RunState.records`)."""
    merged: dict[str, Any] = {"sent": {}, "accepted": [], "parents": {}, "seen": {}, "statuses": {}}
    merged.update(invalid=0, schedule={}, in_flight=0)
    for part in parts:
        merged["sent"].update(part["sent"])
        merged["accepted"] += part["accepted"]
        merged["parents"].update(part["parents"])
        for event_id, at in part["seen"].items():
            merged["seen"][event_id] = min(at, merged["seen"].get(event_id, at))
        for kind, counts in part["statuses"].items():
            into = merged["statuses"].setdefault(kind, {})
            for status, n in counts.items():
                into[status] = into.get(status, 0) + n
        merged["invalid"] += part["invalid"]
        merged["in_flight"] += part["in_flight"]
        for kind, stats in part["schedule"].items():
            into = merged["schedule"].setdefault(
                kind, {"started": 0, "late": 0, "dropped": 0, "max_lag_ms": 0.0}
            )
            for key in ("started", "late", "dropped"):
                into[key] += stats[key]
            into["max_lag_ms"] = max(into["max_lag_ms"], stats["max_lag_ms"])
    return merged
