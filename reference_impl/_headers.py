"""A bound on request headers, shared by both reference services (``docs/adr/0034-request-header-limit.md``).

uvicorn's default HTTP parser (httptools) accepts request headers of any size. :class:`HeaderLimit` answers
**431 Request Header Fields Too Large** with a JSON ``{detail}`` naming the size, the limit and the setting
that raises it, before the application sees the request; a WebSocket handshake over the limit is refused the
same way (closed before it is accepted: 403).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

#: the default: what Node.js allows, twice nginx's default header buffer
DEFAULT_MAX_HEADER_BYTES = 16_384


def header_bytes(scope: Scope) -> int:
    """Size of the request head as sent: request target plus every ``name: value`` line."""
    target = len(scope.get("raw_path") or scope.get("path", "").encode()) + len(
        scope.get("query_string", b"")
    )
    return target + sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))


class HeaderLimit:
    """ASGI middleware: requests whose head exceeds ``max_bytes`` get 431 (WebSocket: refused)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_HEADER_BYTES, setting: str = "") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        size = header_bytes(scope)
        if size <= self.max_bytes:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        raise_it = f"; raise it with {self.setting}" if self.setting else ""
        detail = (
            f"request headers are {size} bytes ({len(scope.get('headers', ()))} fields); the limit is "
            f"{self.max_bytes} bytes{raise_it}"
        )
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 431,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
