"""Fixtures of the Candystore suite: an isolated deployment (topology + database + service) per module.

Each module gets broker objects with a random prefix and a fresh database on the session's PostgreSQL
server, so modules never see each other's events or dead letters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from harness.backends import Backend, run_id
from harness.janitor import create_database, database_url, delete_topology, drop_database
from holyfields.topology import Topology

from .helpers import Deployment


@pytest.fixture(scope="module")
def deployment_factory(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Deployment]]:
    """``deployment_factory(**env)`` -> a started, isolated Candystore (stopped and dropped afterwards)."""
    created: list[tuple[Deployment, str]] = []
    admin_url = database_url(backend.database_url, "postgres")

    def make(start: bool = True, **extra_env: str) -> Deployment:
        name = f"cs_{run_id()}"
        deployment = Deployment(
            backend=backend,
            topology=Topology().prefixed(f"cs-{name}."),
            database_url=create_database(admin_url, name),
            log_dir=tmp_path_factory.mktemp("candystore"),
            extra_env=extra_env,
        )
        created.append((deployment, name))
        if start:
            deployment.start()
        return deployment

    yield make
    for deployment, name in created:
        deployment.stop()
        deployment.close()
        delete_topology(backend.amqp_url, deployment.topology, strict=False)
        try:
            drop_database(admin_url, name)
        except psycopg.Error:
            pass


@pytest.fixture(scope="module")
def deployment(deployment_factory: Callable[..., Deployment]) -> Deployment:
    """A default Candystore for the module (small batching delays so tests are quick)."""
    return deployment_factory(CANDYSTORE_BACKOFF_INITIAL_MS="50", CANDYSTORE_BACKOFF_MAX_MS="500")
