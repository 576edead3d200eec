"""reference_impl._headers.HeaderLimit: heads over the limit get 431 (HTTP) or are refused (WebSocket)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from reference_impl._headers import HeaderLimit, header_bytes


async def _ok(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def _echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


@pytest.fixture
def client() -> TestClient:
    app = Starlette(routes=[Route("/", _ok), WebSocketRoute("/ws", _echo)])
    return TestClient(HeaderLimit(app, max_bytes=2048, setting="X_MAX_HEADER_BYTES"))


def test_a_head_within_the_limit_passes(client: TestClient) -> None:
    assert client.get("/", headers={"X-Fine": "f" * 1000}).text == "ok"
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "hello"


def test_a_head_over_the_limit_gets_431_naming_the_limit_and_the_setting(client: TestClient) -> None:
    response = client.get("/", headers={"X-Big": "b" * 3000})
    assert response.status_code == 431
    detail = response.json()["detail"]
    assert "the limit is 2048 bytes" in detail and "X_MAX_HEADER_BYTES" in detail, detail
    assert response.headers["connection"] == "close"


def test_a_websocket_handshake_over_the_limit_is_refused(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws", headers={"X-Big": "b" * 3000}),
    ):
        pass
    assert refused.value.code == 1008


def test_header_bytes_counts_the_target_and_every_line() -> None:
    scope = {"raw_path": b"/events", "query_string": b"a=1", "headers": [(b"host", b"x"), (b"a", b"bc")]}
    assert header_bytes(scope) == len(b"/events") + 3 + (4 + 1 + 4) + (1 + 2 + 4)
