"""The fault proxy forwards, cuts and restores real connections (PostgreSQL and RabbitMQ of the backend)."""

from __future__ import annotations

from collections.abc import Iterator

import pika
import psycopg
import pytest

from harness.backends import Backend, wait_until
from harness.faults import TcpProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_proxy(backend: Backend) -> Iterator[TcpProxy]:
    port = int(backend.database_url.rsplit(":", 1)[1].split("/")[0])
    with TcpProxy("127.0.0.1", port) as proxy:
        yield proxy


def test_forwards_and_cuts_postgres(pg_proxy: TcpProxy, backend: Backend) -> None:
    url = pg_proxy.url(backend.database_url)
    conn = psycopg.connect(url, autocommit=True)
    assert conn.execute("select 41 + 1").fetchone() == (42,)
    assert pg_proxy.open_connections == 1
    pg_proxy.cut()
    with pytest.raises(psycopg.OperationalError):
        conn.execute("select 1")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    pg_proxy.restore()
    with psycopg.connect(url, connect_timeout=5) as again:
        assert again.execute("select 'back'").fetchone() == ("back",)


def test_cut_breaks_an_amqp_connection_and_restore_lets_it_reconnect(backend: Backend) -> None:
    port = int(backend.amqp_url.rsplit(":", 1)[1].split("/")[0])
    with TcpProxy("127.0.0.1", port) as proxy:
        url = proxy.url(backend.amqp_url)
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.queue_declare("", exclusive=True)
        proxy.cut()
        with pytest.raises(pika.exceptions.AMQPError):
            for _ in range(50):  # the reset is noticed on the next I/O
                channel.queue_declare("", exclusive=True)
                connection.process_data_events(0.05)
        proxy.restore()
        again = pika.BlockingConnection(pika.URLParameters(url))
        assert again.channel().queue_declare("", exclusive=True).method.queue
        again.close()
        assert proxy.accepted == 2


def test_delay_slows_but_delivers(pg_proxy: TcpProxy, backend: Backend) -> None:
    import time

    url = pg_proxy.url(backend.database_url)
    with psycopg.connect(url, autocommit=True) as conn:
        pg_proxy.set_delay(0.2)
        began = time.monotonic()
        assert conn.execute("select 7").fetchone() == (7,)
        assert time.monotonic() - began >= 0.35  # request and answer are each delayed
        pg_proxy.set_delay(0)


def test_stop_closes_everything(backend: Backend) -> None:
    port = int(backend.database_url.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpProxy("127.0.0.1", port).start()
    conn = psycopg.connect(proxy.url(backend.database_url), autocommit=True)
    proxy.stop()
    wait_until(lambda: conn.closed or _fails(conn), timeout=5, describe="connection closed by proxy stop")


def _fails(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("select 1")
        return False
    except psycopg.OperationalError:
        return True
