"""Run-scoped objects on servers someone else started: create them, and take them away again.

One place for what backends, test fixtures and benchmarks each did by hand: a database per run (or per
deployment), and the prefixed exchanges and queues of an isolated topology. Whatever started the servers
(a private process, a container, a shared server given by URL), clean-up goes through here.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from holyfields.topology import Topology


def database_url(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` on the same server."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def create_database(admin_url: str, name: str, *, connect_timeout: float = 5) -> str:
    """Create database ``name`` through ``admin_url`` (any database of that server); return its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=int(connect_timeout)) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str, *, connect_timeout: float = 5) -> None:
    """Drop database ``name`` (sessions still connected are ended); a missing database is not an error."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=int(connect_timeout)) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_broker_objects(
    amqp_url: str, *, queues: Iterable[str] = (), exchanges: Iterable[str] = (), strict: bool = True
) -> None:
    """Delete queues, then exchanges; each on its own channel, so one that is already gone (the broker
    closes the channel on a 404) does not keep the others. An unreachable broker raises, unless
    ``strict`` is false (a test's teardown after a fault: best effort)."""
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    except pika.exceptions.AMQPError:
        if strict:
            raise
        return
    try:
        for kind, name in [*(("queue", q) for q in queues), *(("exchange", e) for e in exchanges)]:
            channel = connection.channel()
            try:
                if kind == "queue":
                    channel.queue_delete(name)
                else:
                    channel.exchange_delete(name)
            except pika.exceptions.AMQPError:
                pass  # never declared in this run, or already gone
            finally:
                if channel.is_open:
                    channel.close()
    finally:
        if connection.is_open:
            connection.close()


def delete_topology(amqp_url: str, topology: Topology, *, strict: bool = True) -> None:
    """Delete the queues and exchanges of an isolated (prefixed) topology."""
    delete_broker_objects(
        amqp_url,
        queues=(topology.queue, topology.dlq),
        exchanges=(topology.exchange, topology.dlx),
        strict=strict,
    )
