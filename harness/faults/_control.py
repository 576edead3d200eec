"""Fault control for services the harness did not start (``harness up --proxied``).

TCP proxies stand in front of the backend's RabbitMQ and PostgreSQL. A team starts its own services on the
*proxied* URLs; the black-box fault runs (``scenarios/faults/test_proxied_faults.py``) cut and restore those
connections through a small HTTP API, while the harness itself observes on the direct URLs:

    GET  /                            what can be cut, and the URLs
    POST /faults/{amqp|postgres}/cut  reset every open connection, refuse new ones
    POST /faults/{amqp|postgres}/restore
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.backends._base import StartStop
from harness.faults._proxy import TcpProxy


class FaultControl(StartStop):
    """Proxies in front of a started backend's servers, and the HTTP API that cuts them."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.proxies: dict[str, TcpProxy] = {}
        self._served: Any = None

    def start(self) -> FaultControl:
        from harness.mutants import serve

        self.proxies["amqp"] = TcpProxy.in_front_of(self.backend.amqp_url).start()
        self.proxies["postgres"] = TcpProxy.in_front_of(self.backend.database_url).start()
        self._served = serve(self._app(), "fault-control").start()
        return self

    @property
    def url(self) -> str:
        return self._served.url

    @property
    def amqp_url(self) -> str:
        return self.proxies["amqp"].url(self.backend.amqp_url)

    @property
    def database_url(self) -> str:
        return self.proxies["postgres"].url(self.backend.database_url)

    def info(self) -> dict[str, Any]:
        return {
            "fault_control_url": self.url,
            "proxied_amqp_url": self.amqp_url,
            "proxied_database_url": self.database_url,
            "faults": sorted(self.proxies),
        }

    def _app(self) -> Starlette:
        async def index(request: Request) -> JSONResponse:
            return JSONResponse(self.info())

        async def act(request: Request) -> JSONResponse:
            target, action = request.path_params["target"], request.path_params["action"]
            proxy = self.proxies.get(target)
            if proxy is None or action not in ("cut", "restore"):
                usage = "POST /faults/{amqp|postgres}/{cut|restore}"
                return JSONResponse({"detail": f"unknown fault {target}/{action}: {usage}"}, status_code=404)
            if action == "cut":
                proxy.cut()
            else:
                proxy.restore()
            return JSONResponse({"target": target, "state": "cut" if action == "cut" else "open"})

        return Starlette(
            routes=[Route("/", index), Route("/faults/{target}/{action}", act, methods=["POST"])]
        )

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()
            self._served = None
        for proxy in self.proxies.values():
            proxy.stop()
        self.proxies.clear()


class FaultControlClient:
    """The fault runs' side of :class:`FaultControl`."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=10)

    def info(self) -> dict[str, Any]:
        response = self.http.get("/")
        response.raise_for_status()
        return response.json()

    def cut(self, target: str) -> None:
        self.http.post(f"/faults/{target}/cut").raise_for_status()

    def restore(self, target: str) -> None:
        self.http.post(f"/faults/{target}/restore").raise_for_status()

    def close(self) -> None:
        self.http.close()
