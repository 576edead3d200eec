"""What Candybar (the TypeScript monitoring UI) reads from Candystore, modeled as a small Python client.

The consumer test runs this client against the Pact mock server, so the pact records exactly the requests
Candybar makes and the fields it uses: a field the client reads is a field the contract requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx


class EventNotFound(LookupError):
    """Candystore answered 404 for an event id."""


class InvalidQuery(ValueError):
    """Candystore rejected the query parameters (422)."""


@dataclass(frozen=True)
class EventRow:
    """One row of Candybar's event list."""

    event_id: str
    event_type: str
    timestamp: datetime
    version: str
    source: str
    parents: tuple[str, ...]
    agent: str | None
    session_id: str | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, event: dict[str, Any]) -> EventRow:
        source = event["source"]
        agent = event.get("agent_context") or {}
        return cls(
            event_id=event["event_id"],
            event_type=event["event_type"],
            timestamp=datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")),
            version=event["version"],
            source=f"{source.get('app', '?')}@{source['host']} ({source['type']})",
            parents=tuple(event["correlation_ids"]),
            agent=agent.get("name"),
            session_id=agent.get("session_id"),
            payload=event["payload"],
        )


@dataclass(frozen=True)
class Page:
    rows: list[EventRow]
    total: int
    limit: int
    offset: int
    has_more: bool

    @classmethod
    def of(cls, body: dict[str, Any]) -> Page:
        return cls(
            rows=[EventRow.of(event) for event in body["events"]],
            total=body["total"],
            limit=body["limit"],
            offset=body["offset"],
            has_more=body["has_more"],
        )


@dataclass(frozen=True)
class Trace:
    roots: list[str]
    rows: list[EventRow]
    edges: list[tuple[str, str]]
    missing_parents: list[str]


class CandybarClient:
    """The Candystore calls Candybar makes."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=str(base_url), timeout=10.0)

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(path, params=params or None)
        if response.status_code == 404:
            raise EventNotFound(response.json()["detail"])
        if response.status_code == 422:
            raise InvalidQuery(path)
        response.raise_for_status()
        return response.json()

    def session(self, session_id: str, *, limit: int, offset: int) -> Page:
        return Page.of(self._get("/events", session_id=session_id, limit=limit, offset=offset))

    def latest(self, *, limit: int) -> Page:
        return Page.of(self._get("/events", limit=limit))

    def event(self, event_id: str) -> EventRow:
        return EventRow.of(self._get(f"/events/{event_id}"))

    def trace(self, event_id: str) -> Trace:
        body = self._get(f"/events/trace/{event_id}")
        return Trace(
            roots=body["root_event_ids"],
            rows=[EventRow.of(event) for event in body["events"]],
            edges=[(edge["parent"], edge["child"]) for edge in body["edges"]],
            missing_parents=body["missing_parents"],
        )

    def health(self) -> dict[str, str]:
        body = self._get("/health")
        return {key: body[key] for key in ("status", "version", "database", "broker")}

    def close(self) -> None:
        self.http.close()
