"""A stack of its own for fault runs: servers of its own, TCP proxies between Candystore and both servers,
and the reference services (Candystore reaches RabbitMQ and PostgreSQL only through the proxies).

The servers come from any backend that owns them (``supports_faults``: local processes or containers);
the stack starts and stops that backend itself."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from harness.backends import Backend, FaultsUnsupported, LocalBackend
from harness.backends._base import StartStop, free_port
from harness.config import Settings
from harness.faults._proxy import TcpProxy
from harness.services import ServiceProcess, service_env


class FaultStack(StartStop):
    """Local backend + proxies + reference Bloodbank and Candystore, all owned by one fault suite."""

    def __init__(
        self,
        settings: Settings,
        *,
        candystore_env: dict[str, str] | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend or LocalBackend()
        if not self.backend.supports_faults:
            raise FaultsUnsupported(
                f"fault runs need a backend that owns its servers (local or docker), not {self.backend.name}"
            )
        self.logs: Path | None = None
        self.amqp_proxy: TcpProxy | None = None
        self.db_proxy: TcpProxy | None = None
        self.bloodbank: ServiceProcess | None = None
        self.candystore: ServiceProcess | None = None
        self.candystore_env = candystore_env or {}

    def start(self) -> FaultStack:
        self.backend.start()
        root = self.logs = Path(tempfile.mkdtemp(prefix="harness-faults-"))
        self.amqp_proxy = TcpProxy.in_front_of(self.backend.amqp_url).start()
        self.db_proxy = TcpProxy.in_front_of(self.backend.database_url).start()
        port = free_port()
        env = service_env("candystore", self.backend, port, self.settings)
        env["CANDYSTORE_AMQP_URL"] = self.amqp_proxy.url(self.backend.amqp_url)
        env["CANDYSTORE_DATABASE_URL"] = self.db_proxy.url(self.backend.database_url)
        self.candystore = ServiceProcess(
            "candystore",
            env,
            port,
            root / "candystore.log",
            extra_env=self.candystore_env,
        )
        self.candystore.start()
        port = free_port()
        self.bloodbank = ServiceProcess(
            "bloodbank",
            service_env("bloodbank", self.backend, port, self.settings),
            port,
            root / "bloodbank.log",
        )
        self.bloodbank.start()
        return self

    def stop(self) -> None:
        for service in (self.bloodbank, self.candystore):
            if service is not None:
                service.stop()
        for proxy in (self.amqp_proxy, self.db_proxy):
            if proxy is not None:
                proxy.stop()
        self.backend.stop()
        if self.logs is not None:
            shutil.rmtree(self.logs, ignore_errors=True)
