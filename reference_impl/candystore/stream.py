"""Live fan-out of newly stored events to WebSocket clients, with topic-style ``event_type`` filters.

One shared, bounded buffer (:class:`Hub`) holds the most recent events in stored order; every subscriber
reads it at its own pace through its own position. A subscriber whose position has left the buffer is too
slow: it is closed and told the cursor (``stored_at`` of the last event it was given) to resume from, and a
resume replays from the store before it joins the buffer (ADR 0031).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

#: longest ``event_type`` filter accepted (characters)
MAX_FILTER_CHARS = 255
#: most words (``.``-separated) an ``event_type`` filter may have
MAX_FILTER_WORDS = 32


class FilterInvalid(ValueError):
    """A stream filter that is empty or beyond the limits; the message names the limit."""


@dataclass(frozen=True)
class TopicFilter:
    """An AMQP topic pattern matched word by word: ``*`` = exactly one word, ``#`` = zero or more.

    Matching keeps the set of pattern positions reachable after each routing-key word (a Thompson
    simulation), so it costs at most ``len(pattern words) x len(key words)`` steps, never backtracks.

    >>> TopicFilter.parse("fireflies.#").matches("fireflies.transcript.ready.v1")
    True
    >>> TopicFilter.parse("*.transcript.*.v1").matches("fireflies.transcript.ready.v1")
    True
    >>> TopicFilter.parse("fireflies.*").matches("fireflies.transcript.ready.v1")
    False
    """

    words: tuple[str, ...]

    @staticmethod
    def parse(pattern: str) -> TopicFilter:
        """Check the limits and compile; raise :class:`FilterInvalid` naming the limit."""
        return _parse(pattern)

    def matches(self, routing_key: str) -> bool:
        words, end = self.words, len(self.words)
        states = self._closure({0})
        for word in routing_key.split("."):
            following: set[int] = set()
            for i in states:
                if i < end:
                    p = words[i]
                    if p == "#":
                        following.add(i)
                    elif p == "*" or p == word:
                        following.add(i + 1)
            if not following:
                return False
            states = self._closure(following)
        return end in states

    def _closure(self, states: set[int]) -> set[int]:
        """Add the positions reached by letting each ``#`` match zero words."""
        words, end = self.words, len(self.words)
        out = set(states)
        for i in sorted(states):
            while i < end and words[i] == "#":
                i += 1
                out.add(i)
        return out


@lru_cache(maxsize=256)
def _parse(pattern: str) -> TopicFilter:
    if pattern == "":
        raise FilterInvalid("event_type must be a non-empty topic pattern")
    if len(pattern) > MAX_FILTER_CHARS:
        raise FilterInvalid(f"event_type filter longer than {MAX_FILTER_CHARS} characters")
    words = pattern.split(".")
    if len(words) > MAX_FILTER_WORDS:
        raise FilterInvalid(f"event_type filter has more than {MAX_FILTER_WORDS} words")
    collapsed: list[str] = []
    for word in words:
        if word == "#" and collapsed and collapsed[-1] == "#":
            continue  # "#.#" matches exactly what "#" matches
        collapsed.append(word)
    return TopicFilter(tuple(collapsed))


def topic_matches(pattern: str, routing_key: str) -> bool:
    """True when ``routing_key`` matches the topic ``pattern`` (within the filter limits)."""
    return TopicFilter.parse(pattern).matches(routing_key)


@dataclass(frozen=True)
class Item:
    """One stored event in the buffer: its position, type, ``stored_at`` and wire form."""

    seq: int
    event_type: str
    stored_at: datetime
    data: bytes


@dataclass(eq=False)
class Subscriber:
    """One client: its filter, its position in the hub, and the cursor it would resume from."""

    filter: TopicFilter | None
    seq: int
    cursor: datetime | None  # stored_at of the last event given or passed over (or the ?after= value)
    floor: datetime | None = None  # stored_at of the first event published after it subscribed
    delivered: int = 0

    def wants(self, event_type: str) -> bool:
        return self.filter is None or self.filter.matches(event_type)


@dataclass
class Hub:
    """The shared buffer of ``WS /events/stream``: :meth:`publish` never blocks the consumer.

    Items get consecutive sequence numbers; the buffer keeps the newest ``size``. Memory is bounded by
    ``size`` whatever the number of subscribers.
    """

    size: int = 10_000
    items: deque[Item] = field(default_factory=deque)
    next_seq: int = 0
    subscribers: set[Subscriber] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_seq(self) -> int:
        """Sequence number of the oldest item still buffered."""
        return self.next_seq - len(self.items)

    def subscribe(self, filter: TopicFilter | None, after: datetime | None = None) -> Subscriber:
        """A subscriber positioned at the next item to be published."""
        sub = Subscriber(filter, self.next_seq, after)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, items: Iterable[tuple[str, datetime, bytes]]) -> None:
        """Append ``(event_type, stored_at, encoded event)`` in stored order and wake the subscribers."""
        first: datetime | None = None
        for event_type, stored_at, data in items:
            first = first or stored_at
            self.items.append(Item(self.next_seq, event_type, stored_at, data))
            self.next_seq += 1
        while len(self.items) > self.size:
            self.items.popleft()
        if first is not None:
            for sub in self.subscribers:
                if sub.floor is None:
                    sub.floor = first
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    def behind(self, sub: Subscriber) -> bool:
        """True when items ``sub`` has not read were dropped from the buffer."""
        return sub.seq < self.base_seq

    def read(self, sub: Subscriber, limit: int = 100) -> list[Item]:
        """Up to ``limit`` items from ``sub``'s position (the caller checked :meth:`behind`)."""
        start = sub.seq - self.base_seq
        stop = min(len(self.items), start + limit)
        return [self.items[i] for i in range(start, stop)]

    async def wait(self, sub: Subscriber) -> None:
        """Until an item at or after ``sub``'s position exists."""
        while self.next_seq <= sub.seq:
            await self._changed.wait()

    def resume_cursor(self, sub: Subscriber) -> datetime | None:
        """The ``?after=`` that continues exactly where ``sub`` stopped."""
        if sub.cursor is not None:
            return sub.cursor
        if sub.floor is not None:  # nothing given yet: from just before the first event it should get
            return sub.floor - timedelta(microseconds=1)
        return None
