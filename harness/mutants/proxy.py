"""A rewriting HTTP proxy: the building block of the service mutants.

``proxy(upstream, before=..., after=...)`` relays every request to ``upstream`` unchanged unless a hook
says otherwise. ``before(call)`` may change the request or answer in place of the upstream; ``after(call,
answer)`` may replace the upstream's answer. Repeated headers (X-Parent-Event-Id) are kept as sent.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}
KEPT_ANSWER_HEADERS = {"content-type", "retry-after", "x-request-id"}


@dataclass
class Call:
    """One request on its way to the upstream (hooks may change it)."""

    request: Request
    method: str
    path: str
    params: list[tuple[str, str]]
    body: bytes
    headers: list[tuple[str, str]]
    client: httpx.AsyncClient

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    async def send(self, timeout: float | None = None) -> httpx.Response:
        """The request, as it stands now, to the upstream (hooks may send it more than once)."""
        # The path as it was sent (still percent-encoded: %00 and friends stay intact) unless a hook
        # changed it.
        raw = self.request.scope.get("raw_path", b"").decode("latin-1")
        path = raw if self.path == self.request.url.path and raw else self.path
        extra = {} if timeout is None else {"timeout": timeout}
        return await self.client.request(
            self.method, path, params=self.params, content=self.body, headers=self.headers, **extra
        )

    def drop_header(self, name: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]


Before = Callable[[Call], Awaitable[Response | None]]
After = Callable[[Call, httpx.Response], Awaitable[Response | None]]


def relay(answer: httpx.Response) -> Response:
    """The upstream's answer, as it was (status, body, the headers a client reads)."""
    headers = {k: v for k, v in answer.headers.items() if k.lower() in KEPT_ANSWER_HEADERS}
    return Response(answer.content, status_code=answer.status_code, headers=headers)


def json_answer(data: Any, status: int) -> Response:
    return JSONResponse(data, status_code=status)


def proxy(upstream: str, *, before: Before | None = None, after: After | None = None) -> Starlette:
    client = httpx.AsyncClient(base_url=upstream.rstrip("/"), timeout=30.0)

    async def handle(request: Request) -> Response:
        call = Call(
            request=request,
            method=request.method,
            path=request.url.path,
            params=list(request.query_params.multi_items()),
            body=await request.body(),
            headers=[(k, v) for k, v in request.headers.items() if k.lower() not in HOP_HEADERS],
            client=client,
        )
        if before is not None:
            early = await before(call)
            if early is not None:
                return early
        answer = await call.send()
        if after is not None:
            replaced = await after(call, answer)
            if replaced is not None:
                return replaced
        return relay(answer)

    return Starlette(routes=[Route("/{path:path}", handle, methods=METHODS)])


def rewrite_events(upstream: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Starlette:
    """A Candystore proxy that passes every event it returns (by id, lists, traces) through ``change``."""

    async def after(call: Call, answer: httpx.Response) -> Response | None:
        if call.method != "GET" or "json" not in answer.headers.get("content-type", ""):
            return None
        data = answer.json()
        if isinstance(data, dict) and isinstance(data.get("events"), list):
            data["events"] = [change(dict(e)) if isinstance(e, dict) else e for e in data["events"]]
        elif isinstance(data, dict) and "event_id" in data and "payload" in data:
            data = change(dict(data))
        else:
            return None
        return json_answer(data, answer.status_code)

    return proxy(upstream, after=after)
