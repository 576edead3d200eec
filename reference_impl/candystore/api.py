"""The HTTP and WebSocket API of Candystore (SPEC §4); the consumer runs in the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from importlib import metadata
from typing import Annotated, Any
from uuid import UUID

import psycopg
import psycopg_pool
from fastapi import FastAPI, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from reference_impl._headers import HeaderLimit
from reference_impl.candystore.codec import encode_event, rfc3339
from reference_impl.candystore.config import Settings
from reference_impl.candystore.consumer import Consumer
from reference_impl.candystore.metrics import Metrics
from reference_impl.candystore.storage import EventQuery, Storage
from reference_impl.candystore.stream import FilterInvalid, Hub, Subscriber, TopicFilter
from reference_impl.candystore.tracing import StoreSpans

log = logging.getLogger("candystore.api")

try:
    VERSION = metadata.version("harness33god")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a plain checkout
    VERSION = "0.0.0"


# --- documented response shapes (the handlers stream pre-encoded JSON) -----------------------------------
class StoredEvent(BaseModel):
    """An envelope exactly as published (unknown extra fields included) plus ``stored_at``."""

    model_config = ConfigDict(extra="allow")

    event_id: UUID
    event_type: str
    timestamp: str = Field(description="RFC 3339, as published")
    version: str
    source: dict[str, Any]
    correlation_ids: list[UUID] = Field(description="ids of the parent events; [] for a root event")
    agent_context: dict[str, Any] | None = Field(None, description="absent when not published")
    payload: dict[str, Any]
    trace_context: dict[str, Any] | None = Field(None, description="absent when not published")
    stored_at: str = Field(description="RFC 3339 UTC time of the commit")


class EventPage(BaseModel):
    events: list[StoredEvent] = Field(description="newest first (event timestamp, then event_id)")
    total: int = Field(description="events matching the filters")
    limit: int
    offset: int
    has_more: bool = Field(description="offset + len(events) < total")


class Edge(BaseModel):
    parent: UUID
    child: UUID


class Trace(BaseModel):
    root_event_ids: list[UUID] = Field(description="returned events without a parent among the returned ones")
    events: list[StoredEvent] = Field(description="ancestors, the event, descendants; oldest first")
    edges: list[Edge]
    missing_parents: list[UUID] = Field(description="ancestor ids referenced in correlation_ids, not stored")
    truncated: bool = Field(description="true when CANDYSTORE_TRACE_MAX_EVENTS cut the result")


class Health(BaseModel):
    status: str = Field(description="ok when database and broker are up, else degraded")
    version: str
    database: str = Field(description="up or down")
    broker: str = Field(description="up or down")


class Detail(BaseModel):
    detail: str


_NO_NUL = "^[^\\x00]*$"  # PostgreSQL text cannot hold U+0000
_MAX_OFFSET = 2**31 - 1


def _json(data: bytes | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_DATE_TIME: dict[str, Any] = {"json_schema_extra": {"format": "date-time"}}


def _date_time(name: str, value: str | None) -> datetime | None:
    """Parse an RFC 3339 date-time with offset; 422 naming the parameter otherwise."""
    if value is None:
        return None
    try:
        if not _RFC3339.match(value):
            raise ValueError
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": "must be an RFC 3339 date-time with offset, e.g. 2025-01-15T09:30:00Z",
                    "type": "datetime_parsing",
                    "input": value,
                }
            ]
        ) from None


def create_app(settings: Settings | None = None, *, run_consumer: bool = True) -> FastAPI:
    """The Candystore app. Nothing connects until the lifespan starts (so the OpenAPI can be exported)."""
    settings = settings or Settings()
    metrics = Metrics()
    hub = Hub(settings.stream_queue_size)
    storage = Storage(settings.database_url, timeout=settings.db_timeout, pool_size=settings.api_pool_size)
    state: dict[str, Consumer] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await storage.open()
        spans = StoreSpans(settings.otlp_endpoint) if settings.otlp_endpoint else None
        if run_consumer:
            consumer = Consumer(settings, storage, metrics=metrics, hub=hub, spans=spans)
            state["consumer"] = consumer
            consumer.start()
        try:
            yield
        finally:
            if "consumer" in state:
                await state["consumer"].stop()
            await storage.close()
            if spans is not None:
                spans.shutdown()  # flushes what is still buffered

    app = FastAPI(
        title="Candystore",
        version=VERSION,
        description=(
            "Event store of the 33GOD pipeline: every event consumed from RabbitMQ, stored in PostgreSQL "
            "with the full envelope, queried here. Events are returned exactly as published plus stored_at."
        ),
        lifespan=lifespan,
    )
    app.state.storage = storage
    app.add_middleware(
        HeaderLimit, max_bytes=settings.max_header_bytes, setting="CANDYSTORE_MAX_HEADER_BYTES"
    )
    app.state.metrics = metrics
    app.state.hub = hub

    unavailable = {503: {"model": Detail, "description": "database unavailable (retry later)"}}

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InterfaceError)
    @app.exception_handler(psycopg_pool.PoolTimeout)
    @app.exception_handler(TimeoutError)
    async def database_unavailable(_: Request, exc: Exception) -> Response:
        log.warning("query failed: %s", exc)
        return JSONResponse({"detail": "database unavailable"}, status_code=503, headers={"Retry-After": "2"})

    @app.get("/events", response_model=None, responses={200: {"model": EventPage}, **unavailable})
    async def list_events(
        event_type: Annotated[str | None, Query(description="exact event type", pattern=_NO_NUL)] = None,
        source_app: Annotated[str | None, Query(description="source.app", pattern=_NO_NUL)] = None,
        session_id: Annotated[
            str | None,
            Query(description="agent_context.session_id or payload.session_id", pattern=_NO_NUL),
        ] = None,
        correlation_id: Annotated[
            UUID | None, Query(description="events whose correlation_ids contain it")
        ] = None,
        since: Annotated[str | None, Query(description="timestamp >= since", **_DATE_TIME)] = None,
        until: Annotated[str | None, Query(description="timestamp < until", **_DATE_TIME)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=_MAX_OFFSET)] = 0,
    ) -> Response:
        """Stored events, newest first, filtered and paginated."""
        query = EventQuery(
            event_type,
            source_app,
            session_id,
            correlation_id,
            _date_time("since", since),
            _date_time("until", until),
            limit,
            offset,
        )
        rows, total = await storage.list_events(query)
        events = b",".join(encode_event(r.body, r.stored_at) for r in rows)
        tail = json.dumps(
            {"total": total, "limit": limit, "offset": offset, "has_more": offset + len(rows) < total}
        ).encode()
        return _json(b'{"events":[' + events + b"]," + tail[1:])

    @app.get(
        "/events/trace/{event_id}",
        response_model=None,
        responses={
            200: {"model": Trace},
            404: {"model": Detail, "description": "unknown event"},
            **unavailable,
        },
    )
    async def trace(event_id: Annotated[UUID, Path(description="any event of the chain")]) -> Response:
        """The causation chain through an event: its ancestors and descendants via correlation_ids."""
        rows = await storage.trace(event_id, settings.trace_max_events)
        stored = {r.event_id: r for r in rows if r.body is not None}
        if str(event_id) not in stored:
            return _json({"detail": f"event {event_id} not found"}, 404)
        missing = [r.event_id for r in rows if r.body is None]
        known = set(stored) | set(missing)
        edges = [
            {"parent": parent, "child": row.event_id}
            for row in stored.values()
            for parent in dict.fromkeys(row.correlation_ids)
            if parent in known
        ]
        roots = [r.event_id for r in stored.values() if not any(p in stored for p in r.correlation_ids)]
        events = b",".join(encode_event(r.body, r.stored_at) for r in stored.values() if r.body is not None)
        rest = json.dumps(
            {"edges": edges, "missing_parents": missing, "truncated": len(rows) >= settings.trace_max_events}
        ).encode()
        head = json.dumps({"root_event_ids": roots}).encode()
        return _json(head[:-1] + b',"events":[' + events + b"]," + rest[1:])

    @app.get(
        "/events/{event_id}",
        response_model=None,
        responses={
            200: {"model": StoredEvent},
            404: {"model": Detail, "description": "unknown event"},
            **unavailable,
        },
    )
    async def get_event(event_id: Annotated[UUID, Path(description="the event_id (uuid)")]) -> Response:
        """One stored event: the envelope as published plus stored_at."""
        row = await storage.get_event(event_id)
        if row is None:
            return _json({"detail": f"event {event_id} not found"}, 404)
        return _json(encode_event(row.body, row.stored_at))

    @app.websocket("/events/stream")
    async def stream(websocket: WebSocket, event_type: str | None = None, after: str | None = None) -> None:
        """Each newly stored event as a JSON text message, in stored order (ADR 0031).

        ``event_type`` takes topic wildcards (``*`` one word, ``#`` zero or more; at most 255 characters and
        32 words, else closed with 1008 naming the limit). ``after=<stored_at>`` first replays every event
        stored after it, then continues live, without gap or repeat. A subscriber that falls more than
        ``CANDYSTORE_STREAM_QUEUE_SIZE`` events behind is closed with 1013 and the reason
        ``too slow; resume with ?after=<stored_at of the last event it got>``.
        """
        problem = None
        topic = cursor = None
        try:
            topic = TopicFilter.parse(event_type) if event_type is not None else None
        except FilterInvalid as exc:
            problem = str(exc)
        if problem is None and after is not None:
            try:
                cursor = _date_time("after", after)
            except RequestValidationError:
                problem = "after must be an RFC 3339 date-time with offset (the stored_at of an event)"
        if problem is not None:
            await websocket.accept()
            await websocket.close(code=1008, reason=problem)
            return
        sub = hub.subscribe(topic, cursor)  # before accept: nothing stored after the handshake is missed
        metrics.stream_clients.inc()
        receiver: asyncio.Future[None] | None = None
        try:
            await websocket.accept()
            receiver = asyncio.ensure_future(_drain(websocket))
            if cursor is not None:
                await _replay(websocket, sub, receiver)
            await _live(websocket, sub, receiver)
        except (WebSocketDisconnect, _ClientGone):
            pass
        except (
            psycopg.OperationalError,
            psycopg.InterfaceError,
            psycopg_pool.PoolTimeout,
            TimeoutError,
        ) as exc:
            log.warning("stream replay failed: %s", exc)  # the database is down: the client can resume later
            resume = hub.resume_cursor(sub)
            hint = rfc3339(resume) if resume is not None else after
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await websocket.close(code=1011, reason=f"database unavailable; resume with ?after={hint}")
        finally:
            if receiver is not None:
                receiver.cancel()
            hub.unsubscribe(sub)
            metrics.stream_clients.dec()

    async def _send(websocket: WebSocket, data: bytes) -> None:
        try:
            await websocket.send_text(data.decode())
        except (RuntimeError, OSError) as exc:  # the client went away mid-send
            raise _ClientGone from exc

    async def _replay(websocket: WebSocket, sub: Subscriber, receiver: asyncio.Future[None]) -> None:
        """Events stored after the cursor, from the store in pages, until the hub holds everything newer."""
        while True:
            mark = hub.next_seq
            while True:
                assert sub.cursor is not None
                rows = await storage.events_after(sub.cursor, REPLAY_PAGE)
                for row in rows:
                    if sub.wants(row.event_type):
                        await _send(websocket, encode_event(row.body, row.stored_at))
                        sub.delivered += 1
                    sub.cursor = row.stored_at
                if receiver.done():
                    raise _ClientGone
                if len(rows) < REPLAY_PAGE:
                    break
            if hub.base_seq <= mark:  # every event published since the last query is still buffered
                sub.seq = mark
                return

    async def _live(websocket: WebSocket, sub: Subscriber, receiver: asyncio.Future[None]) -> None:
        while True:
            if hub.behind(sub):
                resume = hub.resume_cursor(sub)
                hint = rfc3339(resume) if resume is not None else "<stored_at>"
                await websocket.close(code=1013, reason=f"too slow; resume with ?after={hint}")
                return
            items = hub.read(sub)
            if not items:
                waiter = asyncio.ensure_future(hub.wait(sub))
                await asyncio.wait({waiter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if not waiter.done():
                    waiter.cancel()
                    return  # the client left
                continue
            for item in items:
                sub.seq = item.seq + 1
                if sub.cursor is not None and item.stored_at <= sub.cursor:
                    continue  # already replayed from the store
                if sub.wants(item.event_type):
                    await _send(websocket, item.data)
                    sub.delivered += 1
                sub.cursor = item.stored_at
            if receiver.done():
                return

    async def health_body() -> dict[str, str]:
        consumer = state.get("consumer")
        db_up = storage.migrated and await storage.database_up()
        broker_up = consumer is not None and consumer.broker_up
        return {
            "status": "ok" if db_up and broker_up else "degraded",
            "version": VERSION,
            "database": "up" if db_up else "down",
            "broker": "up" if broker_up else "down",
        }

    @app.get("/health", response_model=Health)
    async def health() -> dict[str, str]:
        """Liveness: 200 while the process runs; the body says whether database and broker are up."""
        return await health_body()

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health, "description": "not ready"}})
    async def readyz() -> Response:
        """200 only when both the database and the broker are up."""
        body = await health_body()
        return _json(body, 200 if body["status"] == "ok" else 503)

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def metrics_endpoint() -> Response:
        """Prometheus text exposition."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


#: rows per replay query of a resuming stream subscriber
REPLAY_PAGE = 500


class _ClientGone(Exception):
    """The stream client disconnected."""


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) client messages until the client disconnects."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


def export_openapi() -> str:
    """The OpenAPI document as committed to ``contracts/openapi/candystore.openapi.json``."""
    return json.dumps(create_app(run_consumer=False).openapi(), sort_keys=True, indent=2) + "\n"
