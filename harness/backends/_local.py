"""The default backend: private ``rabbitmq-server`` and ``postgres`` processes on free ports.

Both servers start in parallel in a temporary directory and are torn down on normal exit, on SIGINT/SIGTERM
(the CLI and the pytest plugin turn those into a normal exit) and when the harness process dies (the kernel
kills them, see :mod:`harness.backends._process`). Run directories left by a killed harness are swept at the
next start.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness.backends._base import (
    Backend,
    BackendError,
    BackendUnavailable,
    ServerControl,
    free_port,
    wait_until,
)
from harness.backends._process import descendants, signal_tree, spawn, tail, terminate

RUN_ROOT = Path(tempfile.gettempdir()) / "harness-33god"
START_TIMEOUT = 60.0

_AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def _amqp_answers(port: int) -> bool:
    """True when a broker on ``port`` answers the AMQP protocol header with ``connection.start``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.settimeout(1.0)
            sock.sendall(_AMQP_HEADER)
            frame = sock.recv(7)
            return len(frame) == 7 and frame[0] == 1  # method frame on channel 0
    except OSError:
        return False


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def _find(candidates: list[str], what: str, install: str) -> str:
    for pattern in candidates:
        for path in sorted(glob.glob(pattern), reverse=True):
            if os.access(path, os.X_OK):
                return path
    found = shutil.which(Path(candidates[-1]).name)
    if found:
        return found
    raise BackendUnavailable(
        f"local backend: {what} not found (looked in {', '.join(candidates)} and on PATH); "
        f"install it ({install}), or use --backend docker or --backend external"
    )


def _sweep_stale_runs() -> None:
    """Remove run directories whose harness process is gone (it was killed before it could clean up)."""
    if not RUN_ROOT.is_dir():
        return
    for run_dir in RUN_ROOT.glob("run-*"):
        try:
            pid = int(run_dir.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(run_dir, ignore_errors=True)
        except PermissionError:
            pass


class _ProcessServer(ServerControl):
    """A server process with fault controls; subclasses say how to start it and when it is ready."""

    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 20.0

    def __init__(self, name: str, root: Path, port: int) -> None:
        self.name = name
        self.root = root
        self.port = port
        self.log = root / f"{name}.out"
        self.proc: subprocess.Popen[bytes] | None = None

    # --- subclass hooks ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """One-time set-up before the first start (data directories, config files)."""

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    # --- lifecycle --------------------------------------------------------------------------------
    def launch(self) -> None:
        argv, env, user = self.command()
        self.proc = spawn(argv, env=env, log=self.log, cwd=self.root, user=user)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        proc = self.proc
        try:
            wait_until(
                self.ready,
                timeout=timeout,
                describe=f"{self.name} on port {self.port}",
                alive=lambda: proc is not None and proc.poll() is None,
            )
        except (TimeoutError, BackendError) as exc:
            raise BackendError(f"local backend: {exc}. Last lines of its log:\n{self.log_tail()}") from None

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if _port_open(self.port):
            raise BackendError(f"local backend: port {self.port} for {self.name} is taken by another process")
        self.launch()
        self.wait_ready()

    def stop(self) -> None:
        terminate(self.proc, self.stop_signal, self.stop_timeout)
        self.proc = None

    def kill(self) -> None:
        terminate(self.proc, signal.SIGKILL, 5)
        self.proc = None

    def pause(self) -> None:
        if self.proc is not None:
            signal_tree(self.proc, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            signal_tree(self.proc, signal.SIGCONT)

    def pids(self) -> list[int]:
        """Pids of the server and its helper processes (for leak checks)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return descendants(self.proc.pid)

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)


class RabbitMQServer(_ProcessServer):
    """A private RabbitMQ node (``rabbitmq-server`` run directly, no system service)."""

    def __init__(self, root: Path, port: int, dist_port: int) -> None:
        super().__init__("rabbitmq", root, port)
        self.dist_port = dist_port
        self.binary = _find(
            ["/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server"],
            "rabbitmq-server",
            "apt-get install -y rabbitmq-server",
        )
        self.nodename = f"harness-{root.name}-{port}@localhost"
        self.log = root / "rabbitmq" / "log" / "console.out"

    def prepare(self) -> None:
        base = self.root / "rabbitmq"
        for sub in ("mnesia", "log", "home"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        # Small, fast node: no disk-space alarm on nearly full test machines, quick shutdown.
        (base / "rabbitmq.conf").write_text("disk_free_limit.absolute = 50MB\nloopback_users = none\n")

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        base = self.root / "rabbitmq"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(base / "home"),
            "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            # exec the VM in place (no signal-forwarding shell): the pid we hold is the broker itself
            "RUNNING_UNDER_SYSTEMD": "1",
        }
        return [self.binary], env, None

    def ready(self) -> bool:
        return _amqp_answers(self.port)

    def ctl(self, *args: str, timeout: float = 30.0) -> str:
        """Run ``rabbitmqctl ARGS`` against this node (its node name and ``HOME``, hence its cookie).

        Raises :class:`BackendError` with rabbitmqctl's own output when it fails.
        """
        rabbitmqctl = _find(
            ["/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmqctl", "/usr/sbin/rabbitmqctl"],
            "rabbitmqctl",
            "apt-get install -y rabbitmq-server",
        )
        _, env, _ = self.command()
        argv = [rabbitmqctl, "-n", self.nodename, *args]
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"local backend: `rabbitmqctl {' '.join(args)}` took over {timeout:.0f} s"
            ) from None
        if done.returncode != 0:
            raise BackendError(
                f"local backend: `rabbitmqctl {' '.join(args)}` failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()}"
            )
        return done.stdout

    def set_memory_watermark(self, fraction: float) -> None:
        """Set ``vm_memory_high_watermark`` (a fraction of RAM): near zero raises the memory alarm, which
        blocks every publishing connection until it is set back (0.4 is RabbitMQ's default)."""
        self.ctl("set_vm_memory_high_watermark", repr(fraction))

    def memory_alarm(self) -> bool:
        """True while the node reports a memory alarm."""
        return "memory" in self.ctl("eval", "rabbit_alarm:get_alarms().")


class PostgresServer(_ProcessServer):
    """A private PostgreSQL cluster (``initdb`` + ``postgres``, trust auth, as user postgres when root)."""

    stop_signal = signal.SIGINT  # fast shutdown; SIGTERM waits for clients to leave
    stop_timeout = 15.0

    def __init__(self, root: Path, port: int) -> None:
        super().__init__("postgres", root, port)
        self.bindir = Path(
            _find(
                ["/usr/lib/postgresql/*/bin/postgres", "/usr/local/pgsql/bin/postgres", "/usr/bin/postgres"],
                "PostgreSQL server (postgres, initdb)",
                "apt-get install -y postgresql",
            )
        ).parent
        self.datadir = root / "pgdata"
        self.sockdir = root / "pgsock"
        self.user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise BackendUnavailable(
                    "local backend: running as root needs a 'postgres' system user to run PostgreSQL "
                    "(apt-get install -y postgresql creates it)"
                ) from None
            self.user = "postgres"

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}

    def prepare(self) -> None:
        for directory in (self.sockdir, self.datadir):
            directory.mkdir(mode=0o700, exist_ok=True)
            if self.user:
                entry = pwd.getpwnam(self.user)
                os.chown(directory, entry.pw_uid, entry.pw_gid)
        initdb = spawn(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            env=self._env(),
            log=self.log,
            cwd=self.root,
            user=self.user,
        )
        self._initdb = initdb

    def finish_prepare(self) -> None:
        if self._initdb.wait(120) != 0:
            raise BackendError(f"local backend: initdb failed. Last lines of its log:\n{self.log_tail()}")

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        argv = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.sockdir),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=128MB",
        ]
        return argv, self._env(), self.user

    def ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2) as conn:
                conn.execute("select 1")
            return True
        except psycopg.Error:
            return False

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"


class LocalBackend(Backend):
    """Private RabbitMQ + PostgreSQL processes in a temporary directory (no Docker, no root needed)."""

    def __init__(self, *, database: str = "harness") -> None:
        super().__init__(name="local", supports_faults=True)
        self.database = database
        self.root: Path | None = None

    def start(self) -> LocalBackend:
        began = time.monotonic()
        self.started_at = time.time()
        _sweep_stale_runs()
        RUN_ROOT.mkdir(parents=True, exist_ok=True)
        if RUN_ROOT.stat().st_uid == os.geteuid():
            os.chmod(RUN_ROOT, 0o1777)  # noqa: S103 - shared by every user's runs, sticky like /tmp
        self.root = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=RUN_ROOT))
        os.chmod(self.root, 0o755)  # noqa: S103 - the postgres user must traverse it
        self.rabbitmq = rabbit = RabbitMQServer(self.root, free_port(), free_port())
        self.postgres = pg = PostgresServer(self.root, free_port())
        # In parallel: the broker boots (4-6 s) while initdb and the postmaster start (about 1-2 s).
        rabbit.prepare()
        rabbit.launch()
        pg.prepare()
        pg.finish_prepare()
        pg.launch()
        pg.wait_ready()
        self._create_database()
        rabbit.wait_ready()
        self.amqp_url = f"amqp://guest:guest@127.0.0.1:{rabbit.port}/%2F"
        self.database_url = pg.url(self.database)
        self.ready_seconds = round(time.monotonic() - began, 3)
        return self

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.postgres.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self) -> None:
        for server in (getattr(self, "rabbitmq", None), getattr(self, "postgres", None)):
            if isinstance(server, _ProcessServer):
                initdb = getattr(server, "_initdb", None)
                if initdb is not None and initdb.poll() is None:
                    terminate(initdb, signal.SIGKILL, 1)
                server.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def info(self) -> dict[str, object]:
        data = super().info()
        data["run_dir"] = str(self.root) if self.root else None
        data["pids"] = {
            name: server.pids()
            for name, server in (
                ("rabbitmq", getattr(self, "rabbitmq", None)),
                ("postgres", getattr(self, "postgres", None)),
            )
            if isinstance(server, _ProcessServer)
        }
        return data
