"""The janitor: run-scoped databases and prefixed broker objects are created and taken away again."""

from __future__ import annotations

import pika
import psycopg
import pytest

from harness.backends import Backend, free_port, run_id
from harness.janitor import create_database, database_url, delete_topology, drop_database

pytestmark = pytest.mark.integration


def test_a_run_database_is_created_and_dropped_even_with_a_session_still_connected(backend: Backend) -> None:
    admin = database_url(backend.database_url, "postgres")
    name = f"janitor_{run_id()}"
    url = create_database(admin, name)
    assert url.rsplit("/", 1)[1] == name
    lingering = psycopg.connect(url, autocommit=True)  # a session left open must not keep the database
    lingering.execute("select 1")
    drop_database(admin, name)
    lingering.close()
    with psycopg.connect(admin) as conn:
        assert conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone() is None
    drop_database(admin, name)  # already gone: not an error


def test_a_prefixed_topology_is_deleted_and_an_unreachable_broker_is_strict_only_when_asked(
    backend: Backend,
) -> None:
    topology = backend.topology.prefixed(f"janitor-{run_id()}.")
    connection = pika.BlockingConnection(pika.URLParameters(backend.amqp_url))
    try:
        channel = connection.channel()
        channel.exchange_declare(topology.exchange, "topic", durable=True)
        channel.queue_declare(topology.queue, durable=True)  # the DLQ and DLX were never declared
        delete_topology(backend.amqp_url, topology)
        for declare in (
            lambda c: c.exchange_declare(topology.exchange, passive=True),
            lambda c: c.queue_declare(topology.queue, passive=True),
        ):
            probe = connection.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="NOT_FOUND"):
                declare(probe)
    finally:
        connection.close()
    nowhere = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    delete_topology(nowhere, topology, strict=False)
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        delete_topology(nowhere, topology)
