"""A private stack for the bus operations: RabbitMQ with its management plugin, PostgreSQL, the reference
Candystore (SPEC names; it requires signatures with key ``k1`` until a test restarts it with more keys)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

from harness.backends import LocalBackend, free_port
from harness.services import ServiceProcess, service_env

KEYS = {"k1": "secret-one", "k2": "secret-two"}


def keyring(*ids: str) -> str:
    return ",".join(f"{kid}:{KEYS[kid]}" for kid in ids)


class Candystore:
    """The reference Candystore of the private stack, restartable with other settings."""

    def __init__(self, backend: LocalBackend, log_dir: Path) -> None:
        self.backend = backend
        self.log_dir = log_dir
        self.service: ServiceProcess | None = None

    def start(self, keys: str) -> Candystore:
        port = free_port()
        env = service_env("candystore", self.backend, port)
        env.update(
            CANDYSTORE_REQUIRE_SIGNATURES="true",
            CANDYSTORE_SIGNING_KEYS=keys,
            CANDYSTORE_BACKOFF_INITIAL_MS="50",
            CANDYSTORE_BACKOFF_MAX_MS="500",
        )
        self.service = ServiceProcess(
            name="candystore",
            env=env,
            port=port,
            log=self.log_dir / f"candystore-{port}.log",
        )
        self.service.start()  # returns once /readyz answers 200
        return self

    def restart(self, keys: str) -> None:
        self.stop()
        self.start(keys)

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None


@pytest.fixture(scope="session")
def managed_backend() -> Iterator[LocalBackend]:
    """Private RabbitMQ (management plugin on) + PostgreSQL, torn down at the end.

    The broker is thrown away with its directory, so it is killed rather than stopped: with the management
    plugin, RabbitMQ 3.10 spends about 5 s stopping its statistics collector.
    """
    with LocalBackend(management=True) as backend:
        try:
            yield backend
        finally:
            backend.rabbitmq.kill()


@pytest.fixture(scope="session")
def bus_candystore(
    managed_backend: LocalBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Candystore]:
    """The reference Candystore on the private stack (it declares the SPEC topology when it starts)."""
    service = Candystore(managed_backend, tmp_path_factory.mktemp("bus-candystore")).start(keyring("k1"))
    yield service
    service.stop()


def queue_depth(amqp_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()
