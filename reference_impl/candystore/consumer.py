"""The consumer: broker topology, batching, classification, dead-lettering and ack-after-commit.

Per message: verify the signature (when keys are configured) → parse JSON → validate the envelope (and the
payload when its type is known) → store → acknowledge after COMMIT. Permanent failures are published to the
DLX with the original body and a reason, confirmed, and only then acknowledged. Transient failures keep
the messages in memory (neither acknowledged nor requeued) and retry with backoff; see
docs/adr/0004-candystore-ack-and-dlq.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from holyfields import JsonInvalid, Registry, dlq_reason, parse_json, registry
from reference_impl.candystore.codec import encode_event
from reference_impl.candystore.config import Settings
from reference_impl.candystore.deadletter import dead_letter_message
from reference_impl.candystore.metrics import Metrics
from reference_impl.candystore.signing import verify_signature
from reference_impl.candystore.storage import ROW_ERRORS, TRANSIENT_ERRORS, Row, Storage
from reference_impl.candystore.stream import Hub

log = logging.getLogger("candystore.consumer")

#: errors of a publish or an ack that mean "the channel or connection is gone" (the broker redelivers)
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPError,
    aiormq.exceptions.AMQPError,
    ConnectionError,
    TimeoutError,
    RuntimeError,
)

_ATTEMPT_MEMORY = 10_000


def _strip_nul(value: Any) -> Any:
    """A copy without U+0000 (PostgreSQL's jsonb cannot hold it; the raw body keeps the original)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def _event_time(envelope: dict[str, Any]) -> float | None:
    raw = envelope.get("timestamp")
    try:
        return datetime.fromisoformat(raw).timestamp() if isinstance(raw, str) else None
    except ValueError:
        return None


@dataclass(eq=False)
class Delivery:
    """One delivered message and what is known about it so far."""

    message: AbstractIncomingMessage
    envelope: dict[str, Any] | None = None
    event_id: str = ""
    reason: str | None = None
    detail: str = ""

    @property
    def body(self) -> bytes:
        return self.message.body

    @property
    def identity(self) -> bytes:
        """Key of the transient-attempt counter (the same body counts as the same message)."""
        return hashlib.sha1(self.message.body, usedforsecurity=False).digest()


class Consumer:
    """Consumes the Candystore queue into :class:`Storage` until :meth:`stop`."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        *,
        metrics: Metrics,
        hub: Hub,
        schemas: Registry | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.topology = settings.topology
        self.storage = storage
        self.metrics = metrics
        self.hub = hub
        self.schemas = schemas or registry()
        self._sleep = sleep
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._dlx: AbstractExchange | None = None
        self._queue: AbstractQueue | None = None
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._held: list[Delivery] = []
        # taken but not yet settled, so a multiple-ack must not cover them (the rejects while the valid part
        # of their batch is stored; the stored ones while their batch's conflicts are dead-lettered)
        self._unsettled: list[Delivery] = []
        self._attempts: OrderedDict[bytes, int] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._consumer_tag = ""
        self._stopping = asyncio.Event()
        self.database_up = False
        self.broker_error: str | None = None

    # --- state ----------------------------------------------------------------------------------------
    @property
    def broker_up(self) -> bool:
        conn, channel = self._connection, self._channel
        return bool(
            conn is not None
            and not conn.is_closed
            and conn.connected.is_set()
            and channel is not None
            and not channel.is_closed
            and self._queue is not None
        )

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Run in the background: connect (retrying), declare, consume, store."""
        self._task = asyncio.create_task(self._run(), name="candystore-consumer")

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop consuming, let the current batch finish (bounded), close the broker connection."""
        self._stopping.set()
        if self._queue is not None and self._consumer_tag:
            try:
                async with asyncio.timeout(2.0):
                    await self._queue.cancel(self._consumer_tag)
            except BaseException:
                pass
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except BaseException:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        if self._connection is not None:
            await asyncio.gather(self._connection.close(), return_exceptions=True)

    async def _run(self) -> None:
        """Supervise the pipeline: an unexpected error drops the connection (the broker redelivers every
        unacknowledged message) and starts over after a pause, so one bug cannot stall the store."""
        while not self._stopping.is_set():
            try:
                await self._wait_for_database()
                await self._connect()
                while not self._stopping.is_set():
                    batch = await self._next_batch()
                    if batch:
                        await self._process(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "consumer pipeline failed; reconnecting (unacknowledged messages are redelivered)"
                )
                await self._reset()
                await self._sleep(self.settings.backoff_max)

    async def _reset(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = self._queue = self._dlx = None
        self._consumer_tag = ""
        self._held.clear()
        while not self._inbox.empty():
            self._inbox.get_nowait()
        self.metrics.in_flight.set(0)
        if connection is not None:
            await asyncio.gather(connection.close(), return_exceptions=True)

    async def _wait_for_database(self) -> None:
        """Open the consumer's connection (applies migrations) before taking any message."""
        delay = self.settings.backoff_initial
        while not self._stopping.is_set():
            try:
                await self.storage.connection()
                self.database_up = True
                return
            except (*TRANSIENT_ERRORS, *ROW_ERRORS) as exc:
                self.database_up = False
                log.warning("database not reachable yet (%s); retrying in %.1f s", exc, delay)
                await self._sleep(delay)
                delay = min(delay * 2, self.settings.backoff_max)

    async def _connect(self) -> None:
        """Connect (robust: reconnects by itself), declare the topology of SPEC §2, start consuming."""
        delay = self.settings.backoff_initial
        while not self._stopping.is_set():
            try:
                await self._declare()
                self.broker_error = None
                return
            except (*BROKER_ERRORS, OSError) as exc:
                self.broker_error = f"{type(exc).__name__}: {exc}"
                log.warning("broker not ready (%s); retrying in %.1f s", self.broker_error, delay)
                if self._connection is not None:
                    await asyncio.gather(self._connection.close(), return_exceptions=True)
                    self._connection = None
                await self._sleep(delay)
                delay = min(delay * 2, self.settings.backoff_max)

    async def _declare(self) -> None:
        topo = self.topology
        self._connection = conn = await aio_pika.connect_robust(
            self.settings.amqp_url,
            client_properties={"connection_name": "candystore"},
            reconnect_interval=self.settings.backoff_max,
            timeout=10,
        )
        channel = await conn.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self.settings.prefetch)
        exchange = await channel.declare_exchange(topo.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        dlx = await channel.declare_exchange(topo.dlx, aio_pika.ExchangeType.TOPIC, durable=True)
        dlq = await channel.declare_queue(topo.dlq, durable=True)
        await dlq.bind(dlx, "#")
        queue = await channel.declare_queue(topo.queue, durable=True, arguments=topo.queue_arguments())
        await queue.bind(exchange, "#")
        publisher = await conn.channel(publisher_confirms=True, on_return_raises=True)
        self._dlx = await publisher.get_exchange(topo.dlx, ensure=False)
        self._consumer_tag = await queue.consume(self._deliver)
        self._channel, self._queue = channel, queue  # type: ignore[assignment]
        log.info("consuming %s (prefetch %d)", topo.queue, self.settings.prefetch)

    async def _deliver(self, message: AbstractIncomingMessage) -> None:
        self.metrics.received.inc()
        self.metrics.in_flight.inc()
        self._inbox.put_nowait(message)

    # --- batching -------------------------------------------------------------------------------------
    async def _next_batch(self) -> list[Delivery]:
        """Held messages first, then whatever arrives within the linger time (up to the batch size)."""
        batch, self._held = self._held, []
        limit = self.settings.batch_size
        if not batch:
            stop = asyncio.ensure_future(self._stopping.wait())
            get = asyncio.ensure_future(self._inbox.get())
            await asyncio.wait({stop, get}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not get.done():
                get.cancel()
                return []
            batch.append(Delivery(get.result()))
        deadline = time.monotonic() + self.settings.batch_linger
        while len(batch) < limit:
            while len(batch) < limit and not self._inbox.empty():
                batch.append(Delivery(self._inbox.get_nowait()))
            remaining = deadline - time.monotonic()
            if len(batch) >= limit or remaining <= 0:
                break
            try:
                batch.append(Delivery(await asyncio.wait_for(self._inbox.get(), remaining)))
            except TimeoutError:
                break
        return [d for d in batch if self._alive(d)]

    def _alive(self, delivery: Delivery) -> bool:
        """False when the message came on a channel that is gone (the broker redelivers it)."""
        try:
            delivery.message.channel  # noqa: B018 - raises when the channel is closed
            return True
        except aio_pika.exceptions.ChannelInvalidStateError:
            self.metrics.in_flight.dec()
            return False

    # --- one batch ------------------------------------------------------------------------------------
    async def _process(self, batch: list[Delivery]) -> None:
        for delivery in batch:
            if delivery.envelope is None and delivery.reason is None:
                self._classify(delivery)
        rejected = [d for d in batch if d.reason is not None]
        valid = [d for d in batch if d.reason is None]
        if valid:
            # Valid events first: in a poison storm they must not wait for the dead letters of their batch.
            self._unsettled = rejected
            try:
                await self._store(valid)
            finally:
                self._unsettled = []
        if rejected:
            await self._dead_letter_all(rejected)

    def _classify(self, d: Delivery) -> None:
        """Set ``d.envelope`` or ``d.reason`` + ``d.detail`` (the permanent-failure checks)."""
        if self.settings.signing_keys:
            headers = d.message.headers or {}
            if self.settings.require_signatures or "x-signature" in headers:
                problem = verify_signature(d.body, headers, self.settings.signing_keys)
                if problem is not None:
                    d.reason, d.detail = "signature_invalid", problem
                    return
        try:
            envelope = parse_json(d.body)
        except JsonInvalid as exc:
            d.reason, d.detail = "json_invalid", str(exc)
            return
        if not self.schemas.is_valid(envelope, require_known_type=False):
            issues = self.schemas.validate(envelope, require_known_type=False)
            if issues:
                d.reason = dlq_reason(issues)
                d.detail = "; ".join(issue.message for issue in issues[:5])
                return
        assert isinstance(envelope, dict)
        d.envelope = envelope
        d.event_id = str(envelope["event_id"]).lower()

    async def _store(self, batch: list[Delivery]) -> None:
        """Insert, commit, then acknowledge; on failure keep, split, or dead-letter as the error says."""
        first: dict[str, Delivery] = {}
        repeats: list[Delivery] = []
        for d in batch:
            if d.event_id in first:
                repeats.append(d)
            else:
                first[d.event_id] = d
        unique = list(first.values())
        rows = [self._row(d) for d in unique]
        began = time.perf_counter()
        try:
            result = await self.storage.insert(rows)
        except TRANSIENT_ERRORS as exc:
            await self._transient(batch, exc)
            return
        except ROW_ERRORS as exc:
            await self._row_error(batch, exc)
            return
        committed = time.time()
        self.database_up = True
        self.metrics.storage_latency.observe(time.perf_counter() - began)
        done: list[Delivery] = []
        conflicts: list[Delivery] = []
        streamed: list[tuple[str, datetime, bytes]] = []
        for d in unique:
            stored_at = result.stored.get(d.event_id)
            if stored_at is not None:
                done.append(d)
                when = _event_time(d.envelope or {})
                if when is not None:
                    self.metrics.end_to_end_latency.observe(max(0.0, committed - when))
                if self.hub.subscribers:
                    event_type = str((d.envelope or {}).get("event_type"))
                    streamed.append((event_type, stored_at, encode_event(d.body, stored_at)))
            elif self._same_event(d, result.existing.get(d.event_id)):
                done.append(d)
                self.metrics.duplicates.inc()
            else:
                conflicts.append(d)
        for d in repeats:
            original = first[d.event_id]
            stored_body = result.existing.get(d.event_id, original.body)
            if self._same_event(d, stored_body):
                done.append(d)
                self.metrics.duplicates.inc()
            else:
                conflicts.append(d)
        self.metrics.stored.inc(len(result.stored))
        if self._attempts:
            for d in done:
                self._attempts.pop(d.identity, None)
        if conflicts:  # before the ack: a multiple-ack must never cover a message not yet dead-lettered
            for d in conflicts:
                d.reason = "duplicate_conflict"
                d.detail = f"event_id {d.event_id} is already stored with a different body"
            outer, self._unsettled = self._unsettled, [*self._unsettled, *done]
            try:
                await self._dead_letter_all(conflicts)
            finally:
                self._unsettled = outer
        await self._ack(done)
        if streamed:
            streamed.sort(key=lambda item: item[1])  # the hub keeps stored order (the resume cursor)
            self.hub.publish(streamed)

    @staticmethod
    def _row(d: Delivery) -> Row:
        jsonb_text = None
        if b"\\u0000" in d.body:
            jsonb_text = json.dumps(_strip_nul(d.envelope))
        return Row(d.event_id, d.body, d.message.routing_key or "", jsonb_text)

    @staticmethod
    def _same_event(d: Delivery, stored: bytes | None) -> bool:
        """Identical body, the same JSON document (a redelivery may be re-serialised), or the same document
        but for the fields the producer filled in for this message (``x-filled-fields``, ADR 0030)."""
        if stored is None:
            return False
        if stored == d.body:
            return True
        try:
            document = parse_json(stored)
        except JsonInvalid:
            return False
        if document == d.envelope:
            return True
        filled = filled_fields(d.message.headers)
        if not filled or not isinstance(document, dict) or d.envelope is None:
            return False
        return _without(document, filled) == _without(d.envelope, filled)

    async def _transient(self, batch: list[Delivery], exc: BaseException) -> None:
        """Keep every message. A database outage costs no attempts; a failure with the database up does."""
        self.metrics.transient_failures.inc()
        if not await self.storage.ping():
            log.warning("database unavailable (%r): holding %d messages until it returns", exc, len(batch))
            self.database_up = False
            await self._await_database()
            self._held = batch + self._held
            return
        if len(batch) > 1:
            # The database answers: find the message(s) that fail, one transaction each.
            for d in batch:
                await self._store([d])
            return
        d = batch[0]
        attempts = self._attempts.get(d.identity, 0) + 1
        self._attempts[d.identity] = attempts
        self._attempts.move_to_end(d.identity)
        while len(self._attempts) > _ATTEMPT_MEMORY:
            self._attempts.popitem(last=False)
        if attempts >= self.settings.max_transient_attempts:
            self._attempts.pop(d.identity, None)
            d.reason = "retries_exhausted"
            d.detail = f"storing failed {attempts} times, last error: {type(exc).__name__}: {exc}"
            await self._dead_letter_all([d])
            return
        delay = min(self.settings.backoff_initial * 2 ** (attempts - 1), self.settings.backoff_max)
        log.warning(
            "storing %s failed (%r), attempt %d; retrying in %.2f s", d.event_id, exc, attempts, delay
        )
        await self._sleep(delay)
        self._held.append(d)

    async def _await_database(self) -> None:
        delay = self.settings.backoff_initial
        while not self._stopping.is_set():
            await self._sleep(delay)
            if await self.storage.ping():
                self.database_up = True
                log.info("database is back; resuming")
                return
            delay = min(delay * 2, self.settings.backoff_max)

    async def _row_error(self, batch: list[Delivery], exc: BaseException) -> None:
        """The database rejected a row's content: find it (one transaction each) and dead-letter it."""
        if len(batch) > 1:
            for d in batch:
                await self._store([d])
            return
        d = batch[0]
        d.reason = "storage_rejected"
        d.detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        await self._dead_letter_all([d])

    # --- broker side effects --------------------------------------------------------------------------
    async def _ack(self, deliveries: list[Delivery]) -> None:
        """Acknowledge (multiple=True on the highest tag when nothing older is still held or unsettled)."""
        if not deliveries:
            return
        self.metrics.in_flight.dec(len(deliveries))
        highest = max(deliveries, key=lambda d: d.message.delivery_tag or 0)
        held_tags = [d.message.delivery_tag or 0 for d in (*self._held, *self._unsettled)]
        try:
            if not held_tags or min(held_tags) > (highest.message.delivery_tag or 0):
                await highest.message.ack(multiple=True)
            else:
                for d in deliveries:
                    await d.message.ack()
        except BROKER_ERRORS as exc:
            log.warning("ack failed (%s); the broker will redeliver, storage is idempotent", exc)

    async def _dead_letter_all(self, deliveries: list[Delivery]) -> None:
        """Publish each to the DLX (confirmed), then ack the confirmed ones together. Unconfirmed ones are
        held and retried."""
        results = await asyncio.gather(*(self._dead_letter(d) for d in deliveries), return_exceptions=True)
        confirmed = [d for d, ok in zip(deliveries, results, strict=True) if ok is True]
        failed = [(d, ok) for d, ok in zip(deliveries, results, strict=True) if ok is not True]
        # the failed ones are not settled: a multiple-ack of the confirmed ones must not cover them
        outer, self._unsettled = self._unsettled, [*self._unsettled, *(d for d, _ in failed)]
        try:
            await self._ack(confirmed)
        finally:
            self._unsettled = outer
        if confirmed:
            reasons = Counter(str(d.reason) for d in confirmed)
            log.info("dead-lettered %d message(s): %s", len(confirmed), dict(reasons))
        for d, ok in failed:
            log.warning("dead-lettering %s failed (%s); keeping the message", d.event_id or "message", ok)
            await self._sleep(self.settings.backoff_initial)
            self._held.append(d)

    async def _dead_letter(self, d: Delivery) -> bool:
        m = d.message
        assert d.reason is not None
        message = dead_letter_message(m, d.reason, d.detail)
        if self._dlx is None:
            raise RuntimeError("not connected to the broker")
        await self._dlx.publish(
            message, routing_key=self.topology.dlq_routing_key, mandatory=True, timeout=10
        )
        self.metrics.dead_lettered.labels(d.reason).inc()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("dead-lettered %s: %s (%s)", d.event_id or m.message_id, d.reason, d.detail[:200])
        return True  # acknowledged by _dead_letter_all, together with the others confirmed


#: AMQP header naming the envelope fields the producer filled in, not the client (ADR 0030)
FILLED_HEADER = "x-filled-fields"
#: the only fields that header may exclude from the duplicate comparison
FILLABLE = frozenset({"timestamp", "version", "source", "trace_context"})


def filled_fields(headers: Mapping[str, Any] | None) -> frozenset[str]:
    """The :data:`FILLABLE` fields named by ``x-filled-fields`` (comma-separated); other names are ignored,
    so the header can never exclude ``payload`` or any other client field from the comparison."""
    value = (headers or {}).get(FILLED_HEADER)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return frozenset()
    return frozenset(name.strip() for name in value.split(",")) & FILLABLE


def _without(document: Mapping[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in names}
