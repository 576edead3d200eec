"""Bloodbank publish throughput and latency, side by side with minimal baselines, in one run.

    python -m bench.bloodbank [--seconds 1.5] [--rounds 5] [--out bench/results/bloodbank.json]

Starts its own local backend (private RabbitMQ, loopback only) and measures, alternating round by round:

- single: ``POST /events`` of the reference Bloodbank (validation, completion, confirms, metrics, spans) vs a
  bare FastAPI endpoint that publishes the body with confirms and nothing else (same uvicorn settings);
- batch: ``POST /events/batch`` (1000 events per request) vs a bare pipelined aio-pika publisher (orjson +
  ``Message`` + ``exchange.publish`` with confirms, 1000 concurrent publishes per round trip).

Both sides publish to the same exchange, routed to one non-durable queue capped at 50,000 messages. The load
generator is a minimal keep-alive HTTP/1.1 client (asyncio streams), so that the client costs little CPU.
Goals: single >= 0.8 x baseline, batch >= 0.8 x bare publisher.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pika
from fastapi import FastAPI, Request, Response  # module level: the baseline's annotations must resolve

from bench._common import machine, post, write_result
from harness.backends import create_backend, free_port, run_id
from harness.launch import ManagedProcess, http
from harness.services import ServiceProcess, service_env
from holyfields import make_envelope

GOAL = 0.8
BATCH_SIZE = 1000
EVENT_TYPES = ("github.pr.opened.v1", "theboard.meeting.created.v1", "agent.thread.prompt.v1")


# --- the baseline server ---------------------------------------------------------------------------------
def serve_baseline(port: int, amqp_url: str, exchange_name: str) -> None:
    """A bare FastAPI endpoint: read the body, publish it with confirms, answer 202. No validation."""
    from contextlib import asynccontextmanager

    import aio_pika
    import uvicorn

    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        state["exchange"] = await channel.get_exchange(exchange_name)
        yield
        await connection.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.post("/events")
    async def publish(request: Request) -> Response:
        body = await request.body()
        data = orjson.loads(body)
        message = aio_pika.Message(
            body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=data["event_id"],
            content_type="application/json",
        )
        await state["exchange"].publish(message, data["event_type"], mandatory=True)
        return Response(
            orjson.dumps({"event_id": data["event_id"], "status": "published"}),
            202,
            media_type="application/json",
        )

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- load generation -------------------------------------------------------------------------------------
async def _http_worker(
    port: int,
    path: str,
    bodies: Sequence[bytes],
    start: int,
    until: float,
    latencies: list[float],
    outcome: dict[str, int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = start
    try:
        while time.perf_counter() < until:
            body = bodies[index % len(bodies)]
            index += 1
            began = time.perf_counter()
            status = await post(reader, writer, path, body)
            latencies.append(time.perf_counter() - began)
            outcome[str(status)] = outcome.get(str(status), 0) + 1
    finally:
        writer.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _http_load(
    port: int,
    pid: int,
    path: str,
    bodies: Sequence[bytes],
    seconds: float,
    concurrency: int,
    events_per_request: int,
) -> dict[str, Any]:
    # warm-up (connections, caches), then the measured window
    await asyncio.gather(
        *(_http_worker(port, path, bodies, i, time.perf_counter() + 0.3, [], {}) for i in range(concurrency))
    )
    latencies: list[float] = []
    outcome: dict[str, int] = {}
    cpu = _cpu_seconds(pid)
    began = time.perf_counter()
    await asyncio.gather(
        *(
            _http_worker(port, path, bodies, i * 7, began + seconds, latencies, outcome)
            for i in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - began
    return _summary(latencies, elapsed, events_per_request, outcome, _cpu_seconds(pid) - cpu)


async def _bare_batches(
    amqp_url: str, exchange_name: str, envelopes: Sequence[dict[str, Any]], seconds: float, concurrency: int
) -> dict[str, Any]:
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(exchange_name)

    async def one_batch() -> None:
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        orjson.dumps(e),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=e["event_id"],
                        content_type="application/json",
                    ),
                    e["event_type"],
                    mandatory=True,
                )
                for e in envelopes
            )
        )

    async def worker(until: float, latencies: list[float]) -> None:
        while time.perf_counter() < until:
            began = time.perf_counter()
            await one_batch()
            latencies.append(time.perf_counter() - began)

    try:
        await worker(time.perf_counter() + 0.3, [])
        latencies: list[float] = []
        cpu = time.process_time()
        began = time.perf_counter()
        await asyncio.gather(*(worker(began + seconds, latencies) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - cpu
    finally:
        await connection.close()
    return _summary(latencies, elapsed, len(envelopes), {"202": len(latencies)}, cpu)


def _summary(
    latencies: list[float], elapsed: float, per_request: int, outcome: dict[str, int], cpu: float
) -> dict[str, Any]:
    failed = {status: n for status, n in outcome.items() if status not in ("202",)}
    if failed:
        raise RuntimeError(f"the measured server answered errors: {failed} (of {len(latencies)} requests)")
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3) if ordered else 0.0

    return {
        "events_per_s": round(len(latencies) * per_request / elapsed, 1),
        "requests": len(latencies),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "cpu_us_per_event": round(cpu / max(1, len(latencies) * per_request) * 1e6, 1),
        "statuses": outcome,
    }


def _combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds (and every round, for the record)."""
    return {
        "events_per_s": round(statistics.median(r["events_per_s"] for r in runs), 1),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 3),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 3),
        "cpu_us_per_event": round(statistics.median(r["cpu_us_per_event"] for r in runs), 1),
        "rounds": runs,
    }


def _median_ratio(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> float:
    ratios = [
        a["events_per_s"] / b["events_per_s"] for a, b in zip(ours, theirs, strict=True) if b["events_per_s"]
    ]
    return round(statistics.median(ratios), 3) if ratios else 0.0


# --- the run -----------------------------------------------------------------------------------------------
def _baseline_server(port: int, amqp_url: str, exchange: str, log: Path) -> ManagedProcess:
    """The baseline server as a child process (same interpreter and uvicorn settings as Bloodbank)."""
    argv = [sys.executable, "-m", "bench.bloodbank", "--serve-baseline", str(port), amqp_url, exchange]
    return ManagedProcess(
        "baseline server", argv, dict(os.environ), log, http(f"http://127.0.0.1:{port}/healthz")
    )


def _declare_sink(amqp_url: str, exchange: str) -> None:
    """The main exchange and one capped, non-durable queue that takes every event (both sides route there)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", durable=True)
        channel.queue_declare(f"{exchange}.sink", arguments={"x-max-length": 50_000})
        channel.queue_bind(f"{exchange}.sink", exchange, "#")
    finally:
        connection.close()


def run(seconds: float, rounds: int, concurrency: int, out: Path) -> dict[str, Any]:
    envelopes = [make_envelope(EVENT_TYPES[i % len(EVENT_TYPES)]) for i in range(BATCH_SIZE)]
    singles = [orjson.dumps(e) for e in envelopes]
    batches = [orjson.dumps(envelopes)]
    single: dict[str, list[dict[str, Any]]] = {"bloodbank": [], "baseline": []}
    batch: dict[str, list[dict[str, Any]]] = {"bloodbank": [], "bare_publisher": []}
    with tempfile.TemporaryDirectory(prefix="bench-bloodbank-") as logs, create_backend("local") as backend:
        topology = backend.topology.prefixed(f"bench-{run_id()}.")
        _declare_sink(backend.amqp_url, topology.exchange)
        port = free_port()
        bloodbank = ServiceProcess(
            name="bloodbank",
            env=service_env("bloodbank", backend, port),
            port=port,
            log=Path(logs) / "bloodbank.log",
            extra_env={**topology.env(), "BLOODBANK_LOG_LEVEL": "warning"},
        )
        baseline_port = free_port()
        baseline = _baseline_server(
            baseline_port, backend.amqp_url, topology.exchange, Path(logs) / "baseline.log"
        )
        try:
            bloodbank.start()
            baseline.start()
            assert bloodbank.proc is not None and baseline.proc is not None
            ours, theirs = bloodbank.proc.pid, baseline.proc.pid
            for _ in range(rounds):  # alternate, so that both sides see the same background load
                single["baseline"].append(
                    asyncio.run(
                        _http_load(baseline_port, theirs, "/events", singles, seconds, concurrency, 1)
                    )
                )
                single["bloodbank"].append(
                    asyncio.run(_http_load(port, ours, "/events", singles, seconds, concurrency, 1))
                )
                batch["bare_publisher"].append(
                    asyncio.run(_bare_batches(backend.amqp_url, topology.exchange, envelopes, seconds, 2))
                )
                batch["bloodbank"].append(
                    asyncio.run(_http_load(port, ours, "/events/batch", batches, seconds, 2, BATCH_SIZE))
                )
        finally:
            bloodbank.stop()
            baseline.stop()
    result: dict[str, Any] = {
        "benchmark": "bloodbank publish",
        "machine": machine(),
        "settings": {
            "seconds_per_measurement": seconds,
            "rounds": rounds,
            "http_connections": concurrency,
            "batch_size": BATCH_SIZE,
            "batch_requests_in_flight": 2,
        },
        "single": {name: _combine(runs) for name, runs in single.items()},
        "batch": {name: _combine(runs) for name, runs in batch.items()},
    }
    for kind, other in (("single", "baseline"), ("batch", "bare_publisher")):
        # the machine may be shared: compare each round with its neighbour in time, take the median ratio
        result[kind]["ratio"] = _median_ratio(
            result[kind]["bloodbank"]["rounds"], result[kind][other]["rounds"]
        )
        # CPU per event of the measured server (or the bare publisher's process): less sensitive to other load
        mine, theirs_cpu = (
            result[kind]["bloodbank"]["cpu_us_per_event"],
            result[kind][other]["cpu_us_per_event"],
        )
        result[kind]["cpu_ratio"] = round(theirs_cpu / mine, 3) if mine else 0.0
    result["goals"] = {
        "single_ratio_min": GOAL,
        "batch_ratio_min": GOAL,
        "single_met": result["single"]["ratio"] >= GOAL,
        "batch_met": result["batch"]["ratio"] >= GOAL,
    }
    write_result(out, result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (medians reported)")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP connections for single publishes")
    parser.add_argument("--out", type=Path, default=Path("bench/results/bloodbank.json"))
    parser.add_argument(
        "--serve-baseline", nargs=3, metavar=("PORT", "AMQP_URL", "EXCHANGE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.serve_baseline:
        port, amqp_url, exchange = args.serve_baseline
        serve_baseline(int(port), amqp_url, exchange)
        return 0
    result = run(args.seconds, args.rounds, args.concurrency, args.out)
    for kind, other in (("single", "baseline"), ("batch", "bare_publisher")):
        ours, theirs = result[kind]["bloodbank"], result[kind][other]
        for name, row in (("bloodbank", ours), (other, theirs)):
            print(
                f"{kind:6} {name:15} {row['events_per_s']:>8.1f} ev/s  p50 {row['p50_ms']:>8.3f} ms"
                f"  p99 {row['p99_ms']:>8.3f} ms  {row['cpu_us_per_event']:>6.1f} µs CPU/event"
            )
        ratio, cpu_ratio = result[kind]["ratio"], result[kind]["cpu_ratio"]
        print(f"{kind:6} ratio {ratio:.2f} (goal {GOAL}), CPU ratio {cpu_ratio:.2f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
