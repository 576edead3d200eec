"""A whole stack for one run: a backend plus the reference services (unless given by URL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.backends import Backend, create_backend
from harness.backends._base import StartStop
from harness.config import Settings


class Stack(StartStop):
    """Backend servers + Bloodbank + Candystore; services given by URL are used as they are."""

    def __init__(
        self, settings: Settings, *, with_services: bool = True, progress: Callable[[str], None] | None = None
    ) -> None:
        self.settings = settings
        self.with_services = with_services
        self._progress = progress or (lambda text: None)
        self.backend: Backend | None = None
        self.services: dict[str, Any] = {}

    def start(self) -> Stack:
        self.backend = create_backend(
            self.settings.backend,
            amqp_url=self.settings.amqp_url or None,
            database_url=self.settings.database_url or None,
        )
        self._progress(f"starting the {self.backend.name} backend (RabbitMQ + PostgreSQL) …")
        self.backend.start()
        self._progress(f"servers ready in {self.backend.ready_seconds:.1f} s")
        if self.with_services:
            self._start_services()
        return self

    def _start_services(self) -> None:
        from harness import services

        assert self.backend is not None
        self.services = services.start_reference_services(
            self.backend, self.settings, progress=self._progress
        )

    def info(self) -> dict[str, Any]:
        assert self.backend is not None
        data = self.backend.info()
        data["bloodbank_url"] = self.settings.bloodbank_url or (
            self.services["bloodbank"].url if "bloodbank" in self.services else None
        )
        data["candystore_url"] = self.settings.candystore_url or (
            self.services["candystore"].url if "candystore" in self.services else None
        )
        if self.services:  # credentials of the reference services this run started
            data["service_pids"] = {n: s.proc.pid for n, s in self.services.items() if s.proc is not None}
            data["api_key"] = self.settings.api_key
            data["signing_keys"] = self.settings.signing_keys
        return data

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        self.services.clear()
        if self.backend is not None:
            self.backend.stop()
            self.backend = None
