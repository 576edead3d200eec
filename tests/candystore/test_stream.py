"""``WS /events/stream`` pushes each newly stored event, with topic-style filters (SPEC §4)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pika
import psycopg
import pytest
import websockets

from harness.janitor import database_url

from .helpers import Deployment, dumps, envelope

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


# --- hardening (issue 11, ADR 0031) ----------------------------------------------------------------------
HOSTILE_FILTER = "#." * 31 + "zz"  # 32 words, 64 characters: within the limits, matches nothing below
LONG_TYPE = "ab.ab.ab.ab.ab.ab.v1"  # seven words: a backtracking matcher needs seconds per event


def _ws_url(deployment: Deployment, **params: str) -> str:
    query = ("?" + urlencode(params)) if params else ""
    return deployment.url.replace("http://", "ws://") + "/events/stream" + query


async def _closed(url: str) -> websockets.ConnectionClosed:
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                await ws.recv()
    return closed.value


def test_hostile_filter_stalls_neither_health_nor_storage(deployment: Deployment) -> None:
    events = [envelope(LONG_TYPE, payload={}) for _ in range(3)]

    async def run() -> tuple[float, float]:
        latencies: list[float] = []
        async with (
            websockets.connect(_ws_url(deployment, event_type=HOSTILE_FILTER)) as hostile,
            websockets.connect(_ws_url(deployment)) as plain,
            httpx.AsyncClient(base_url=deployment.url, timeout=30) as http,
        ):
            started = time.monotonic()
            for event in events:
                await asyncio.to_thread(deployment.publish, event)
            received: list[dict] = []

            async def probe() -> None:
                while len(received) < len(events):
                    began = time.monotonic()
                    assert (await http.get("/health")).status_code == 200
                    latencies.append(time.monotonic() - began)
                    await asyncio.sleep(0.05)  # probe pacing, not synchronisation

            prober = asyncio.create_task(probe())
            async with asyncio.timeout(60):
                while len(received) < len(events):
                    received.append(json.loads(await plain.recv()))
            await prober
            delivered = time.monotonic() - started
            assert {e["event_id"] for e in received} == {e["event_id"] for e in events}
            with pytest.raises(TimeoutError):  # the hostile filter matches nothing
                async with asyncio.timeout(0.3):
                    await hostile.recv()
        return max(latencies), delivered

    worst, delivered = asyncio.run(run())
    assert worst < 2.0, f"/health took {worst:.1f} s while a hostile filter was subscribed"
    assert delivered < 5.0, f"3 events took {delivered:.1f} s to be stored and streamed"


@pytest.mark.parametrize(
    ("pattern", "limit"),
    [("a" * 256, "255 characters"), (".".join(["a"] * 33), "32 words"), ("", "non-empty")],
    ids=["too-long", "too-many-words", "empty"],
)
def test_filters_beyond_the_limits_are_refused_with_1008(
    deployment: Deployment, pattern: str, limit: str
) -> None:
    closed = asyncio.run(_closed(_ws_url(deployment, event_type=pattern)))
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    assert limit in closed.rcvd.reason


def test_a_filter_at_the_limits_is_accepted(deployment: Deployment) -> None:
    pattern = ".".join(["*"] * 31) + "." + "b" * (255 - 62)  # 32 words, 255 characters
    assert len(pattern) == 255 and len(pattern.split(".")) == 32

    async def accepted() -> None:
        async with websockets.connect(_ws_url(deployment, event_type=pattern)) as ws:
            with pytest.raises(TimeoutError):  # open, nothing matches
                async with asyncio.timeout(0.3):
                    await ws.recv()

    asyncio.run(accepted())


def test_bad_resume_cursor_is_refused_with_1008(deployment: Deployment) -> None:
    closed = asyncio.run(_closed(_ws_url(deployment, after="yesterday")))
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    assert "after" in closed.rcvd.reason and "RFC 3339" in closed.rcvd.reason


def _burst(deployment: Deployment, events: list[dict]) -> None:
    """Publish without waiting for each confirm, so the events reach Candystore as one burst."""
    connection = pika.BlockingConnection(pika.URLParameters(deployment.backend.amqp_url))
    try:
        channel = connection.channel()
        properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
        for event in events:
            channel.basic_publish(deployment.topology.exchange, event["event_type"], dumps(event), properties)
    finally:
        connection.close()  # flushes what was published


def test_a_burst_of_two_full_batches_reaches_twenty_subscribers(deployment: Deployment) -> None:
    """20 prompt subscribers, 2 x 1,000 events: every subscriber gets every event once, in stored order."""
    events = [envelope("github.pr.opened.v1") for _ in range(2000)]
    wanted = [e["event_id"] for e in events]

    async def subscriber(ws: Any) -> list[dict]:
        got: list[dict] = []
        while len(got) < len(events):
            got.append(json.loads(await ws.recv()))
        return got

    async def run() -> list[list[dict]]:
        async with contextlib.AsyncExitStack() as stack:
            sockets = [
                await stack.enter_async_context(websockets.connect(_ws_url(deployment))) for _ in range(20)
            ]
            readers = [asyncio.create_task(subscriber(ws)) for ws in sockets]
            await asyncio.to_thread(_burst, deployment, events)
            async with asyncio.timeout(60):
                return await asyncio.gather(*readers)

    results = asyncio.run(run())
    for index, got in enumerate(results):
        ids = [e["event_id"] for e in got]
        assert sorted(ids) == sorted(wanted), f"subscriber {index} missed or repeated events"
        stamps = [e["stored_at"] for e in got]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), (
            f"subscriber {index}: stored_at not strictly increasing"
        )


def test_resume_after_a_disconnect_replays_then_goes_live(deployment: Deployment) -> None:
    first = [envelope("github.pr.opened.v1") for _ in range(10)]
    later = [envelope("github.pr.opened.v1") for _ in range(5)]
    live = [envelope("github.pr.opened.v1") for _ in range(3)]

    async def run() -> tuple[list[dict], list[dict]]:
        async with websockets.connect(_ws_url(deployment)) as ws:
            await asyncio.to_thread(lambda: [deployment.publish(e) for e in first])
            async with asyncio.timeout(20):
                seen = [json.loads(await ws.recv()) for _ in range(4)]
        await asyncio.to_thread(lambda: [deployment.publish(e) for e in later])
        await asyncio.to_thread(deployment.wait_stored, [e["event_id"] for e in later])
        async with websockets.connect(_ws_url(deployment, after=seen[-1]["stored_at"])) as ws:
            async with asyncio.timeout(20):
                resumed = [json.loads(await ws.recv()) for _ in range(6 + 5)]
                await asyncio.to_thread(lambda: [deployment.publish(e) for e in live])
                resumed += [json.loads(await ws.recv()) for _ in range(3)]
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    extra = await ws.recv()
                    pytest.fail(f"unexpected event after the resume: {extra[:200]}")
        return seen, resumed

    seen, resumed = asyncio.run(run())
    expected = [e["event_id"] for e in first + later + live]
    assert [e["event_id"] for e in seen + resumed] == expected, "resume lost, repeated or reordered events"
    stamps = [e["stored_at"] for e in seen + resumed]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_a_subscriber_too_slow_is_told_how_to_resume_and_loses_nothing(deployment_factory) -> None:
    small = deployment_factory(CANDYSTORE_STREAM_QUEUE_SIZE="50")
    blob = "x" * 40_000  # 800 events of 40 kB: far more than the socket buffers hold while nobody reads
    events = [envelope("acme.blob.stored.v1", payload={"blob": blob, "n": n}) for n in range(800)]
    wanted = [e["event_id"] for e in events]

    async def run() -> tuple[list[dict], Any, list[dict]]:
        got: list[dict] = []
        closed = None
        # no permessage-deflate: 40 kB of one letter compresses to almost nothing and never fills a buffer
        async with websockets.connect(_ws_url(small), max_queue=1, compression=None) as ws:
            await asyncio.to_thread(lambda: [small.publish(e) for e in events])
            await asyncio.to_thread(small.wait_stored, wanted, 60)
            try:
                async with asyncio.timeout(60):
                    while len(got) < len(events):
                        got.append(json.loads(await ws.recv()))
            except websockets.ConnectionClosed as exc:
                closed = exc
        assert closed is not None, "the subscriber was not too slow after all: the test proves nothing"
        resumed: list[dict] = []
        reason = closed.rcvd.reason if closed.rcvd else ""
        after = reason.rpartition("?after=")[2]
        async with websockets.connect(_ws_url(small, after=after)) as ws:
            async with asyncio.timeout(30):
                while len(got) + len(resumed) < len(events):
                    resumed.append(json.loads(await ws.recv()))
        return got, closed, resumed

    got, closed, resumed = asyncio.run(run())
    assert closed.rcvd is not None and closed.rcvd.code == 1013, f"closed with {closed.rcvd}"
    assert closed.rcvd.reason.startswith("too slow; resume with ?after="), closed.rcvd.reason
    assert [e["event_id"] for e in got + resumed] == wanted, "events lost or repeated across the resume"


def test_a_resume_while_the_database_is_unavailable_is_closed_with_a_cursor(
    deployment_factory, backend
) -> None:
    own = deployment_factory(CANDYSTORE_DB_TIMEOUT_MS="1000")
    event = envelope("github.pr.opened.v1")
    own.publish(event)
    own.wait_stored([event["event_id"]])
    name = own.database_url.rsplit("/", 1)[1].split("?")[0]
    admin = database_url(backend.database_url, "postgres")
    after = "2020-01-01T00:00:00.000000Z"

    def set_connections(allowed: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
            if not allowed:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
                )

    set_connections(False)
    try:
        closed = asyncio.run(_closed(_ws_url(own, after=after)))
    finally:
        set_connections(True)
    assert closed.rcvd is not None and closed.rcvd.code == 1011, f"closed with {closed.rcvd}"
    assert closed.rcvd.reason == f"database unavailable; resume with ?after={after}"
