"""Careless and hostile HTTP clients at the connection level (SPEC §6: "a request after which the service
stops answering"): idle TCP connections, headers sent byte by byte, oversized headers.

Black-box: raw sockets to the target's host and port, its health route from the profile. Each check is bounded
(a few seconds) and closes every socket it opened.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from harness.config import Settings
from harness.profile import Route

pytestmark = pytest.mark.security

IDLE_CONNECTIONS = 50
SLOW_CONNECTIONS = 10
PROMPT_SECONDS = 2.0  # an ordinary request must be answered within this while the others misbehave


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    health: Route

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)

    def request_head(self, extra: str = "") -> bytes:
        host, port = self.address
        return f"{self.health.method} {self.health.path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}".encode()


@pytest.fixture(params=["bloodbank", "candystore"])
def target(request: pytest.FixtureRequest, harness_settings: Settings) -> Target:
    name = request.param
    url = request.getfixturevalue(f"{name}_url")
    if urlsplit(url).scheme != "http":
        pytest.skip(f"{name} is served over {urlsplit(url).scheme}: these checks speak plain HTTP/1.1")
    return Target(name, url.rstrip("/"), getattr(harness_settings.surface, name).health)


def _ordinary_requests(target: Target, count: int = 15) -> list[float]:
    """Seconds each of ``count`` health requests took, each on a new connection; asserts each answered 200."""
    took = []
    for _ in range(count):
        began = time.monotonic()
        try:
            response = httpx.request(
                target.health.method, target.url + target.health.path, timeout=PROMPT_SECONDS * 3
            )
        except httpx.TransportError as exc:
            raise AssertionError(
                f"{target.name}: an ordinary request to {target.health.path} got no answer "
                f"({type(exc).__name__}) while other clients misbehaved"
            ) from None
        took.append(time.monotonic() - began)
        assert response.status_code == 200, (
            f"{target.name}: {target.health.path} answered {response.status_code} while other clients "
            "misbehaved"
        )
    return took


class _SlowClients(threading.Thread):
    """Sockets that each send a request head one byte at a time, never finishing it, until stopped."""

    def __init__(self, target: Target, count: int, interval: float = 0.02) -> None:
        super().__init__(name="slow-clients", daemon=True)
        self.head = target.request_head("X-Slow: " + "s" * 4000)
        self.sockets = [socket.create_connection(target.address, timeout=5) for _ in range(count)]
        self.interval = interval
        self.sent = 0
        self.stop = threading.Event()

    def run(self) -> None:
        for position in range(len(self.head)):
            for sock in self.sockets:
                try:
                    sock.send(self.head[position : position + 1])
                except OSError:  # the server gave up on this one: allowed
                    continue
            self.sent = position + 1
            if self.stop.wait(self.interval):  # pacing of the slow clients, not synchronisation
                return

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def misbehaving(target: Target) -> Iterator[_SlowClients]:
    """IDLE_CONNECTIONS connections that send nothing and SLOW_CONNECTIONS that send headers byte by byte."""
    idle = [socket.create_connection(target.address, timeout=5) for _ in range(IDLE_CONNECTIONS)]
    slow = _SlowClients(target, SLOW_CONNECTIONS)
    slow.start()
    try:
        yield slow
    finally:
        slow.close()
        for sock in idle:
            sock.close()


def test_idle_and_slow_clients_do_not_stall_other_requests(target: Target, misbehaving: _SlowClients) -> None:
    """Idle TCP connections and clients sending their headers byte by byte stall the other requests."""
    took = _ordinary_requests(target)
    assert misbehaving.sent > 0 and misbehaving.is_alive(), "the slow clients were not sending meanwhile"
    slowest = max(took)
    assert slowest < PROMPT_SECONDS, (
        f"{target.name}: with {IDLE_CONNECTIONS} idle and {SLOW_CONNECTIONS} slow clients connected, an "
        f"ordinary request took {slowest:.2f} s (limit {PROMPT_SECONDS} s)"
    )


def _exchange(target: Target, request: bytes, timeout: float = 10.0) -> bytes:
    """Send ``request`` on a new connection; what the server answered until it closed (at most 64 KiB)."""
    with socket.create_connection(target.address, timeout=timeout) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass  # the server may stop reading (and answer) before the end of an oversized request
        answer = b""
        deadline = time.monotonic() + timeout
        while len(answer) < 65536 and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer and _complete(answer):
                break
        return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip() or 0)
    return False


OVERSIZED = {
    "one 64 KiB header": "X-Big: " + "b" * 65536 + "\r\n",
    "2,000 headers": "".join(f"X-Many-{n}: {'m' * 40}\r\n" for n in range(2000)),
}


@pytest.mark.parametrize("shape", list(OVERSIZED))
def test_oversized_headers_are_refused_and_the_service_stays_healthy(target: Target, shape: str) -> None:
    """Oversized request headers accepted, or refused without a 431/400 answer saying so."""
    answer = _exchange(target, target.request_head(OVERSIZED[shape] + "Connection: close\r\n\r\n"))
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    assert answer, (
        f"{target.name}: a request with {shape} got no answer at all (the connection was closed or reset); "
        "expected 431 Request Header Fields Too Large (or 400) with a message"
    )
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    assert status in (400, 431), (
        f"{target.name}: a request with {shape} was answered {status_line!r}, expected 431 (or 400): "
        "request headers must be bounded"
    )
    body = answer.partition(b"\r\n\r\n")[2].strip()
    assert body, f"{target.name}: the {status} answer to {shape} has no body saying what is wrong"
    took = _ordinary_requests(target, count=3)
    assert max(took) < PROMPT_SECONDS, f"{target.name}: slow to answer after a request with {shape}"
