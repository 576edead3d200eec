"""Request guards: token buckets, API keys, bounded body reading (no broker)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reference_impl.bloodbank.limits import ApiKeys, BodyTooLarge, RateLimiter, read_limited


def test_token_bucket_allows_bursts_then_paces() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.acquire("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a", now=0.0) == pytest.approx(0.5)
    assert limiter.acquire("b", now=0.0) == 0.0  # per client
    assert limiter.acquire("a", now=0.5) == 0.0  # refilled
    assert RateLimiter.retry_after(0.01) == "1" and RateLimiter.retry_after(2.2) == "3"


def test_rate_limiter_forgets_old_clients() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_clients=2)
    for client in ("a", "b", "c"):
        limiter.acquire(client, now=0.0)
    assert limiter.acquire("a", now=0.0) == 0.0  # "a" was evicted, so it starts with a full bucket


def test_disabled_limiter_and_keys_let_everything_through() -> None:
    assert RateLimiter(0, 0).acquire("a") == 0.0
    assert ApiKeys([]).accepts(None)


def test_api_keys() -> None:
    keys = ApiKeys(["k-1", "k-2"])
    assert keys.accepts("k-2") and not keys.accepts("k-3") and not keys.accepts(None) and not keys.accepts("")


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.anyio
async def test_read_limited() -> None:
    assert await read_limited("6", _chunks(b"abc", b"def"), 6) == b"abcdef"
    with pytest.raises(BodyTooLarge, match="7 bytes exceeds the limit of 6"):
        await read_limited("7", _chunks(b"never read"), 6)
    with pytest.raises(BodyTooLarge, match="more than 6 bytes"):
        await read_limited(None, _chunks(b"abcd", b"efgh"), 6)  # chunked: no Content-Length
