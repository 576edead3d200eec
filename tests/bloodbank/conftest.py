"""Fixtures of the Bloodbank suite: isolated broker objects per test, tap queues, in-process apps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from harness.backends import Backend, run_id
from harness.janitor import delete_topology
from holyfields.topology import Topology
from reference_impl.bloodbank import BloodbankConfig, RetryConfig, create_app

from .helpers import Tap, open_connection


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def isolated(backend: Backend) -> Iterator[Topology]:
    """Broker object names of this test alone (a random prefix); deleted afterwards."""
    topology = Topology().prefixed(f"t-{run_id()}.")
    yield topology
    delete_topology(backend.amqp_url, topology, strict=False)


@pytest.fixture
def tap_factory(backend: Backend) -> Iterator[Callable[..., Tap]]:
    """``tap_factory(exchange, binding="#", **queue_arguments)`` -> a :class:`Tap` (closed afterwards)."""
    taps: list[Tap] = []

    def make(exchange: str, binding: str = "#", **arguments: Any) -> Tap:
        tap = Tap(open_connection(backend.amqp_url), exchange, binding, arguments or None)
        taps.append(tap)
        return tap

    yield make
    for tap in taps:
        tap.close()


@pytest.fixture
def tap(isolated: Topology, tap_factory: Callable[..., Tap]) -> Tap:
    """A server-named exclusive queue bound with ``#`` to the isolated main exchange."""
    return tap_factory(isolated.exchange)


@pytest.fixture
def client_factory(backend: Backend, isolated: Topology) -> Iterator[Callable[..., TestClient]]:
    """``client_factory(**config_overrides)`` -> a started in-process app (real broker, isolated topology).

    Retries are fast by default (1 retry after 10 ms) so that failure paths answer quickly.
    """
    clients: list[TestClient] = []

    def make(*, tracer_provider: Any = None, **overrides: Any) -> TestClient:
        settings: dict[str, Any] = {
            "amqp_url": backend.amqp_url,
            "topology": isolated,
            "retry": RetryConfig(retries=1, base_delay=0.01, max_delay=0.05),
            "reconnect_interval": 0.1,
            "source_host": "test-host",
            **overrides,
        }
        client = TestClient(create_app(BloodbankConfig(**settings), tracer_provider=tracer_provider))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
