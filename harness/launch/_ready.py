"""Readiness strategies: how to tell that a started process can do its job, not merely that it runs.

Each strategy is a :class:`Readiness`: a check that never raises (``False`` until ready) and a description
for the error message when it never became true. ``all_of`` combines them (a service whose port is open
*and* whose readiness endpoint answers 200, say).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

_AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


@dataclass(frozen=True)
class Readiness:
    #: what is awaited, in words ("HTTP 200 from http://127.0.0.1:8080/readyz")
    describe: str
    check: Callable[[], bool]

    def __call__(self) -> bool:
        try:
            return bool(self.check())
        except Exception:  # a check that raises is simply "not ready yet"
            return False


def tcp(port: int, host: str = "127.0.0.1") -> Readiness:
    """Something accepts TCP connections on ``host:port``."""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.3):
                return True
        except OSError:
            return False

    return Readiness(f"a TCP listener on {host}:{port}", check)


def amqp(port: int, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Readiness:
    """A broker on ``host:port`` answers the AMQP 0-9-1 protocol header with ``connection.start``
    (inside a TLS session made with ``tls`` when given: ``amqps``)."""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5) as raw:
                sock = tls.wrap_socket(raw, server_hostname=host) if tls is not None else raw
                sock.settimeout(1.0)
                sock.sendall(_AMQP_HEADER)
                frame = sock.recv(7)
                return len(frame) == 7 and frame[0] == 1  # a method frame on channel 0
        except OSError:  # ssl.SSLError included
            return False

    scheme = "AMQP 0-9-1 over TLS" if tls is not None else "AMQP 0-9-1"
    return Readiness(f"an {scheme} broker on {host}:{port}", check)


def http(url: str, statuses: Iterable[int] = (200,), timeout: float = 1.0) -> Readiness:
    """``GET url`` answers one of ``statuses`` (a readiness endpoint: 200 once the service can serve)."""
    import httpx

    wanted = frozenset(statuses)

    def check() -> bool:
        try:
            return httpx.get(url, timeout=timeout).status_code in wanted
        except httpx.HTTPError:
            return False

    return Readiness(f"HTTP {'/'.join(map(str, sorted(wanted)))} from GET {url}", check)


def sql(dsn: str) -> Readiness:
    """A PostgreSQL server at ``dsn`` accepts a connection and runs ``select 1``."""

    def check() -> bool:
        import psycopg

        try:
            with psycopg.connect(dsn, connect_timeout=2) as conn:
                conn.execute("select 1")
            return True
        except psycopg.Error:
            return False

    return Readiness(f"PostgreSQL answering 'select 1' at {dsn}", check)


def log_says(log: Path, text: str) -> Readiness:
    """The process wrote ``text`` to its log (a worker without a port that prints when it is ready)."""
    wanted = text.encode()

    def check() -> bool:
        try:
            return wanted in log.read_bytes()
        except OSError:
            return False

    return Readiness(f"{text!r} in {log}", check)


def all_of(*strategies: Readiness) -> Readiness:
    """Ready when every strategy is (checked in order; the first not ready stops the round)."""
    return Readiness(" and ".join(s.describe for s in strategies), lambda: all(s() for s in strategies))
