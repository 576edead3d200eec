"""Candystore stream fan-out: subscribers x events/s delivered through bursts, on a private local backend.

For each subscriber count, ``--subscribers`` WebSocket clients connect to ``WS /events/stream`` and read
promptly; a burst of ``--events`` envelopes (default 2,000: two maximum-size batches) is published at once
into the Candystore queue. Measured per run: events delivered to each subscriber (and how many were closed),
events/s per subscriber (its events / first-to-last receive time), and the lag stored_at → received (p50,
p95, max) over every delivered event.

    python bench/stream_fanout.py                        # writes bench/results/stream_fanout.json
    python bench/stream_fanout.py --subscribers 1 20 --events 1000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._common import machine, write_result  # noqa: E402


def _stored_at(message: str) -> float:
    """``stored_at`` of a streamed event: its last member (see Candystore's codec), parsed cheaply."""
    tail = message[message.rindex('"stored_at":"') + 13 : -2]
    return datetime.fromisoformat(tail.replace("Z", "+00:00")).timestamp()


async def _run(url: str, amqp_url: str, exchange: str, subscribers: int, events: int) -> dict[str, Any]:
    import websockets

    from bench.candystore import _envelope, _publish_backlog

    received: list[list[tuple[float, str]]] = [[] for _ in range(subscribers)]
    closed: list[str] = []

    async def read(index: int, ws: Any) -> None:
        got = received[index]
        try:
            while len(got) < events:
                message = await ws.recv()
                got.append((time.time(), message))
        except websockets.ConnectionClosed as exc:
            closed.append(f"{exc.rcvd.code if exc.rcvd else '?'} {exc.rcvd.reason if exc.rcvd else ''}")

    sockets = [await websockets.connect(url, max_size=2**22) for _ in range(subscribers)]
    try:
        readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
        began = time.monotonic()
        await _publish_backlog(amqp_url, exchange, [_envelope() for _ in range(events)])
        published = time.monotonic() - began
        try:
            await asyncio.wait_for(asyncio.gather(*readers), timeout=120)
        except TimeoutError:
            pass
        elapsed = time.monotonic() - began
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    lags = sorted(at - _stored_at(m) for got in received for at, m in got)
    rates = [
        len(got) / (got[-1][0] - got[0][0]) if len(got) > 1 and got[-1][0] > got[0][0] else 0.0
        for got in received
    ]
    delivered = [len(got) for got in received]

    def pct(q: float) -> float:
        return round(1000 * lags[min(len(lags) - 1, int(q * len(lags)))], 1) if lags else 0.0

    return {
        "subscribers": subscribers,
        "events": events,
        "delivered_min": min(delivered),
        "delivered_total": sum(delivered),
        "all_delivered": all(d == events for d in delivered),
        "closed": closed,
        "events_per_s_per_subscriber": {
            "min": round(min(rates), 1),
            "median": round(statistics.median(rates), 1),
        },
        "aggregate_events_per_s": round(sum(delivered) / elapsed, 1),
        "lag_ms": {"p50": pct(0.50), "p95": pct(0.95), "max": pct(1.0)},
        "publish_seconds": round(published, 2),
        "seconds": round(elapsed, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 5, 20, 50])
    parser.add_argument("--events", type=int, default=2000, help="burst size (queue max-length 10,000)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "stream_fanout.json")
    args = parser.parse_args(argv)
    if not 1 <= args.events <= 9500:
        parser.error("--events must be 1..9500 (the queue holds at most 10,000 messages)")
    if any(n < 1 or n > 500 for n in args.subscribers):
        parser.error("--subscribers must be 1..500")

    from bench.candystore import Pipeline
    from harness.backends import create_backend

    began = time.monotonic()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp, create_backend("local") as backend:
        pipe = Pipeline("candystore", backend, Path(tmp))
        pipe.start()
        try:
            url = pipe.proc.url.replace("http://", "ws://") + "/events/stream"
            for n in args.subscribers:
                run = asyncio.run(_run(url, backend.amqp_url, pipe.topology.exchange, n, args.events))
                runs.append(run)
                print(
                    f"{n} subscribers x {args.events} events: delivered min {run['delivered_min']}, "
                    f"{run['events_per_s_per_subscriber']['median']:.0f} events/s per subscriber, "
                    f"lag p95 {run['lag_ms']['p95']} ms, closed {len(run['closed'])}",
                    flush=True,
                )
        finally:
            pipe.stop()
    result = {
        "benchmark": "candystore stream fan-out (WS /events/stream) through a burst",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "settings": {"events_per_burst": args.events, "stream_queue_size": 10_000},
        "runs": runs,
        "goals": {
            ">= 20 prompt subscribers through the burst, none dropped": all(
                r["all_delivered"] for r in runs if r["subscribers"] <= 20
            )
        },
        "duration_s": round(time.monotonic() - began, 1),
    }
    write_result(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
