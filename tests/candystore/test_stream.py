"""``WS /events/stream`` pushes each newly stored event, with topic-style filters (SPEC §4)."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest
import websockets

from .helpers import Deployment, envelope

pytestmark = pytest.mark.integration


async def _collect(url: str, count: int, publish, timeout: float = 20.0) -> list[dict]:
    async with websockets.connect(url) as ws:
        await asyncio.to_thread(publish)
        got = []
        async with asyncio.timeout(timeout):
            while len(got) < count:
                got.append(json.loads(await ws.recv()))
        with pytest.raises(TimeoutError):  # nothing more than expected
            async with asyncio.timeout(0.5):
                extra = await ws.recv()
                pytest.fail(f"unexpected event on the stream: {extra[:200]}")
        return got


def test_stream_pushes_stored_events(deployment: Deployment) -> None:
    events = [envelope("github.pr.opened.v1") for _ in range(3)]
    ws_url = deployment.url.replace("http://", "ws://") + "/events/stream"

    def publish() -> None:
        for event in events:
            deployment.publish(event)

    got = asyncio.run(_collect(ws_url, 3, publish))
    assert [{k: v for k, v in e.items() if k != "stored_at"} for e in got] == events
    assert all("stored_at" in e for e in got)


@pytest.mark.parametrize(
    ("pattern", "wanted"),
    [
        ("github.#", {"github.pr.opened.v1"}),
        ("*.transcript.*.v1", {"fireflies.transcript.ready.v1"}),
        ("#.v2", {"acme.thing.created.v2"}),
        ("n8n.workflow.completed.v1", {"n8n.workflow.completed.v1"}),
    ],
)
def test_stream_filter(deployment: Deployment, pattern: str, wanted: set[str]) -> None:
    types = [
        "github.pr.opened.v1",
        "fireflies.transcript.ready.v1",
        "acme.thing.created.v2",
        "n8n.workflow.completed.v1",
    ]
    events = [envelope(t) for t in types]
    ws_url = (
        deployment.url.replace("http://", "ws://") + "/events/stream?" + urlencode({"event_type": pattern})
    )

    def publish() -> None:
        for event in events:
            deployment.publish(event)

    got = asyncio.run(_collect(ws_url, len(wanted), publish))
    assert {e["event_type"] for e in got} == wanted
    deployment.wait_stored([e["event_id"] for e in events])


def test_redelivered_duplicates_are_not_streamed_twice(deployment: Deployment) -> None:
    event = envelope("github.pr.opened.v1")
    ws_url = deployment.url.replace("http://", "ws://") + "/events/stream"

    def publish() -> None:
        deployment.publish(event)
        deployment.publish(event)

    got = asyncio.run(_collect(ws_url, 1, publish))
    assert got[0]["event_id"] == event["event_id"]
