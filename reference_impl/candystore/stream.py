"""Live fan-out of newly stored events to WebSocket clients, with topic-style ``event_type`` filters."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache


@lru_cache(maxsize=256)
def topic_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an AMQP topic pattern: words split by ``.``, ``*`` = exactly one word, ``#`` = zero or more.

    The compiled pattern matches ``"." + routing_key``; use :func:`topic_matches` for a plain test.

    >>> topic_matches("fireflies.#", "fireflies.transcript.ready.v1")
    True
    >>> topic_matches("*.transcript.*.v1", "fireflies.transcript.ready.v1")
    True
    >>> topic_matches("fireflies.*", "fireflies.transcript.ready.v1")
    False
    """
    if pattern == "":
        raise ValueError("empty pattern")
    # Match "." + routing key: every word then starts with its dot, so "#" can vanish with its dot.
    parts = []
    for word in pattern.split("."):
        if word == "#":
            parts.append(r"(?:\.[^.]*)*")
        elif word == "*":
            parts.append(r"\.[^.]*")
        else:
            parts.append(r"\." + re.escape(word))
    regex = "".join(parts)
    return re.compile(f"^{regex}$")


def topic_matches(pattern: str, routing_key: str) -> bool:
    """True when ``routing_key`` matches the topic ``pattern``."""
    return topic_pattern(pattern).match("." + routing_key) is not None


@dataclass(eq=False)
class Subscriber:
    """One client: its filter and a bounded queue of encoded messages (None = closed for being too slow)."""

    pattern: re.Pattern[str] | None
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(1000))
    overflowed: bool = False

    def wants(self, event_type: str) -> bool:
        return self.pattern is None or self.pattern.match("." + event_type) is not None


class Hub:
    """Subscribers of ``WS /events/stream``; :meth:`publish` never blocks the consumer."""

    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()

    def subscribe(self, event_type: str | None = None) -> Subscriber:
        sub = Subscriber(topic_pattern(event_type) if event_type else None, asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Offer ``(event_type, encoded event)`` pairs to every interested subscriber."""
        if not self.subscribers:
            return
        for event_type, data in items:
            for sub in tuple(self.subscribers):
                if sub.overflowed or not sub.wants(event_type):
                    continue
                try:
                    sub.queue.put_nowait(data)
                except asyncio.QueueFull:
                    sub.overflowed = True
