"""Stand-in services with known defects, for the tests of the harness and the gallery."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.mutants.proxy import Call, json_answer, proxy


def all_not_found() -> Starlette:
    """A Bloodbank whose every route answers 404 (the publish route is somewhere the harness was not told)."""

    async def not_found(request: Request) -> JSONResponse:
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", not_found, methods=methods)])


def stops_answering_after(upstream: str, requests: int = 1) -> Any:
    """A proxy that relays the first ``requests`` requests, then never answers again (health included)."""
    seen = 0
    never = asyncio.Event()

    async def before(call: Call) -> None:
        nonlocal seen
        seen += 1
        if seen > requests:
            await never.wait()

    return proxy(upstream, before=before)


def renamed_publish(upstream: str, route: str = "/api/v2/publish", status: int = 200) -> Any:
    """A Bloodbank whose publish route is ``route`` (not ``POST /events``) and answers ``status`` (not 202);
    everything else is relayed unchanged. Legal when a profile says so; one root finding when not."""

    async def before(call: Call) -> Response | None:
        if call.method == "POST" and call.path == "/events":
            return json_answer({"detail": "Not Found"}, 404)
        if call.method == "POST" and call.path == route:
            call.path = "/events"
        return None

    async def after(call: Call, answer: httpx.Response) -> Response | None:
        if call.path == "/events" and answer.status_code == 202:
            return Response(answer.content, status_code=status, media_type="application/json")
        return None

    return proxy(upstream, before=before, after=after)
