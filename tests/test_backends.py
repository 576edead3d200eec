"""Each backend really works (publish/consume, SQL), fault controls act, and nothing outlives the harness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pika
import psycopg
import pytest

from harness.backends import (
    Backend,
    BackendError,
    BackendUnavailable,
    DockerBackend,
    ExternalBackend,
    FaultsUnsupported,
    LocalBackend,
    create_backend,
    resolve_backend_name,
    wait_until,
)
from harness.backends._docker import docker_available
from harness.backends._local import _find
from harness.probes import DeadLetterTap

SHARED_AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
SHARED_DB = "postgresql://postgres@127.0.0.1:5432/postgres"

pytestmark = pytest.mark.integration


def _shared_servers_answer() -> str | None:
    """None when the machine's shared RabbitMQ and PostgreSQL answer, else why not."""
    try:
        params = pika.URLParameters(SHARED_AMQP)
        params.socket_timeout = 2
        pika.BlockingConnection(params).close()
        psycopg.connect(SHARED_DB, connect_timeout=2).close()
    except Exception as exc:
        return f"shared RabbitMQ (5672) / PostgreSQL (5432) do not answer: {exc!r}"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b") ", 1)[1][:1] != b"Z"
    except OSError:
        return False


def _roundtrip(backend: Backend) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(backend.amqp_url))
    try:
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        body = uuid.uuid4().bytes
        channel.basic_publish("", queue, body)
        got = None

        def received() -> bool:
            nonlocal got
            got = channel.basic_get(queue, auto_ack=True)[2]
            return got is not None

        wait_until(received, timeout=5, describe="message back from the broker")
        assert got == body
    finally:
        connection.close()
    with psycopg.connect(backend.database_url, autocommit=True) as conn:
        conn.execute("create temp table roundtrip (id int primary key, note text)")
        conn.execute("insert into roundtrip values (1, 'ok')")
        assert conn.execute("select note from roundtrip").fetchone() == ("ok",)


BACKEND_KINDS = ["local", "external", "docker"]


@pytest.fixture(params=BACKEND_KINDS)
def any_backend(request: pytest.FixtureRequest, backend: Backend) -> Iterator[Backend]:
    """Every backend this machine can run (the session's local one is reused)."""
    kind = request.param
    if kind == "local":
        if backend.name != "local":
            pytest.skip("the session runs on another backend")
        yield backend
        return
    if kind == "external":
        why = _shared_servers_answer()
        if why:
            pytest.skip(why)
        with ExternalBackend(amqp_url=SHARED_AMQP, database_url=SHARED_DB) as ext:
            yield ext
        return
    if not docker_available():
        pytest.skip("no Docker engine answers on this machine")
    with DockerBackend() as dock:  # pragma: no cover - needs an engine
        yield dock


def test_backend_publishes_consumes_and_runs_sql(any_backend: Backend) -> None:
    _roundtrip(any_backend)


def test_external_backend_isolates_and_cleans_up() -> None:
    why = _shared_servers_answer()
    if why:
        pytest.skip(why)
    ext = ExternalBackend(amqp_url=SHARED_AMQP, database_url=SHARED_DB)
    with ext:
        assert ext.database.startswith("harness_")
        assert ext.database_url.endswith("/" + ext.database)
        assert ext.topology.exchange.startswith(f"harness.{ext.run}.")
        assert ext.topology.queue != "candystore.events"
        connection = pika.BlockingConnection(pika.URLParameters(ext.amqp_url))
        channel = connection.channel()
        channel.exchange_declare(ext.topology.exchange, "topic", durable=True)
        channel.queue_declare(ext.topology.queue, durable=True)
        connection.close()
        with pytest.raises(FaultsUnsupported, match="--backend local"):
            ext.rabbitmq.stop()
    with psycopg.connect(SHARED_DB) as conn:
        assert (
            conn.execute("select 1 from pg_database where datname = %s", (ext.database,)).fetchone() is None
        )
    connection = pika.BlockingConnection(pika.URLParameters(SHARED_AMQP))
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):  # 404: the queue was deleted
            connection.channel().queue_declare(ext.topology.queue, passive=True)
    finally:
        connection.close()


def test_external_backend_needs_both_urls() -> None:
    with pytest.raises(BackendError, match="no database URL given"):
        ExternalBackend(amqp_url=SHARED_AMQP, database_url=None)


def test_external_backend_unreachable_is_one_clear_error() -> None:
    ext = ExternalBackend(amqp_url="amqp://guest:secret@127.0.0.1:1/%2F", database_url=SHARED_DB)
    with pytest.raises(
        BackendUnavailable, match=r"cannot connect to amqp://guest:\*\*\*@127.0.0.1:1"
    ) as info:
        ext.start()
    assert "secret" not in str(info.value)


def test_docker_backend_without_engine_fails_fast_naming_alternatives() -> None:
    if docker_available():
        pytest.skip("a Docker engine answers here")
    began = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        DockerBackend().start()
    assert time.monotonic() - began < 1.0
    message = str(info.value)
    assert "no Docker engine" in message and "--backend local" in message and "--backend external" in message


def test_auto_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_BACKEND", raising=False)
    assert resolve_backend_name("auto", SHARED_AMQP, SHARED_DB) == "external"
    expected = "docker" if docker_available() else "local"
    assert resolve_backend_name(None, None, None) == expected
    monkeypatch.setenv("HARNESS_BACKEND", "local")
    assert resolve_backend_name(None, SHARED_AMQP, SHARED_DB) == "local"
    with pytest.raises(
        BackendError, match="unknown backend 'podman': choose one of auto, local, docker, external"
    ):
        resolve_backend_name("podman", None, None)


def test_create_backend_reads_urls_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_AMQP_URL", SHARED_AMQP)
    monkeypatch.setenv("HARNESS_DATABASE_URL", SHARED_DB)
    monkeypatch.delenv("HARNESS_BACKEND", raising=False)
    chosen = create_backend()
    assert isinstance(chosen, ExternalBackend) and chosen.given_amqp_url == SHARED_AMQP


def test_missing_binary_message_lists_places_and_fixes() -> None:
    with pytest.raises(BackendUnavailable) as info:
        _find(["/nonexistent/bin/rabbitmq-server-x"], "rabbitmq-server", "apt-get install -y rabbitmq-server")
    message = str(info.value)
    assert "/nonexistent/bin/rabbitmq-server-x" in message
    assert "apt-get install -y rabbitmq-server" in message and "--backend docker" in message


@pytest.fixture(scope="module")
def own_local() -> Iterator[LocalBackend]:
    """A local backend of this module's own: its servers get stopped, killed and paused."""
    with LocalBackend() as local:
        yield local


@pytest.mark.fault
@pytest.mark.internal
def test_postgres_pause_resume_stop_start_kill(own_local: LocalBackend) -> None:
    url = own_local.database_url
    own_local.postgres.pause()
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=1)
    finally:
        own_local.postgres.resume()
    psycopg.connect(url, connect_timeout=5).close()
    own_local.postgres.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=1)
    own_local.postgres.start()
    psycopg.connect(url, connect_timeout=5).close()
    own_local.postgres.kill()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=1)
    own_local.postgres.start()  # crash recovery on the same data directory and port
    _roundtrip(own_local)


@pytest.mark.fault
@pytest.mark.internal
def test_rabbitmq_kill_and_restart_keeps_url_and_durable_queue(own_local: LocalBackend) -> None:
    """Also: a dead-letter tap open across the crash reconnects and keeps seeing dead letters."""
    params = pika.URLParameters(own_local.amqp_url)
    connection = pika.BlockingConnection(params)
    connection.channel().queue_declare("survivor", durable=True)
    connection.channel().exchange_declare(own_local.topology.dlx, "topic", durable=True)
    connection.close()
    with DeadLetterTap(own_local.amqp_url, own_local.topology) as tap:
        own_local.rabbitmq.kill()
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            pika.BlockingConnection(params)
        own_local.rabbitmq.start()
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            channel.queue_declare("survivor", durable=True, passive=True)
            # Declared again (idempotent): an exchange declared a moment before the SIGKILL may not have
            # reached the node's disk; what this checks is the durable queue and the tap's reconnect.
            channel.exchange_declare(own_local.topology.dlx, "topic", durable=True)
            message_id = str(uuid.uuid4())

            def tapped() -> bool:  # publish until the reconnected tap has re-bound its queue
                channel.basic_publish(
                    own_local.topology.dlx, "dlq.test", b"{}", pika.BasicProperties(message_id=message_id)
                )
                return any(letter.message_id == message_id for letter in tap.letters)

            wait_until(tapped, timeout=20, interval=0.3, describe="tap sees dead letters after the restart")
        finally:
            connection.close()
        assert tap.gaps, "the tap should have noticed the broker going away"
    own_local.rabbitmq.restart()
    _roundtrip(own_local)


def test_port_clash_is_reported(own_local: LocalBackend) -> None:
    from harness.backends._local import PostgresServer

    clash = PostgresServer(own_local.root, own_local.postgres.port)  # type: ignore[arg-type]
    with pytest.raises(BackendError, match=f"port {own_local.postgres.port} for postgres is taken"):
        clash.start()


def _harness_up(*extra: str) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "up", "--backend", "local", "--json", "--no-services", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line:
        proc.kill()
        raise AssertionError(f"harness up printed nothing; stderr:\n{proc.stderr.read()}")  # type: ignore[union-attr]
    return proc, json.loads(line)


def _all_pids(info: dict) -> list[int]:
    return [pid for pids in info["pids"].values() for pid in pids]


def test_harness_up_json_then_sigterm_leaves_nothing() -> None:
    began = time.monotonic()
    proc, info = _harness_up()
    try:
        elapsed = time.monotonic() - began
        assert {"amqp_url", "database_url", "backend"} <= info.keys()
        assert elapsed < 30, f"harness up took {elapsed:.1f} s"  # generous: CI machines are shared
        pids = _all_pids(info)
        assert info["pids"]["rabbitmq"] and info["pids"]["postgres"]
        _roundtrip(type("B", (), {"amqp_url": info["amqp_url"], "database_url": info["database_url"]})())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    wait_until(lambda: not any(_alive(p) for p in pids), timeout=15, describe="servers gone after SIGTERM")
    assert not os.path.exists(info["run_dir"])


def test_servers_die_with_a_killed_harness() -> None:
    proc, info = _harness_up()
    pids = _all_pids(info)
    assert pids and all(_alive(p) for p in pids)
    proc.kill()
    proc.wait(10)
    wait_until(lambda: not any(_alive(p) for p in pids), timeout=20, describe="servers gone after SIGKILL")
    # the next start sweeps the run directory the killed harness could not remove
    with LocalBackend():
        pass
    assert not os.path.exists(info["run_dir"])


def test_local_backend_works_as_an_ordinary_user() -> None:
    """Started by root here, so run a backend as user ``nobody`` (system Python of the same version)."""
    import shutil
    import sysconfig
    from pathlib import Path

    system_python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if os.geteuid() != 0 or not os.access(system_python, os.X_OK) or not shutil.which("setpriv"):
        pytest.skip(f"needs root, setpriv and {system_python} to switch to an ordinary user")
    root = Path(__file__).resolve().parent.parent
    if any(
        not os.access(p, os.R_OK | os.X_OK) for p in (root.parent, Path(sysconfig.get_paths()["purelib"]))
    ):
        pytest.skip("the project or its packages are not readable by other users here")
    code = (
        "import os, psycopg\n"
        "from harness.backends import LocalBackend\n"
        "assert os.geteuid() != 0\n"
        "with LocalBackend() as b:\n"
        "    print(psycopg.connect(b.database_url).execute('select 40 + 2').fetchone()[0], b.amqp_url)\n"
    )
    env = {
        "HOME": "/tmp",
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{root}:{sysconfig.get_paths()['purelib']}",
    }
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", system_python, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd="/tmp",
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("42 amqp://")
