"""The docker backend: RabbitMQ and PostgreSQL containers through testcontainers.

Without a Docker engine it fails at once (under a second) with a message naming the alternatives.
"""

from __future__ import annotations

import os
import time
from typing import Any

from harness.backends._base import Backend, BackendUnavailable, ServerControl, free_port, wait_until

RABBITMQ_IMAGE = "rabbitmq:3.13-alpine"
POSTGRES_IMAGE = "postgres:15-alpine"

_NO_ENGINE = (
    "docker backend: no Docker engine answers ({why}); use --backend local (private rabbitmq-server and "
    "postgres processes, the default) or --backend external with --amqp-url/--database-url"
)


def _engine_error(timeout: float = 1.0) -> str | None:
    """None when a Docker engine answers a ping within ``timeout`` seconds, else why not."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a dependency of testcontainers
        return f"the docker package is missing: {exc}"
    try:
        client = docker.from_env(timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # docker raises many types: DockerException, requests errors, OSError
        return str(exc).splitlines()[0][:200] or type(exc).__name__
    return None


def docker_available() -> bool:
    """True when a Docker engine answers."""
    return _engine_error() is None


class _ContainerControl(ServerControl):
    def __init__(self, name: str, container: Any, ready: Any) -> None:
        self.name = name
        self._container = container
        self._ready = ready

    @property
    def _wrapped(self) -> Any:
        return self._container.get_wrapped_container()

    def stop(self) -> None:
        self._wrapped.stop(timeout=15)

    def start(self) -> None:
        self._wrapped.start()
        wait_until(self._ready, timeout=60, describe=f"{self.name} container")

    def kill(self) -> None:
        self._wrapped.kill()

    def pause(self) -> None:
        self._wrapped.pause()

    def resume(self) -> None:
        self._wrapped.unpause()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return self._wrapped.logs(tail=lines).decode("utf-8", "replace")
        except Exception:
            return ""


class DockerBackend(Backend):
    """RabbitMQ and PostgreSQL in containers (host ports fixed so that stop/start keeps the URLs)."""

    def __init__(self) -> None:
        super().__init__(name="docker", supports_faults=True)
        self._containers: list[Any] = []

    def start(self) -> DockerBackend:
        why = _engine_error()
        if why is not None:
            raise BackendUnavailable(_NO_ENGINE.format(why=why))
        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
        import psycopg
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        began = time.monotonic()
        self.started_at = time.time()
        amqp_port, pg_port = free_port(), free_port()
        rabbit = RabbitMqContainer(RABBITMQ_IMAGE).with_bind_ports(5672, amqp_port)
        pg = PostgresContainer(POSTGRES_IMAGE, username="postgres", password="postgres", dbname="harness")  # noqa: S106 - throwaway container
        pg = pg.with_bind_ports(5432, pg_port)
        for container in (pg, rabbit):
            container.start()
            self._containers.append(container)
        self.amqp_url = f"amqp://guest:guest@127.0.0.1:{amqp_port}/%2F"
        self.database_url = f"postgresql://postgres:postgres@127.0.0.1:{pg_port}/harness"

        def pg_ready() -> bool:
            try:
                with psycopg.connect(self.database_url, connect_timeout=2):
                    return True
            except psycopg.Error:
                return False

        def rabbit_ready() -> bool:
            from harness.backends._local import _amqp_answers

            return _amqp_answers(amqp_port)

        self.rabbitmq = _ContainerControl("rabbitmq", rabbit, rabbit_ready)
        self.postgres = _ContainerControl("postgres", pg, pg_ready)
        wait_until(pg_ready, timeout=60, describe="postgres container")
        wait_until(rabbit_ready, timeout=60, describe="rabbitmq container")
        self.ready_seconds = round(time.monotonic() - began, 3)
        return self

    def stop(self) -> None:
        while self._containers:
            container = self._containers.pop()
            try:
                container.stop()
            except Exception:  # keep tearing down the others
                pass
