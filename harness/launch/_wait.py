"""Polling with a deadline, and free ports: what every start-and-wait needs."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


class LaunchError(RuntimeError):
    """A process could not be started, or did not become ready. The message says why and what to do."""


class ProcessExited(LaunchError):
    """The process being waited for exited before it was ready."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    describe: str = "condition",
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``predicate`` until it is true; raise :class:`TimeoutError` after ``timeout`` seconds.

    ``alive`` (optional) is checked too: when it turns false the wait stops at once with
    :class:`ProcessExited` (the process died).
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if alive is not None and not alive():
            raise ProcessExited(f"{describe}: the process exited while starting")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{describe} not reached within {timeout:.0f} s")
        time.sleep(interval)
