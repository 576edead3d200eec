"""A stack of its own for fault runs: private servers, TCP proxies between Candystore and both servers,
and the reference services (Candystore reaches RabbitMQ and PostgreSQL only through the proxies)."""

from __future__ import annotations

from pathlib import Path

from harness.backends import LocalBackend
from harness.backends._base import StartStop, free_port
from harness.config import Settings
from harness.faults._proxy import TcpProxy
from harness.services import HEALTH_PATHS, ServiceProcess, service_env


def _port(url: str) -> int:
    return int(url.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _via(url: str, port: int) -> str:
    host_port = url.split("@", 1)[1].split("/", 1)[0]
    return url.replace(host_port, f"127.0.0.1:{port}")


class FaultStack(StartStop):
    """Local backend + proxies + reference Bloodbank and Candystore, all owned by one fault suite."""

    def __init__(self, settings: Settings, *, candystore_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.backend = LocalBackend()
        self.amqp_proxy: TcpProxy | None = None
        self.db_proxy: TcpProxy | None = None
        self.bloodbank: ServiceProcess | None = None
        self.candystore: ServiceProcess | None = None
        self.candystore_env = candystore_env or {}

    def start(self) -> FaultStack:
        self.backend.start()
        root = Path(self.backend.root or ".")
        self.amqp_proxy = TcpProxy("127.0.0.1", _port(self.backend.amqp_url)).start()
        self.db_proxy = TcpProxy("127.0.0.1", _port(self.backend.database_url)).start()
        port = free_port()
        env = service_env("candystore", self.backend, port, self.settings)
        env["CANDYSTORE_AMQP_URL"] = _via(self.backend.amqp_url, self.amqp_proxy.port)
        env["CANDYSTORE_DATABASE_URL"] = _via(self.backend.database_url, self.db_proxy.port)
        self.candystore = ServiceProcess(
            "candystore",
            env,
            port,
            root / "candystore.log",
            HEALTH_PATHS["candystore"],
            extra_env=self.candystore_env,
        )
        self.candystore.start()
        port = free_port()
        self.bloodbank = ServiceProcess(
            "bloodbank",
            service_env("bloodbank", self.backend, port, self.settings),
            port,
            root / "bloodbank.log",
            HEALTH_PATHS["bloodbank"],
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
