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
        self,
        settings: Settings,
        *,
        with_services: bool = True,
        progress: Callable[[str], None] | None = None,
        prometheus: bool = False,
        rules_time_scale: float = 1.0,
    ) -> None:
        self.settings = settings
        self.with_services = with_services
        self._progress = progress or (lambda text: None)
        self.backend: Backend | None = None
        self.services: dict[str, Any] = {}
        #: start a private Prometheus scraping the services and the broker (``harness up --prometheus``)
        self.with_prometheus = prometheus
        self.prometheus: Any = None
        #: the SLO rules' windows times this (tests watch every alert fire on a faster clock)
        self.rules_time_scale = rules_time_scale

    def start(self) -> Stack:
        self.backend = create_backend(
            self.settings.backend,
            amqp_url=self.settings.amqp_url or None,
            database_url=self.settings.database_url or None,
        )
        if self.with_prometheus:
            from harness.prometheus import find_binary

            find_binary()  # fail before anything starts when it is missing
            if hasattr(self.backend, "prometheus"):  # the local backend: enable rabbitmq_prometheus
                self.backend.prometheus = True  # type: ignore[attr-defined]
        self._progress(f"starting the {self.backend.name} backend (RabbitMQ + PostgreSQL) …")
        self.backend.start()
        self._progress(f"servers ready in {self.backend.ready_seconds:.1f} s")
        if self.with_services:
            self._start_services()
        if self.with_prometheus:
            self._start_prometheus()
        return self

    def scrape_targets(self) -> dict[str, str]:
        """job -> metrics URL: the services' metrics routes (the profile's) and the broker's plugin."""
        assert self.backend is not None
        surface = self.settings.surface
        targets = {}
        for name, route in (
            ("bloodbank", surface.bloodbank.metrics),
            ("candystore", surface.candystore.metrics),
        ):
            base = getattr(self.settings, f"{name}_url") or (
                self.services[name].url if name in self.services else ""
            )
            if base and route.present:
                targets[name] = route.path if "://" in route.path else base.rstrip("/") + route.path
        broker = getattr(self.backend, "rabbitmq_metrics_url", "")
        if broker:
            targets["rabbitmq"] = broker
        return targets

    def _start_prometheus(self) -> None:
        from harness.prometheus import PrometheusServer
        from harness.slo import render_rules

        assert self.backend is not None
        topology = self.settings.topology if self.settings.external_services else self.backend.topology
        rules = render_rules(topology, time_scale=self.rules_time_scale)
        self.prometheus = PrometheusServer(self.scrape_targets(), rules)
        self._progress(f"starting Prometheus scraping {', '.join(self.prometheus.targets)} …")
        self.prometheus.start()

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
        if self.prometheus is not None:
            data["prometheus_url"] = self.prometheus.url
        if self.services:  # credentials of the reference services this run started
            data["service_pids"] = {n: s.proc.pid for n, s in self.services.items() if s.proc is not None}
            data["api_key"] = self.settings.api_key
            data["signing_keys"] = self.settings.signing_keys
        return data

    def stop(self) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
            self.prometheus = None
        for service in reversed(list(self.services.values())):
            service.stop()
        self.services.clear()
        if self.backend is not None:
            self.backend.stop()
            self.backend = None
