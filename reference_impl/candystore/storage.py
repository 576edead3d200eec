"""PostgreSQL storage: versioned migrations, the batched insert of the consumer, and the API's queries.

The consumer owns one connection (it reconnects after an outage); the API reads through a small pool.
Envelope columns are extracted by PostgreSQL from the body itself, so what is queried is what was received.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger("candystore.storage")

#: errors that say the database (or the way to it) is unavailable right now, not that a row is bad
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.QueryCanceled,
    psycopg.errors.LockNotAvailable,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    TimeoutError,
    OSError,
)
#: errors that a given row will cause again on every attempt (the database rejects its content)
ROW_ERRORS: tuple[type[BaseException], ...] = (psycopg.DataError, psycopg.IntegrityError)

_MIGRATION_LOCK = 0x33600D  # pg_advisory_lock key: one migrator at a time

# stored_at is strictly increasing in insertion order (the stream's resume cursor, ADR 0031): each row gets
# max(now, the newest stored_at + 1 us) plus its position in the batch, in microseconds (index of 0002).
_INSERT = """
WITH input AS (
    SELECT b.raw, b.rk, COALESCE(b.doc, convert_from(b.raw, 'UTF8'))::jsonb AS env, b.ord
    FROM unnest(%s::bytea[], %s::text[], %s::text[]) WITH ORDINALITY AS b(raw, rk, doc, ord)
),
base AS (
    SELECT GREATEST(clock_timestamp(),
                    (SELECT max(stored_at) FROM events) + interval '1 microsecond') AS at
)
INSERT INTO events (event_id, event_type, "timestamp", version, source, correlation_ids, agent_context,
                    payload, trace_context, envelope, routing_key, raw_body, stored_at)
SELECT (env ->> 'event_id')::uuid, env ->> 'event_type', (env ->> 'timestamp')::timestamptz,
       env ->> 'version', env -> 'source',
       ARRAY(SELECT jsonb_array_elements_text(env -> 'correlation_ids'))::uuid[],
       env -> 'agent_context', env -> 'payload', env -> 'trace_context', env, rk, raw,
       base.at + (ord - 1) * interval '1 microsecond'
FROM input CROSS JOIN base
ORDER BY ord
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id, stored_at
"""

_TRACE_IDS = """
WITH RECURSIVE
anc(event_id) AS (
        SELECT %(id)s::uuid
    UNION
        SELECT p.id FROM anc JOIN events e ON e.event_id = anc.event_id
        CROSS JOIN LATERAL unnest(e.correlation_ids) AS p(id)
),
des(event_id) AS (
        SELECT %(id)s::uuid
    UNION
        SELECT e.event_id FROM des JOIN events e
            ON e.correlation_ids @> ARRAY[des.event_id] AND e.correlation_ids <> '{}'
)
SELECT event_id FROM anc UNION SELECT event_id FROM des
LIMIT %(limit)s
"""
# second step by primary key: joining the recursive result directly lets the planner pick a full scan
_TRACE_ROWS = """
SELECT event_id, correlation_ids, raw_body, stored_at FROM events WHERE event_id = ANY(%s::uuid[])
ORDER BY "timestamp", event_id
"""


@dataclass(frozen=True)
class Row:
    """One event to insert: the body as received, the routing key, and (rarely) a jsonb-safe copy."""

    event_id: str
    body: bytes
    routing_key: str
    jsonb_text: str | None = None


@dataclass
class InsertResult:
    """Outcome of one committed batch."""

    stored: dict[str, datetime] = field(default_factory=dict)  # event_id -> stored_at
    existing: dict[str, bytes] = field(default_factory=dict)  # event_id -> raw body already stored


@dataclass(frozen=True)
class EventQuery:
    """Filters and page of ``GET /events``."""

    event_type: str | None = None
    source_app: str | None = None
    session_id: str | None = None
    correlation_id: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0

    def where(self) -> tuple[str, list[Any]]:
        """SQL condition and its parameters (each filter matches one index of migration 0001)."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.event_type is not None:
            clauses.append("event_type = %s")
            params.append(self.event_type)
        if self.source_app is not None:
            clauses.append("source ->> 'app' = %s")
            params.append(self.source_app)
        if self.session_id is not None:
            clauses.append(
                "((agent_context ? 'session_id' AND agent_context ->> 'session_id' = %s)"
                " OR (payload ? 'session_id' AND payload ->> 'session_id' = %s))"
            )
            params += [self.session_id, self.session_id]
        if self.correlation_id is not None:
            clauses.append("correlation_ids @> ARRAY[%s::uuid] AND correlation_ids <> '{}'")
            params.append(self.correlation_id)
        if self.since is not None:
            clauses.append('"timestamp" >= %s')
            params.append(self.since)
        if self.until is not None:
            clauses.append('"timestamp" < %s')
            params.append(self.until)
        return (" AND ".join(clauses) or "TRUE"), params


@dataclass(frozen=True)
class StoredEvent:
    """A row as the API needs it: the raw body (the envelope as published) and its storage time."""

    body: bytes
    stored_at: datetime


@dataclass(frozen=True)
class StreamRow:
    """A row replayed to a resuming stream subscriber."""

    event_type: str
    body: bytes
    stored_at: datetime


@dataclass(frozen=True)
class TraceRow:
    """One node of a trace: ``body`` is None when the id is referenced but not stored."""

    event_id: str
    correlation_ids: list[str]
    body: bytes | None
    stored_at: datetime | None


def migrations() -> list[tuple[int, str, str]]:
    """The bundled migrations as ``(version, name, sql)``, in order (``migrations/NNNN_name.sql``)."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        number, _, rest = name.partition("_")
        found.append((int(number), rest.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {versions}")
    return found


async def migrate(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    """Apply pending migrations (each in its own transaction, serialised by an advisory lock)."""
    applied: list[int] = []
    await conn.set_autocommit(True)
    await conn.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {v for (v,) in await cur.fetchall()}
        for version, name, sql in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", [version, name]
                )
            applied.append(version)
            log.info("applied migration %04d_%s", version, name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])
    return applied


class Storage:
    """The consumer's connection plus the API's pool, with the statements of both."""

    def __init__(self, database_url: str, *, timeout: float = 5.0, pool_size: int = 4) -> None:
        self.database_url = database_url
        self.timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._migrated = False
        self._background: set[asyncio.Future[Any]] = set()
        self._probe_at = -10.0
        self._probe_up = False
        self.pool = AsyncConnectionPool(
            database_url,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=timeout,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(timeout))},
            check=AsyncConnectionPool.check_connection,
            reconnect_timeout=24 * 3600.0,
            name="candystore-api",
        )

    # --- lifecycle ------------------------------------------------------------------------------------
    async def open(self) -> None:
        """Open the API pool (it connects in the background; no error when the database is down)."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        """Close every connection."""
        await self.drop_connection()
        await self.pool.close(timeout=2.0)

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        """The consumer's connection, (re)opened and migrated on demand."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            await self.drop_connection()
            self._conn = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(
                    self.database_url,
                    connect_timeout=max(1, round(self.timeout)),
                    options=f"-c statement_timeout={int(self.timeout * 1000)}"
                    f" -c lock_timeout={int(self.timeout * 1000)}",
                ),
                self.timeout + 1,
            )
            if not self._migrated:
                await migrate(self._conn)
                self._migrated = True
            await self._conn.set_autocommit(False)
        return self._conn

    async def drop_connection(self) -> None:
        """Forget the consumer's connection (after an error its state is unknown)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                await asyncio.wait_for(conn.close(), 1.0)
            except Exception:
                conn.pgconn.finish()

    @property
    def migrated(self) -> bool:
        return self._migrated

    async def ping(self, timeout: float = 1.0) -> bool:
        """True when a fresh connection can run ``SELECT 1`` within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout + 0.5):
                conn = await psycopg.AsyncConnection.connect(
                    self.database_url, connect_timeout=max(1, round(timeout)), autocommit=True
                )
                try:
                    await conn.execute("SELECT 1")
                finally:
                    await conn.close()
            return True
        except (*TRANSIENT_ERRORS, psycopg.Error):
            return False

    # --- consumer -------------------------------------------------------------------------------------
    async def insert(self, rows: Sequence[Row]) -> InsertResult:
        """Insert ``rows`` (distinct event ids) in one transaction and COMMIT; report what already existed.

        Raises a :data:`TRANSIENT_ERRORS` member when the database is unavailable or does not answer within
        the timeout (nothing committed; a late commit of an abandoned attempt is harmless, inserts are
        idempotent) and a :data:`ROW_ERRORS` member when a row's content is rejected.
        """
        conn = await self.connection()
        attempt = asyncio.ensure_future(self._insert_on(conn, rows))
        try:
            return await asyncio.wait_for(asyncio.shield(attempt), self.timeout + 1.0)
        except BaseException:
            if not attempt.done():
                # A frozen server answers neither the query nor its cancel request: leave the attempt to
                # finish in the background instead of waiting for psycopg's cancel grace period.
                self._abandon(conn, attempt)
            raise

    async def _insert_on(self, conn: psycopg.AsyncConnection[Any], rows: Sequence[Row]) -> InsertResult:
        result = InsertResult()
        try:
            async with conn.cursor(row_factory=tuple_row) as cur:
                await cur.execute(
                    _INSERT,
                    [[r.body for r in rows], [r.routing_key for r in rows], [r.jsonb_text for r in rows]],
                )
                for event_id, stored_at in await cur.fetchall():
                    result.stored[str(event_id)] = stored_at
                others = [r.event_id for r in rows if r.event_id not in result.stored]
                if others:
                    await cur.execute(
                        "SELECT event_id, raw_body FROM events WHERE event_id = ANY(%s::uuid[])", [others]
                    )
                    for event_id, raw in await cur.fetchall():
                        result.existing[str(event_id)] = bytes(raw)
            await conn.commit()
        except BaseException:
            await self._discard(conn)
            raise
        return result

    def _abandon(self, conn: psycopg.AsyncConnection[Any], attempt: asyncio.Future[Any]) -> None:
        if self._conn is conn:
            self._conn = None
        attempt.cancel()
        self._background.add(attempt)
        attempt.add_done_callback(self._background.discard)
        attempt.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no warning

    async def _discard(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """After a failed attempt: roll back (the connection stays usable) or close it."""
        if conn is self._conn:
            try:
                async with asyncio.timeout(1.0):
                    await conn.rollback()
                return
            except BaseException:
                pass
        if self._conn is conn:
            self._conn = None
        if not conn.closed:
            conn.pgconn.finish()

    # --- API ------------------------------------------------------------------------------------------
    async def list_events(self, query: EventQuery) -> tuple[list[StoredEvent], int]:
        """One page of events (newest first) and the total number matching the filters."""
        where, params = query.where()
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT raw_body, stored_at FROM events WHERE {where} "
                'ORDER BY "timestamp" DESC, event_id DESC LIMIT %s OFFSET %s',
                [*params, query.limit, query.offset],
            )
            rows = [StoredEvent(bytes(raw), stored_at) for raw, stored_at in await cur.fetchall()]
            if query.offset == 0 and len(rows) < query.limit:
                total = len(rows)
            else:
                cur = await conn.execute(f"SELECT count(*) FROM events WHERE {where}", params)
                (total,) = await cur.fetchone() or (0,)
        return rows, int(total)

    async def events_after(self, after: datetime, limit: int) -> list[StreamRow]:
        """Events stored after ``after``, oldest first (the stream's replay, ADR 0031)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT event_type, raw_body, stored_at FROM events WHERE stored_at > %s "
                "ORDER BY stored_at LIMIT %s",
                [after, limit],
            )
            return [StreamRow(t, bytes(raw), at) for t, raw, at in await cur.fetchall()]

    async def get_event(self, event_id: UUID) -> StoredEvent | None:
        """The stored event with this id, or None."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT raw_body, stored_at FROM events WHERE event_id = %s", [event_id])
            row = await cur.fetchone()
        return None if row is None else StoredEvent(bytes(row[0]), row[1])

    async def trace(self, event_id: UUID, limit: int) -> list[TraceRow]:
        """Ancestors, the event itself and descendants (oldest first), then referenced ids not stored."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(_TRACE_IDS, {"id": event_id, "limit": limit})
            ids = [eid for (eid,) in await cur.fetchall()]
            cur = await conn.execute(_TRACE_ROWS, [ids])
            rows = await cur.fetchall()
        found = {eid for eid, _, _, _ in rows}
        stored = [
            TraceRow(str(eid), [str(p) for p in (parents or [])], bytes(raw), stored_at)
            for eid, parents, raw, stored_at in rows
        ]
        return stored + [TraceRow(str(eid), [], None, None) for eid in ids if eid not in found]

    async def database_up(self) -> bool:
        """Health probe: a fresh connection (a pooled one can hang on a frozen server), cached for 1 s."""
        now = asyncio.get_running_loop().time()
        if now - self._probe_at > 1.0:
            self._probe_at = now
            self._probe_up = await self.ping(timeout=1.0)
        return self._probe_up
