"""The consumer: broker topology, storage error policy, dead-lettering and ack-after-commit.

Batching is :mod:`reference_impl.candystore.batching`; what a message is (classification, its row,
"the same event") is :mod:`reference_impl.candystore.classify`.

Per message: verify the signature (when keys are configured) → parse JSON → validate the envelope (and the
payload when its type is known) → store → acknowledge after COMMIT. Permanent failures are published to the
DLX with the original body and a reason, confirmed, and only then acknowledged. Transient failures keep
the messages in memory (neither acknowledged nor requeued) and retry with backoff; see
docs/adr/0004-candystore-ack-and-dlq.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
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

from holyfields import Registry, registry
from reference_impl.candystore.batching import Batcher
from reference_impl.candystore.classify import Delivery, classify, event_time, row, same_event
from reference_impl.candystore.codec import encode_event
from reference_impl.candystore.config import Settings
from reference_impl.candystore.deadletter import dead_letter_message
from reference_impl.candystore.metrics import Metrics
from reference_impl.candystore.storage import ROW_ERRORS, TRANSIENT_ERRORS, Storage
from reference_impl.candystore.stream import Hub
from reference_impl.candystore.tracing import StoreSpans

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
        spans: StoreSpans | None = None,
    ) -> None:
        self.settings = settings
        self.topology = settings.topology
        self.storage = storage
        self.metrics = metrics
        self.hub = hub
        self.schemas = schemas or registry()
        self._sleep = sleep
        self.spans = spans
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._dlx: AbstractExchange | None = None
        self._queue: AbstractQueue | None = None
        self._batcher = Batcher(settings.batch_size, settings.batch_linger, metrics)
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
                    batch = await self._batcher.next_batch(self._stopping)
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
        self._batcher.clear()
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
        self._batcher.deliver(message)

    # --- one batch ------------------------------------------------------------------------------------
    async def _process(self, batch: list[Delivery]) -> None:
        for delivery in batch:
            if delivery.envelope is None and delivery.reason is None:
                classify(delivery, self.settings, self.schemas)
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
        rows = [row(d) for d in unique]
        began = time.perf_counter()
        began_ns = time.time_ns()
        try:
            result = await self.storage.insert(rows)
        except TRANSIENT_ERRORS as exc:
            await self._transient(batch, exc)
            return
        except ROW_ERRORS as exc:
            await self._row_error(batch, exc)
            return
        committed = time.time()
        committed_ns = time.time_ns()
        self.database_up = True
        self.metrics.storage_latency.observe(time.perf_counter() - began)
        done: list[Delivery] = []
        conflicts: list[Delivery] = []
        streamed: list[tuple[str, datetime, bytes]] = []
        for d in unique:
            stored_at = result.stored.get(d.event_id)
            if stored_at is not None:
                done.append(d)
                when = event_time(d.envelope or {})
                if when is not None:
                    self.metrics.end_to_end_latency.observe(max(0.0, committed - when))
                if self.spans is not None and d.envelope is not None:
                    self.spans.record(d.envelope, self.topology.queue, began_ns, committed_ns)
                if self.hub.subscribers:
                    event_type = str((d.envelope or {}).get("event_type"))
                    streamed.append((event_type, stored_at, encode_event(d.body, stored_at)))
            elif same_event(d, result.existing.get(d.event_id)):
                done.append(d)
                self.metrics.duplicates.inc()
            else:
                conflicts.append(d)
        for d in repeats:
            original = first[d.event_id]
            stored_body = result.existing.get(d.event_id, original.body)
            if same_event(d, stored_body):
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

    async def _transient(self, batch: list[Delivery], exc: BaseException) -> None:
        """Keep every message. A database outage costs no attempts; a failure with the database up does."""
        self.metrics.transient_failures.inc()
        if not await self.storage.ping():
            log.warning("database unavailable (%r): holding %d messages until it returns", exc, len(batch))
            self.database_up = False
            await self._await_database()
            self._batcher.held = batch + self._batcher.held
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
        self._batcher.held.append(d)

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
        held_tags = [d.message.delivery_tag or 0 for d in (*self._batcher.held, *self._unsettled)]
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
            self._batcher.held.append(d)

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
