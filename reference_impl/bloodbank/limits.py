"""Request guards: API keys, a per-client token-bucket rate limit and a bounded body reader."""

from __future__ import annotations

import hmac
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable

API_KEY_HEADER = "X-API-Key"


class BodyTooLarge(Exception):
    """The request body exceeds the configured limit."""

    def __init__(self, size: int, limit: int, *, exact: bool) -> None:
        shown = f"{size} bytes" if exact else f"more than {limit} bytes"
        super().__init__(f"request body of {shown} exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


async def read_limited(declared_length: str | None, stream: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body; anything over ``limit`` is refused (unread when ``Content-Length`` says so)."""
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise BodyTooLarge(int(declared_length), limit, exact=True)
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size, limit, exact=False)
        chunks.append(chunk)
    return b"".join(chunks)


class ApiKeys:
    """The accepted ``X-API-Key`` values; an empty set turns the check off."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = tuple(key.encode() for key in keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def accepts(self, given: str | None) -> bool:
        if not self._keys:
            return True
        if not given:
            return False
        candidate = given.encode()
        # compare with every key, so the time taken does not tell which prefix matched
        return any([hmac.compare_digest(candidate, key) for key in self._keys])


class RateLimiter:
    """Token buckets per client: ``rate`` requests per second, bursts up to ``burst``.

    >>> limiter = RateLimiter(rate=1.0, burst=2)
    >>> [limiter.acquire("a", now=0.0) for _ in range(3)]
    [0.0, 0.0, 1.0]
    """

    def __init__(self, rate: float, burst: int, *, max_clients: int = 10_000) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, client: str, *, now: float | None = None) -> float:
        """Take one token: ``0.0`` when allowed, else the seconds until a token is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[client] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        while len(self._buckets) > self.max_clients:  # forget the least recently seen clients
            self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        """``Retry-After`` header value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait)))
