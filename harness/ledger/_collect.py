"""Observers of the pipeline: what is stored (Candystore API, or the database when internal access is allowed)
and what was dead-lettered (the DLQ, drained over AMQP)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx


@dataclass(frozen=True)
class DeadLetter:
    """One message drained from a dead-letter queue."""

    event_id: str | None
    reason: str
    detail: str
    body: bytes
    routing_key: str
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None

    @classmethod
    def from_message(cls, method: Any, props: Any, body: bytes) -> DeadLetter:
        """Build from what pika's ``basic_get`` returns."""
        headers = dict(props.headers or {})
        detail = headers.get("x-dlq-detail", "")
        return cls(
            event_id=_event_id(body, props.message_id),
            reason=_reason(headers),
            detail=detail.decode() if isinstance(detail, bytes) else str(detail),
            body=body,
            routing_key=method.routing_key,
            headers=headers,
            message_id=props.message_id,
        )


def _reason(headers: dict[str, Any]) -> str:
    reason = headers.get("x-dlq-reason")
    if reason:
        return reason.decode() if isinstance(reason, bytes) else str(reason)
    deaths = headers.get("x-death") or []
    if deaths:
        first = deaths[0].get("reason", "")
        return f"x-death:{first.decode() if isinstance(first, bytes) else first}"
    return "unknown"


def _event_id(body: bytes, message_id: str | None) -> str | None:
    try:
        value = json.loads(body)
        if isinstance(value, dict) and isinstance(value.get("event_id"), str):
            return value["event_id"]
    except ValueError:
        pass
    return message_id


def drain_dead_letters(channel: Any, queue: str, limit: int = 100_000) -> list[DeadLetter]:
    """Take every message now in ``queue`` (a pika channel), acknowledging each one."""
    letters = []
    for _ in range(limit):
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        letters.append(DeadLetter.from_message(method, props, body))
    return letters


def api_stored_counts(
    candystore_url: str,
    *,
    since: float | None = None,
    page: int = 1000,
    client: httpx.Client | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, int]:
    """Event id -> times listed by ``GET /events`` (black-box; a duplicate shows as a count > 1)."""
    params: dict[str, Any] = {"limit": page}
    if since is not None:
        # events carry producer timestamps; allow for clock skew between producer and observer
        params["since"] = datetime.fromtimestamp(since - 300, UTC).isoformat()
    own = client is None
    client = client or httpx.Client(timeout=30, headers=headers)
    counts: Counter[str] = Counter()
    try:
        offset = 0
        while True:
            response = client.get(f"{candystore_url}/events", params={**params, "offset": offset})
            response.raise_for_status()
            data = response.json()
            for event in data["events"]:
                counts[event["event_id"]] += 1
            offset += len(data["events"])
            if not data.get("has_more") or not data["events"]:
                break
    finally:
        if own:
            client.close()
    return dict(counts)


def db_stored_counts(database_url: str, table: str = "events") -> dict[str, int]:
    """Event id -> rows in the reference Candystore's table (internal access only)."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"select event_id::text, count(*) from {table} group by event_id").fetchall()
    return {eid: n for eid, n in rows}


def wait_until_settled(
    ledger: Any, observe: Callable[[], None], *, timeout: float, interval: float = 0.5
) -> bool:
    """Call ``observe`` (it feeds the ledger) until every accepted event is accounted for, or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        observe()
        if ledger.settled():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
