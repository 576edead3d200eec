"""The reference services as child processes (uvicorn), configured by environment variables."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.backends import Backend, BackendError, free_port, wait_until
from harness.backends._process import spawn, tail, terminate
from harness.config import REFERENCE_RATE_LIMIT, Settings


@dataclass
class ServiceProcess:
    """One reference service run as ``python -m reference_impl.<name>``, with fault controls."""

    name: str
    env: dict[str, str]
    port: int
    log: Path
    health_path: str
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    #: the module run with ``python -m`` (default ``reference_impl.<name>``; mutants wrap it)
    module: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Launch the process and wait until its health endpoint answers 200."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Launch the process without waiting (several services start in parallel)."""
        env = {**self.env, **self.extra_env}
        module = self.module or f"reference_impl.{self.name}"
        self.proc = spawn([sys.executable, "-m", *module.split()], env=env, log=self.log)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the health endpoint answers 200; stop the process and raise with its log otherwise."""
        proc = self.proc
        assert proc is not None, "launch() first"

        def healthy() -> bool:
            try:
                return httpx.get(self.url + self.health_path, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(
                healthy,
                timeout=timeout,
                describe=f"{self.name} on {self.url}",
                alive=lambda: proc.poll() is None,
            )
        except (TimeoutError, BackendError) as exc:
            self.stop()
            raise BackendError(f"{exc}. Last lines of its log:\n{tail(self.log)}") from None

    def stop(self) -> None:
        terminate(self.proc, signal.SIGTERM, 10)
        self.proc = None

    def kill(self) -> None:
        terminate(self.proc, signal.SIGKILL, 5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def available(name: str) -> bool:
    """True when the reference service package exists (it can be run with ``python -m``)."""
    return importlib.util.find_spec(f"reference_impl.{name}.__main__") is not None


def service_env(name: str, backend: Backend, port: int, settings: Settings | None = None) -> dict[str, str]:
    """Environment variables that configure a reference service for this backend (see its README).

    With ``settings``, the run's credentials go in too: Bloodbank signs with the active key and requires the
    API keys (rate-limited per key); Candystore requires signatures and accepts every key (rotation).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOODBANK_", "CANDYSTORE_"))}
    env.update(backend.topology.env())
    prefix = name.upper()
    env[f"{prefix}_AMQP_URL"] = backend.amqp_url
    env[f"{prefix}_HOST"] = "127.0.0.1"
    env[f"{prefix}_PORT"] = str(port)
    if name == "candystore":
        env["CANDYSTORE_DATABASE_URL"] = backend.database_url
    if settings is None:
        return env
    if name == "bloodbank":
        if settings.signing_key:
            env["BLOODBANK_SIGNING_KEYS"] = settings.signing_keys
            env["BLOODBANK_SIGNING_KEY_ID"] = settings.signing_key[0]
        if settings.api_keys:
            env["BLOODBANK_API_KEYS"] = settings.api_keys
        if settings.api_keys and settings.rate_limited:
            rate, burst = REFERENCE_RATE_LIMIT
            env["BLOODBANK_RATE_LIMIT"] = str(rate)
            env["BLOODBANK_RATE_BURST"] = str(burst)
    if name == "candystore" and settings.signing_key:
        env["CANDYSTORE_REQUIRE_SIGNATURES"] = "true"
        env["CANDYSTORE_SIGNING_KEYS"] = settings.signing_keys
    return env


HEALTH_PATHS = {"bloodbank": "/healthz", "candystore": "/health"}


def start_reference_services(
    backend: Backend,
    settings: Settings,
    *,
    progress: Callable[[str], None] = lambda _: None,
    log_dir: Path | None = None,
    extra_env: dict[str, dict[str, str]] | None = None,
    modules: dict[str, str] | None = None,
) -> dict[str, ServiceProcess]:
    """Start the reference services not given by URL, in parallel; return when all are healthy."""
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
                env=service_env(name, backend, port, settings),
                port=port,
                log=log_dir / f"{name}.log",
                health_path=HEALTH_PATHS[name],
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
