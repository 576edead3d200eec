"""Stand-in services with known defects (ASGI apps built on Starlette)."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def all_not_found() -> Starlette:
    """A Bloodbank whose every route answers 404 (the publish route is somewhere the harness was not told)."""

    async def not_found(request: Request) -> JSONResponse:
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", not_found, methods=methods)])


def forward(upstream: str) -> tuple[httpx.AsyncClient, object]:
    """An async client to ``upstream`` and a coroutine function relaying one request to it unchanged."""
    client = httpx.AsyncClient(base_url=upstream.rstrip("/"), timeout=30.0)

    async def relay(request: Request) -> Response:
        body = await request.body()
        # a list, not a dict: repeated headers (X-Parent-Event-Id) must reach the upstream as sent
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
        answer = await client.request(
            request.method, request.url.path, params=request.query_params, content=body, headers=headers
        )
        excluded = {"content-length", "content-encoding", "transfer-encoding", "connection"}
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in excluded}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    return client, relay


def stops_answering_after(upstream: str, requests: int = 1) -> Starlette:
    """A proxy that relays the first ``requests`` requests, then never answers again (health included)."""
    _client, relay = forward(upstream)
    seen = 0
    never = asyncio.Event()

    async def handle(request: Request) -> Response:
        nonlocal seen
        seen += 1
        if seen > requests:
            await never.wait()
        return await relay(request)  # type: ignore[operator]

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", handle, methods=methods)])


def renamed_publish(upstream: str, route: str = "/api/v2/publish", status: int = 200) -> Starlette:
    """A Bloodbank whose publish route is ``route`` (not ``POST /events``) and answers ``status`` (not 202);
    everything else is relayed unchanged. Legal when a profile says so; one root finding when not."""
    _client, relay = forward(upstream)

    async def publish(request: Request) -> Response:
        original = request.scope.copy()
        original["path"] = "/events"
        original["raw_path"] = b"/events"
        answer = await relay(Request(original, request.receive))  # type: ignore[operator]
        if answer.status_code == 202:
            answer.status_code = status
        return answer

    async def hidden(request: Request) -> JSONResponse:
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    async def other(request: Request) -> Response:
        return await relay(request)  # type: ignore[operator]

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route(route, publish, methods=["POST"]),
            Route("/events", hidden, methods=["POST"]),
            Route("/{path:path}", other, methods=methods),
        ]
    )
