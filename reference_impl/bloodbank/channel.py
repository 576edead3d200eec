"""The publisher's robust channel: one confirming channel on one connection, the topology declared on
every (re)connect, and a background task that reconnects while the broker is away.

Publishing (confirms, retries, pipelining, tracing) is :mod:`reference_impl.bloodbank.publisher`; this
module only keeps a channel there to publish on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractConnection
from aiormq.abc import AbstractChannel as RawChannel

from holyfields.topology import Topology
from reference_impl.bloodbank.config import redact_url

log = logging.getLogger("reference_impl.bloodbank.publisher")


class BrokerUnavailable(ConnectionError):
    """No connection to the broker could be made (or the topology could not be declared)."""


def describe(exc: BaseException) -> str:
    if isinstance(exc, aiormq.exceptions.DeliveryError) and exc.frame is not None:
        return f"the broker refused the message ({type(exc.frame).__name__})"
    if isinstance(exc, TimeoutError):
        return "no confirm from the broker in time"
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"


class RobustChannel:
    """A live confirming channel with the topology declared, re-established in the background."""

    def __init__(
        self,
        amqp_url: str,
        topology: Topology,
        *,
        connect_timeout: float = 5.0,
        reconnect_interval: float = 1.0,
    ) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self.connect_timeout = connect_timeout
        self.reconnect_interval = reconnect_interval
        self.last_error: str | None = None
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self.raw: RawChannel | None = None  # aiormq channel under _channel: the lean publishing path
        self._declared = False
        self._closing = False
        self._lock: asyncio.Lock | None = None
        self._lost: asyncio.Event | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._failure: BrokerUnavailable | None = None
        self._failed_at = 0.0

    # --- state ------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True while connected with the topology declared."""
        return (
            self._declared
            and self.raw is not None
            and not self.raw.is_closed
            and self._connection is not None
            and not self._connection.is_closed
        )

    async def connection_blocked(self) -> bool:
        # aiormq's public ready() waits while the connection is blocked and returns at once otherwise: a
        # waiter that has not finished after one turn of the loop means the broker sent connection.blocked.
        transport = self._connection.transport if self._connection is not None else None
        if transport is None or transport.connection.is_closed:
            return False
        waiter = asyncio.ensure_future(transport.connection.ready())
        await asyncio.sleep(0)
        if waiter.done():
            return False
        waiter.cancel()
        return True

    async def connect(self, *, wait: bool = True) -> None:
        """Connect and declare the topology, and keep reconnecting in the background from now on.

        With ``wait=False`` the first connection is made in the background too (a service that must start
        while the broker is still down); otherwise a failure raises :class:`BrokerUnavailable`.
        """
        self._closing = False
        if self._lock is None:
            self._lock = asyncio.Lock()
            self._lost = asyncio.Event()
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_connected(), name="bloodbank-reconnect")
        if wait:
            await self.ensure()

    async def close(self) -> None:
        """Stop reconnecting and close the connection."""
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keeper
            self._keeper = None
        await self._discard()

    async def _keep_connected(self) -> None:
        assert self._lost is not None
        outage = 0
        while not self._closing:
            if self.ready:
                self._lost.clear()
                await self._lost.wait()
                continue
            try:
                await self.ensure()
                log.info("connected to the broker, topology declared on %s", self.topology.exchange)
                outage = 0
            except BrokerUnavailable as exc:
                self.last_error = str(exc)
                outage += 1
                # once per outage at WARNING (then every 60th attempt), not once a second
                level = logging.WARNING if outage % 60 == 1 else logging.DEBUG
                log.log(
                    level, "broker unavailable, reconnecting every %.1f s: %s", self.reconnect_interval, exc
                )
                await asyncio.sleep(self.reconnect_interval)

    def _on_closed(self, sender: Any, *_: Any) -> None:
        # only the live connection or channel counts: an old one may finish closing after a reconnect
        if sender is self._connection or sender is self._channel:
            self.mark_lost()

    def mark_lost(self) -> None:
        """The channel failed under a publish: reconnect in the background."""
        if self._closing:
            return
        self._declared = False
        if self._lost is not None:
            self._lost.set()

    async def ensure(self) -> RawChannel:
        """A live confirming channel with the topology declared; connects and declares when needed."""
        if self.ready:
            assert self.raw is not None
            return self.raw
        if self._lock is None:
            raise BrokerUnavailable("the publisher is not connected: call `await publisher.connect()` first")
        if self._closing:
            raise BrokerUnavailable("the publisher is closed: call `await publisher.connect()` to reopen it")
        waiting_since = time.monotonic()
        async with self._lock:
            if self.ready:
                assert self.raw is not None
                return self.raw
            if self._failed_at >= waiting_since and self._failure is not None:
                # Someone else just tried while we waited: do not queue up one connect timeout per caller.
                raise self._failure
            await self._discard()
            # built here rather than by aio_pika.connect(), so that a failed attempt can be closed too
            connection = aio_pika.Connection(aio_pika.connection.make_url(self.amqp_url))
            try:
                await connection.connect(timeout=self.connect_timeout)
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                await self._declare(connection, channel)
                raw = await channel.get_underlay_channel()
            except BaseException as exc:
                await _close_quietly(connection)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                self._failure = BrokerUnavailable(
                    f"cannot connect to the broker at {redact_url(self.amqp_url)} and declare "
                    f"{self.topology.exchange!r}: {describe(exc)}"
                )
                self._failed_at = time.monotonic()
                raise self._failure from exc
            connection.close_callbacks.add(self._on_closed)
            channel.close_callbacks.add(self._on_closed)
            self._connection, self._channel, self.raw = connection, channel, raw
            self._declared = True
            self.last_error = None
            return raw

    async def _declare(self, connection: AbstractConnection, channel: AbstractChannel) -> None:
        """Declare the main exchange, the dead-letter exchange and the DLQ bound with ``#`` (idempotent)."""
        t, timeout = self.topology, self.connect_timeout
        topic = aio_pika.ExchangeType.TOPIC
        await channel.declare_exchange(t.exchange, topic, durable=True, timeout=timeout)
        await channel.declare_exchange(t.dlx, topic, durable=True, timeout=timeout)
        # A separate channel for the DLQ: when someone declared it with other arguments, the precondition
        # failure closes only that channel, and a passive declare confirms it exists.
        side = await connection.channel(publisher_confirms=False)
        try:
            try:
                dlq = await side.declare_queue(t.dlq, durable=True, timeout=timeout)
            except aiormq.exceptions.ChannelPreconditionFailed:
                side = await connection.channel(publisher_confirms=False)
                dlq = await side.declare_queue(t.dlq, passive=True, timeout=timeout)
            await dlq.bind(t.dlx, "#", timeout=timeout)
        finally:
            await _close_quietly(side)

    async def _discard(self) -> None:
        connection = self._connection
        self._connection = self._channel = self.raw = None
        self._declared = False
        if connection is not None:
            await _close_quietly(connection)


async def _close_quietly(closable: Any) -> None:
    try:
        await asyncio.wait_for(closable.close(), timeout=2.0)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # closing a dead connection may fail in many ways
        log.debug("close failed: %r", exc)
