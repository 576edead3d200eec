"""The default backend: private ``rabbitmq-server`` and ``postgres`` processes on free ports.

Both servers start in parallel in a temporary directory and are torn down on normal exit, on SIGINT/SIGTERM
(the CLI and the pytest plugin turn those into a normal exit) and when the harness process dies (the kernel
kills them, see :mod:`harness.launch._process`). Run directories left by a killed harness are swept at the
next start.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import ssl
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
)
from harness.janitor import create_database
from harness.launch import (
    LaunchError,
    ManagedProcess,
    Readiness,
    all_of,
    amqp,
    http,
    spawn,
    sql,
    tail,
    tcp,
    terminate,
)
from harness.tls import TlsFiles, make_certificates

RUN_ROOT = Path(tempfile.gettempdir()) / "harness-33god"
START_TIMEOUT = 60.0


def _flag(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes")


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
        self.process: ManagedProcess | None = None

    # --- subclass hooks ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """One-time set-up before the first start (data directories, config files)."""

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        raise NotImplementedError

    def readiness(self) -> Readiness:
        raise NotImplementedError

    # --- lifecycle --------------------------------------------------------------------------------
    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.process.proc if self.process is not None else None

    def launch(self) -> None:
        argv, env, user = self.command()
        self.process = ManagedProcess(
            self.name,
            argv,
            env,
            self.log,
            self.readiness(),
            cwd=self.root,
            user=user,
            stop_signal=self.stop_signal,
            stop_timeout=self.stop_timeout,
            start_timeout=START_TIMEOUT,
        )
        self.process.launch()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        if self.process is None:
            raise BackendError(f"local backend: {self.name} was never launched")
        try:
            self.process.wait_ready(timeout)
        except LaunchError as exc:
            raise BackendError(f"local backend: {exc}") from None

    def start(self) -> None:
        if self.process is not None and self.process.running:
            return
        if tcp(self.port)():
            raise BackendError(f"local backend: port {self.port} for {self.name} is taken by another process")
        self.launch()
        self.wait_ready()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def pause(self) -> None:
        if self.process is not None:
            self.process.pause()

    def resume(self) -> None:
        if self.process is not None:
            self.process.resume()

    def pids(self) -> list[int]:
        """Pids of the server and its helper processes (for leak checks)."""
        return self.process.pids() if self.process is not None else []

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)


class RabbitMQServer(_ProcessServer):
    """A private RabbitMQ node (``rabbitmq-server`` run directly, no system service)."""

    def __init__(
        self,
        root: Path,
        port: int,
        dist_port: int,
        management_port: int | None = None,
        tls: TlsFiles | None = None,
        prometheus_port: int | None = None,
    ) -> None:
        super().__init__("rabbitmq", root, port)
        self.dist_port = dist_port
        #: certificates of an ``amqps``-only node (no plain AMQP listener), or None
        self.tls = tls
        #: HTTP port of the management plugin, or None (not enabled: it adds about 1 s to the boot)
        self.management_port = management_port
        #: HTTP port of the rabbitmq_prometheus plugin (per-queue metrics at /metrics), or None
        self.prometheus_port = prometheus_port
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
        plugins = ",".join(
            name
            for name, port in (
                ("rabbitmq_management", self.management_port),
                ("rabbitmq_prometheus", self.prometheus_port),
            )
            if port
        )
        (base / "enabled_plugins").write_text(f"[{plugins}].\n")
        # Small, fast node: no disk-space alarm on nearly full test machines, quick shutdown.
        conf = "disk_free_limit.absolute = 50MB\nloopback_users = none\n"
        if self.management_port:
            conf += f"management.tcp.port = {self.management_port}\nmanagement.tcp.ip = 127.0.0.1\n"
        if self.tls is not None:  # TLS only: a plain AMQP client finds no listener that speaks to it
            conf += (
                "listeners.tcp = none\n"
                f"listeners.ssl.default = 127.0.0.1:{self.port}\n"
                f"ssl_options.cacertfile = {self.tls.ca}\n"
                f"ssl_options.certfile = {self.tls.cert}\n"
                f"ssl_options.keyfile = {self.tls.key}\n"
                "ssl_options.verify = verify_none\n"
                "ssl_options.fail_if_no_peer_cert = false\n"
            )
        if self.prometheus_port:  # per-queue series (queue label): what the SLO rules read
            conf += f"prometheus.tcp.port = {self.prometheus_port}\nprometheus.tcp.ip = 127.0.0.1\n"
            conf += "prometheus.return_per_object_metrics = true\n"
        (base / "rabbitmq.conf").write_text(conf)

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

    def readiness(self) -> Readiness:
        broker = amqp(self.port, "localhost", tls=self.tls_context()) if self.tls else amqp(self.port)
        checks = [broker]
        if self.management_port:
            checks.append(
                Readiness(f"the management API on 127.0.0.1:{self.management_port}", self._management_answers)
            )
        if self.prometheus_port:
            checks.append(http(f"http://127.0.0.1:{self.prometheus_port}/metrics"))
        return all_of(*checks)

    def tls_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=str(self.tls.ca)) if self.tls is not None else None

    def _management_answers(self) -> bool:
        import httpx

        try:
            url = f"http://127.0.0.1:{self.management_port}/api/overview"
            return httpx.get(url, auth=("guest", "guest"), timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

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

    def readiness(self) -> Readiness:
        return sql(self.url("postgres"))

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"


class LocalBackend(Backend):
    """Private RabbitMQ + PostgreSQL processes in a temporary directory (no Docker, no root needed).

    ``management=True`` enables RabbitMQ's management plugin (HTTP API at :attr:`management_url`); by
    default it is on when ``HARNESS_RABBITMQ_MANAGEMENT`` is ``1``/``true`` (about 1 s more to boot).

    ``tls=True`` (default: ``HARNESS_RABBITMQ_TLS``) makes the broker speak ``amqps`` only, with a CA and
    certificate made for the run: :attr:`amqp_url` is ``amqps://…@localhost``, and ``SSL_CERT_FILE`` names
    the run's CA while the backend is up, so the harness's clients and the services it starts (their
    environment is copied from it) verify the broker with Python's default TLS context.

    ``prometheus=True`` (set before ``start``) enables ``rabbitmq_prometheus`` with per-queue metrics at
    :attr:`rabbitmq_metrics_url`.
    """

    #: enable the rabbitmq_prometheus plugin at the next start
    prometheus: bool = False
    #: its scrape URL while started, "" otherwise
    rabbitmq_metrics_url: str = ""

    def __init__(
        self, *, database: str = "harness", management: bool | None = None, tls: bool | None = None
    ) -> None:
        super().__init__(name="local", supports_faults=True)
        self.database = database
        self.management = _flag("HARNESS_RABBITMQ_MANAGEMENT") if management is None else management
        self.tls = _flag("HARNESS_RABBITMQ_TLS") if tls is None else tls
        self.ca_file: Path | None = None
        self._saved_cert_file: str | None = None
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
        certificates = make_certificates(self.root / "tls") if self.tls else None
        self.rabbitmq = rabbit = RabbitMQServer(
            self.root,
            free_port(),
            free_port(),
            free_port() if self.management else None,
            tls=certificates,
            prometheus_port=free_port() if self.prometheus else None,
        )
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
        if certificates is not None:
            # trusted beside the CAs already named (another TLS backend of this process, e.g. a fault stack)
            self._saved_cert_file = os.environ.get("SSL_CERT_FILE")
            bundle = certificates.ca.read_text()
            if self._saved_cert_file and Path(self._saved_cert_file).is_file():
                bundle = Path(self._saved_cert_file).read_text() + bundle
            self.ca_file = self.root / "tls" / "trusted.pem"
            self.ca_file.write_text(bundle)
            os.environ["SSL_CERT_FILE"] = str(self.ca_file)
            self.amqp_url = f"amqps://guest:guest@localhost:{rabbit.port}/%2F"
        else:
            self.amqp_url = f"amqp://guest:guest@127.0.0.1:{rabbit.port}/%2F"
        if rabbit.management_port:
            self.management_url = f"http://guest:guest@127.0.0.1:{rabbit.management_port}"
        if rabbit.prometheus_port:
            self.rabbitmq_metrics_url = f"http://127.0.0.1:{rabbit.prometheus_port}/metrics"
        self.database_url = pg.url(self.database)
        self.ready_seconds = round(time.monotonic() - began, 3)
        return self

    def _create_database(self) -> None:
        create_database(self.postgres.url("postgres"), self.database)

    def stop(self) -> None:
        if self.ca_file is not None and os.environ.get("SSL_CERT_FILE") == str(self.ca_file):
            if self._saved_cert_file is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = self._saved_cert_file
            self.ca_file = None
        for server in (getattr(self, "rabbitmq", None), getattr(self, "postgres", None)):
            if isinstance(server, _ProcessServer):
                initdb = getattr(server, "_initdb", None)
                if initdb is not None and initdb.poll() is None:
                    terminate(initdb, signal.SIGKILL, 1)
                server.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        self.rabbitmq_metrics_url = ""

    def info(self) -> dict[str, object]:
        data = super().info()
        data["run_dir"] = str(self.root) if self.root else None
        if self.management_url:
            data["management_url"] = self.management_url
        if self.rabbitmq_metrics_url:
            data["rabbitmq_metrics_url"] = self.rabbitmq_metrics_url
        data["pids"] = {
            name: server.pids()
            for name, server in (
                ("rabbitmq", getattr(self, "rabbitmq", None)),
                ("postgres", getattr(self, "postgres", None)),
            )
            if isinstance(server, _ProcessServer)
        }
        return data
