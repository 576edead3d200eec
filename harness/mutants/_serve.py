"""Serve an ASGI app on a free loopback port in a background thread (stopped by ``stop()`` / ``with``)."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn

from harness.backends import free_port, wait_until


class Served:
    def __init__(self, app: Any, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"mutant-{name}", daemon=True)

    def start(self) -> Served:
        self.thread.start()
        wait_until(
            lambda: self.server.started,
            timeout=15,
            interval=0.05,
            describe=f"mutant {self.name} on {self.url}",
            alive=self.thread.is_alive,
        )
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def __enter__(self) -> Served:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: Any, name: str = "app") -> Served:
    """``with serve(app) as served: served.url``"""
    return Served(app, name)
