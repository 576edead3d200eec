"""The reference services as child processes (uvicorn), configured by environment variables."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from harness.backends import Backend, BackendError, free_port
from harness.config import REFERENCE_RATE_LIMIT, Settings
from harness.launch import LaunchError, ManagedProcess, http


@dataclass
class ServiceProcess:
    """One reference service run as ``python -m reference_impl.<name>``, with fault controls.

    ``start`` returns once ``ready_path`` answers 200: the readiness endpoint by default; a liveness path
    for a check that starts a service on purpose without its broker or database.
    """

    name: str
    env: dict[str, str]
    port: int
    log: Path
    ready_path: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    #: the module run with ``python -m`` (default ``reference_impl.<name>``; mutants wrap it)
    module: str = ""
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.process.proc if self.process is not None else None

    def start(self, timeout: float = 30.0) -> None:
        """Launch the process and wait until it is ready."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Launch the process without waiting (several services start in parallel)."""
        own = launcher(self.name)
        module = self.module or own.MODULE
        path = self.ready_path or own.READY_PATH
        self.process = ManagedProcess(
            self.name,
            [sys.executable, "-m", *module.split()],
            {**self.env, **self.extra_env},
            self.log,
            http(self.url + path),
        )
        self.process.launch()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ready; the process is stopped and the error carries its log otherwise."""
        if self.process is None:
            raise BackendError(f"{self.name}: wait_ready() before launch()")
        try:
            self.process.wait_ready(timeout)
        except LaunchError as exc:
            raise BackendError(str(exc)) from None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def restart(self) -> None:
        self.stop()
        self.start()


def available(name: str) -> bool:
    """True when the reference service package exists (it can be run with ``python -m``)."""
    return importlib.util.find_spec(f"reference_impl.{name}.__main__") is not None


def launcher(name: str) -> ModuleType:
    """The launch module of a reference service (``reference_impl.<name>.launch``): module, environment,
    liveness and readiness paths, owned by the service itself."""
    return importlib.import_module(f"reference_impl.{name}.launch")


def service_env(
    name: str, backend: Backend, port: int, settings: Settings | None = None, otlp_endpoint: str = ""
) -> dict[str, str]:
    """Environment variables that configure a reference service for this backend (see its README).

    With ``settings``, the run's credentials go in too: Bloodbank signs with the active key and requires the
    API keys (rate-limited per key); Candystore requires signatures and accepts every key (rotation). With
    ``otlp_endpoint``, both export the spans of sampled traces there.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOODBANK_", "CANDYSTORE_"))}
    env.update(backend.topology.env())
    signing_keys = settings.signing_keys if settings is not None and settings.signing_key else ""
    if name == "bloodbank":
        api_keys = settings.api_keys if settings is not None else ""
        limited = bool(api_keys) and settings is not None and settings.rate_limited
        env.update(
            launcher(name).environment(
                port=port,
                amqp_url=backend.amqp_url,
                signing_keys=signing_keys,
                signing_key_id=settings.signing_key[0] if signing_keys and settings is not None else "",
                api_keys=api_keys,
                rate_limit=REFERENCE_RATE_LIMIT if limited else None,
                otlp_endpoint=otlp_endpoint,
            )
        )
    else:
        env.update(
            launcher(name).environment(
                port=port,
                amqp_url=backend.amqp_url,
                database_url=backend.database_url,
                signing_keys=signing_keys,
                otlp_endpoint=otlp_endpoint,
            )
        )
    return env


def start_reference_services(
    backend: Backend,
    settings: Settings,
    *,
    progress: Callable[[str], None] = lambda _: None,
    log_dir: Path | None = None,
    extra_env: dict[str, dict[str, str]] | None = None,
    modules: dict[str, str] | None = None,
    otlp_endpoint: str = "",
) -> dict[str, ServiceProcess]:
    """Start the reference services not given by URL, in parallel; return when all are ready (spans to
    ``otlp_endpoint`` when given)."""
    wanted = []
    if not settings.candystore_url and available("candystore"):
        wanted.append("candystore")
    if not settings.bloodbank_url and available("bloodbank"):
        wanted.append("bloodbank")
    log_dir = log_dir or Path(getattr(backend, "root", None) or tempfile.gettempdir())
    started: dict[str, ServiceProcess] = {}
    try:
        began = time.monotonic()
        for name in wanted:
            port = free_port()
            service = ServiceProcess(
                name=name,
                env=service_env(name, backend, port, settings, otlp_endpoint),
                port=port,
                log=log_dir / f"{name}.log",
                extra_env=(extra_env or {}).get(name, {}),
                module=(modules or {}).get(name, ""),
            )
            service.launch()
            started[name] = service
        for name, service in started.items():
            service.wait_ready()
            progress(f"{name} ready on {service.url} after {time.monotonic() - began:.1f} s")
    except BaseException:
        for service in started.values():
            service.stop()
        raise
    return started
