"""Batching: messages arrive one by one from the broker and are handled in batches (one transaction
each): held messages first, then whatever arrives within the linger time, up to the batch size."""

from __future__ import annotations

import asyncio
import time

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from reference_impl.candystore.classify import Delivery
from reference_impl.candystore.metrics import Metrics


class Batcher:
    """The inbox the broker delivers into, and the messages held back for the next batch."""

    def __init__(self, batch_size: int, linger: float, metrics: Metrics) -> None:
        self.batch_size = batch_size
        self.linger = linger
        self.metrics = metrics
        self.inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        #: messages kept for a retry (transient failures), delivered first in the next batch
        self.held: list[Delivery] = []

    def deliver(self, message: AbstractIncomingMessage) -> None:
        self.metrics.received.inc()
        self.metrics.in_flight.inc()
        self.inbox.put_nowait(message)

    def clear(self) -> None:
        """Forget everything (the connection is gone: the broker redelivers it all)."""
        self.held.clear()
        while not self.inbox.empty():
            self.inbox.get_nowait()
        self.metrics.in_flight.set(0)

    async def next_batch(self, stopping: asyncio.Event) -> list[Delivery]:
        """Held messages first, then whatever arrives within the linger time (up to the batch size)."""
        batch, self.held = self.held, []
        limit = self.batch_size
        if not batch:
            stop = asyncio.ensure_future(stopping.wait())
            get = asyncio.ensure_future(self.inbox.get())
            await asyncio.wait({stop, get}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not get.done():
                get.cancel()
                return []
            batch.append(Delivery(get.result()))
        deadline = time.monotonic() + self.linger
        while len(batch) < limit:
            while len(batch) < limit and not self.inbox.empty():
                batch.append(Delivery(self.inbox.get_nowait()))
            remaining = deadline - time.monotonic()
            if len(batch) >= limit or remaining <= 0:
                break
            try:
                batch.append(Delivery(await asyncio.wait_for(self.inbox.get(), remaining)))
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
