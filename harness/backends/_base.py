"""The backend interface: a RabbitMQ and a PostgreSQL server, their URLs, and fault controls."""

from __future__ import annotations

import abc
import secrets
from dataclasses import dataclass, field
from typing import Any

# re-exported: callers import them from harness.backends
from harness.launch import free_port as free_port
from harness.launch import wait_until as wait_until
from holyfields.topology import Topology


class BackendError(RuntimeError):
    """A backend could not be provisioned or controlled. The message says what to do next."""


class BackendUnavailable(BackendError):
    """The backend cannot run on this machine (no Docker engine, no binary, unreachable URL)."""


class FaultsUnsupported(BackendError):
    """The backend does not own the servers, so it cannot stop, kill or pause them."""


def run_id() -> str:
    """A short id, unique enough to name a run's database, vhost or queues on a shared server."""
    return secrets.token_hex(4)


class StartStop:
    """``with`` support for anything with ``start()`` (returning self) and ``stop()``.

    A start that fails halfway is torn down before the error propagates, so nothing is left running.
    """

    def start(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Any:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerControl(abc.ABC):
    """Fault controls of one server owned by a backend."""

    name: str

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the server gracefully (its data is kept for :meth:`start`)."""

    @abc.abstractmethod
    def start(self) -> None:
        """Start the server again on the same port and wait until it is ready."""

    @abc.abstractmethod
    def kill(self) -> None:
        """Kill the server with SIGKILL (no shutdown at all)."""

    @abc.abstractmethod
    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing is answered."""

    @abc.abstractmethod
    def resume(self) -> None:
        """Undo :meth:`pause`."""

    def restart(self) -> None:
        """Stop, then start."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log, for error messages."""
        return ""


class _NoFaults(ServerControl):
    """Fault controls of a server the backend does not own: every call says so."""

    def __init__(self, name: str, backend: str) -> None:
        self.name = name
        self._backend = backend

    def _refuse(self, *_: Any) -> None:
        raise FaultsUnsupported(
            f"the {self._backend} backend does not own {self.name}, so it cannot stop, kill or pause it; "
            "fault tests need --backend local (or docker)"
        )

    stop = start = kill = pause = resume = _refuse  # type: ignore[assignment]


@dataclass
class Backend(StartStop, abc.ABC):
    """A RabbitMQ and a PostgreSQL server for one run.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with create_backend("local") as backend:
            print(backend.amqp_url, backend.database_url)
    """

    name: str = "abstract"
    amqp_url: str = ""
    database_url: str = ""
    topology: Topology = field(default_factory=Topology)
    supports_faults: bool = False
    started_at: float | None = None
    ready_seconds: float | None = None
    #: RabbitMQ management HTTP API (with credentials), when the backend enabled it; "" otherwise
    management_url: str = ""

    rabbitmq: ServerControl = field(init=False)
    postgres: ServerControl = field(init=False)

    @abc.abstractmethod
    def start(self) -> Backend:
        """Provision both servers (in parallel where possible) and return self when both are ready."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Tear everything down. Safe to call twice, and after a failed start."""

    def info(self) -> dict[str, Any]:
        """URLs and names for people and tools (the JSON line of ``harness up``)."""
        return {
            "backend": self.name,
            "amqp_url": self.amqp_url,
            "database_url": self.database_url,
            "exchange": self.topology.exchange,
            "dlx": self.topology.dlx,
            "dlq": self.topology.dlq,
            "queue": self.topology.queue,
            "ready_seconds": self.ready_seconds,
        }
