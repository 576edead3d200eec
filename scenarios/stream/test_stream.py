"""``WS /events/stream`` black-box (SPEC §4 "Stream"): order, no loss through a burst, resume, filters,
hostile filters and garbage frames. Events go in through Bloodbank (or raw into the exchange for event types
Bloodbank refuses); other traffic of the run may interleave, so each check looks at its own events only.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from typing import Any

import httpx
import pytest
import websockets

from holyfields import make_envelope

pytestmark = [pytest.mark.security, pytest.mark.needs("stream")]  # the "stream" suite of harness verify

HOSTILE_FILTER = "#." * 31 + "zz"  # 32 words, 64 characters: inside the SPEC's bounds, matches nothing


def _batch(bloodbank: Any, events: list[dict]) -> None:
    for start in range(0, len(events), 1000):
        response = bloodbank.publish_batch(events[start : start + 1000])
        assert bloodbank.accepted(response), (
            f"batch publish answered {response.status_code}, not {bloodbank.success_statuses}: "
            f"{response.text[:300]}"
        )


async def _read_until(ws: Any, wanted: set[str], timeout: float, last: str | None = None) -> list[dict]:
    """Messages of ``wanted`` events in arrival order (others skipped) until all arrived (or ``last``
    did) or ``timeout``."""
    got: list[dict] = []
    seen: set[str] = set()
    try:
        async with asyncio.timeout(timeout):
            while not wanted <= seen and last not in seen:
                event = json.loads(await ws.recv())
                if event.get("event_id") in wanted:
                    got.append(event)
                    seen.add(event["event_id"])
    except TimeoutError:
        pass
    return got


def _check_order(got: list[dict], wanted: list[str], who: str) -> None:
    ids = [e["event_id"] for e in got]
    missing = set(wanted) - set(ids)
    assert not missing, f"{who}: {len(missing)} of {len(wanted)} events never streamed"
    assert len(ids) == len(set(ids)), f"{who}: events streamed more than once"
    stamps = [e.get("stored_at") for e in got]
    assert stamps == sorted(stamps), f"{who}: events not streamed in stored_at order"


def test_a_burst_reaches_every_prompt_subscriber_in_order(candystore: Any, bloodbank: Any) -> None:
    """A stream subscriber that reads promptly loses or reorders events during a burst of full batches."""
    events = [make_envelope("github.pr.opened.v1") for _ in range(2000)]
    wanted = [e["event_id"] for e in events]

    async def run() -> list[list[dict]]:
        sockets = [await websockets.connect(candystore.stream_url()) for _ in range(10)]
        try:
            readers = [asyncio.create_task(_read_until(ws, set(wanted), 60)) for ws in sockets]
            await asyncio.to_thread(_batch, bloodbank, events)
            return await asyncio.gather(*readers)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    for index, got in enumerate(asyncio.run(run())):
        _check_order(got, wanted, f"subscriber {index}")


def test_resume_from_the_last_stored_at_loses_and_repeats_nothing(candystore: Any, bloodbank: Any) -> None:
    """Reconnecting with ?after=<stored_at of the last event received> loses or repeats events."""
    first = [make_envelope("github.pr.opened.v1") for _ in range(20)]
    later = [make_envelope("github.pr.opened.v1") for _ in range(20)]
    wanted = [e["event_id"] for e in first + later]

    async def run() -> tuple[list[dict], list[dict]]:
        async with websockets.connect(candystore.stream_url()) as ws:
            await asyncio.to_thread(_batch, bloodbank, first)
            seen = (await _read_until(ws, {e["event_id"] for e in first}, 30))[:7]
        assert len(seen) == 7, "the stream did not deliver the first events"
        await asyncio.to_thread(_batch, bloodbank, later)
        async with websockets.connect(candystore.stream_url(after=seen[-1]["stored_at"])) as ws:
            rest = await _read_until(ws, set(wanted[7:]), 30)
        return seen, rest

    seen, rest = asyncio.run(run())
    _check_order(seen + rest, wanted, "resumed subscriber")


def test_wildcard_filters_select_exactly_their_event_types(candystore: Any, bloodbank: Any) -> None:
    """A topic filter with * or # lets through events it should not match, or misses some it should."""
    github = [make_envelope("github.pr.opened.v1") for _ in range(3)]
    others = [make_envelope("n8n.workflow.completed.v1") for _ in range(3)]
    marker = make_envelope("github.pr.opened.v1")

    async def run() -> list[dict]:
        async with websockets.connect(candystore.stream_url(event_type="*.pr.#")) as ws:
            await asyncio.to_thread(_batch, bloodbank, [*github, *others])
            await asyncio.to_thread(_batch, bloodbank, [marker])  # stored after the others
            mine = {e["event_id"] for e in [*github, *others, marker]}
            return await _read_until(ws, mine, 30, last=marker["event_id"])

    ids = {e["event_id"] for e in asyncio.run(run())}
    assert not ids & {e["event_id"] for e in others}, "the filter *.pr.# let n8n events through"
    assert {e["event_id"] for e in [*github, marker]} <= ids, "the filter *.pr.# missed github.pr events"


def test_a_hostile_filter_stalls_neither_the_api_nor_storage(
    candystore_url: str, inject: Any, candystore: Any
) -> None:
    """One client with a pathological filter freezes Candystore: /health slow, events stored late."""
    events = [make_envelope("ab.ab.ab.ab.ab.ab.v1", payload={}) for _ in range(3)]

    async def run() -> float:
        worst = 0.0
        async with (
            websockets.connect(candystore.stream_url(event_type=HOSTILE_FILTER)),
            httpx.AsyncClient(base_url=candystore_url, timeout=30) as http,
        ):
            for event in events:
                await asyncio.to_thread(inject, json.dumps(event).encode(), event["event_type"])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                began = time.monotonic()
                await http.get(candystore.surface.health.path)
                worst = max(worst, time.monotonic() - began)
                stored = [
                    (await http.get(candystore.surface.by_id.url(event_id=e["event_id"]))).status_code == 200
                    for e in events
                ]
                if all(stored):
                    return worst
                await asyncio.sleep(0.05)  # probe pacing
        raise AssertionError("events not stored within 30 s while a hostile filter was subscribed")

    worst = asyncio.run(run())
    assert worst < 2.0, f"/health took {worst:.1f} s while a hostile filter was subscribed"


@pytest.mark.parametrize("pattern", ["a" * 1000, ".".join(["#"] * 200)], ids=["1000-characters", "200-words"])
def test_oversized_filters_are_refused_with_a_reason(candystore: Any, pattern: str) -> None:
    """An unbounded stream filter is accepted (SPEC: longer filters are refused with a reason)."""

    async def run() -> Any:
        async with websockets.connect(candystore.stream_url(event_type=pattern)) as ws:
            try:
                async with asyncio.timeout(10):
                    await ws.recv()
            except websockets.ConnectionClosed as exc:
                return exc.rcvd
            except TimeoutError:
                return None
        return None

    try:
        closed = asyncio.run(run())
    except websockets.InvalidStatus as exc:  # refused at the handshake: acceptable when it says why
        assert 400 <= exc.response.status_code < 500
        return
    assert closed is not None, "an oversized filter was accepted (the stream stayed open)"
    assert closed.code == 1008 and closed.reason, f"closed with {closed.code} and no reason"


def test_garbage_frames_from_a_client_change_nothing(candystore: Any, bloodbank: Any) -> None:
    """Text or binary garbage sent by a stream client closes the stream or breaks the service."""
    event = make_envelope("github.pr.opened.v1")

    async def run() -> list[dict]:
        async with websockets.connect(candystore.stream_url()) as ws:
            for frame in (
                b"\x00\xff" * 5000,
                "not json {",
                json.dumps({"event_type": "#"}),
                str(uuid.uuid4()),
            ):
                await ws.send(frame)
            await asyncio.to_thread(_batch, bloodbank, [event])
            return await _read_until(ws, {event["event_id"]}, 30)

    got = asyncio.run(run())
    assert [e["event_id"] for e in got] == [event["event_id"]], "the stream stopped after garbage frames"
    assert candystore.http.get(candystore.surface.health.path, timeout=10).status_code == 200


#: a subscriber that stops reading falls this far behind: more than the reference's stream buffer (10,000)
#: beyond what the socket buffers hold (big events fill those first)
SLOW_SMALL_EVENTS = 10_500
SLOW_BIG_EVENTS = 100  # of about 100 kB each: ~10 MB, more than the kernel's socket buffers


def _small_receive_buffer() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    return sock


def test_a_subscriber_that_stops_reading_is_told_and_resumes_without_loss(
    candystore: Any, bloodbank: Any
) -> None:
    """A subscriber that stops reading loses events silently, is closed without a reason, cannot resume from
    the last event it got, or holds up the other subscribers."""
    big = [
        make_envelope(
            "agent.thread.prompt.v1",
            payload={"agent_name": "harness", "provider": "harness", "prompt": f"{n} " + "p" * 100_000},
        )
        for n in range(SLOW_BIG_EVENTS)
    ]
    small = [make_envelope("github.pr.opened.v1") for _ in range(SLOW_SMALL_EVENTS)]
    wanted = [e["event_id"] for e in big + small]
    wanted_set = set(wanted)
    url = candystore.stream_url()
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)

    async def run() -> tuple[list[dict], list[dict], Any, list[dict]]:
        raw = _small_receive_buffer()
        raw.settimeout(10)
        raw.connect((host, int(port)))
        raw.setblocking(False)
        async with (
            # no compression: the repetitive big events must take their full size in the socket buffers
            websockets.connect(url, sock=raw, max_queue=1, max_size=None, compression=None) as slow,
            websockets.connect(url, max_size=None) as prompt,
        ):
            reader = asyncio.create_task(_read_until(prompt, wanted_set, 120))
            await asyncio.to_thread(_batch, bloodbank, big)
            await asyncio.to_thread(_batch, bloodbank, small)
            prompt_got = await reader  # every event is stored and streamed by now
            got: list[dict] = []
            closed = None
            try:
                async with asyncio.timeout(60):
                    while len(got) < len(wanted):
                        event = json.loads(await slow.recv())
                        if event.get("event_id") in wanted_set:
                            got.append(event)
            except websockets.ConnectionClosed as exc:
                closed = exc
        resumed: list[dict] = []
        if closed is not None and got:
            async with websockets.connect(
                candystore.stream_url(after=got[-1]["stored_at"]), max_size=None
            ) as ws:
                resumed = await _read_until(ws, wanted_set - {e["event_id"] for e in got}, 60)
        return prompt_got, got, closed, resumed

    prompt_got, got, closed, resumed = asyncio.run(run())
    print(f"\nstalled subscriber: {len(got)} events, then {closed.rcvd if closed else 'kept open'}")
    _check_order(prompt_got, wanted, "the prompt subscriber beside a stalled one")
    if closed is None:
        _check_order(got, wanted, "the subscriber that stopped reading (kept open)")
        return
    assert closed.rcvd is not None and closed.rcvd.reason, (
        f"the subscriber that stopped reading was closed ({closed.rcvd}) without a reason saying why"
    )
    assert got, f"the stalled subscriber got no event before it was closed: {closed.rcvd}"
    _check_order(got + resumed, wanted, f"the subscriber resumed after {got[-1]['stored_at']}")
