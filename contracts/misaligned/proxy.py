"""The misaligned proxies (starlette apps forwarding to an upstream service with httpx)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}

Rewrite = Callable[[Request, bytes, httpx.Response], Awaitable[Response]]


def flatten_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as an old, lossy store returned it."""
    out = dict(event)
    if "event_id" in out:
        out["id"] = out.pop("event_id")
    source = out.get("source")
    if isinstance(source, dict):
        out["source"] = f"{source.get('app', '')}@{source.get('host', '')}"
    if isinstance(out.get("correlation_ids"), list):
        out["correlation_ids"] = out["correlation_ids"][:1]
    out.pop("agent_context", None)
    out.pop("version", None)
    return out


def _proxy(upstream: str, rewrite: Rewrite) -> Starlette:
    client = httpx.AsyncClient(base_url=upstream, timeout=30.0)

    async def forward(request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        answer = await client.request(
            request.method, request.url.path, params=request.query_params, content=body, headers=headers
        )
        return await rewrite(request, body, answer)

    return Starlette(routes=[Route("/{path:path}", forward, methods=METHODS)])


def _passthrough(answer: httpx.Response) -> Response:
    media_type = answer.headers.get("content-type")
    extra = {k: v for k, v in answer.headers.items() if k.lower() in ("retry-after",)}
    return Response(answer.content, status_code=answer.status_code, media_type=media_type, headers=extra)


def _server_error() -> Response:
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)


async def _candystore(request: Request, _body: bytes, answer: httpx.Response) -> Response:
    if answer.status_code in (404, 422):
        return _server_error()
    if not request.url.path.startswith("/events") or "json" not in answer.headers.get("content-type", ""):
        return _passthrough(answer)
    data = answer.json()
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        data["events"] = [flatten_event(e) for e in data["events"]]
        data.pop("has_more", None)
    elif isinstance(data, dict) and "event_id" in data:
        data = flatten_event(data)
    return JSONResponse(data, status_code=answer.status_code)


async def _bloodbank(request: Request, body: bytes, answer: httpx.Response) -> Response:
    if answer.status_code not in (400, 422):
        return _passthrough(answer)
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if request.url.path == "/events" and isinstance(event, dict) and "payload" in event:
        event_type = event.get("event_type")
        accepted = {
            "event_id": event.get("event_id") or str(uuid.uuid4()),
            "event_type": event_type,
            "routing_key": event_type,
            "status": "published",
        }
        return JSONResponse(accepted, status_code=202)  # never published
    return _server_error()


def candystore_app(upstream: str) -> Starlette:
    return _proxy(upstream, _candystore)


def bloodbank_app(upstream: str) -> Starlette:
    return _proxy(upstream, _bloodbank)
