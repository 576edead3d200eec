"""End-to-end benchmark, HTTP publish -> stored: the reference stack against a minimal pipeline, one run.

    python -m bench.pipeline [--seconds 4] [--latency-seconds 8] [--out bench/results/pipeline.json]

Two pipelines on one private backend (local RabbitMQ + PostgreSQL, loopback only), each with its own exchange,
queue and database:

- reference: Bloodbank (validation, completion, confirms, metrics) -> RabbitMQ -> Candystore (validation,
  batching, commit, ack);
- minimal: a bare FastAPI endpoint that publishes the body with confirms (``bench.bloodbank``'s baseline) ->
  RabbitMQ -> an aio-pika consumer doing batched ``INSERT … jsonb`` + commit + ack (``bench.candystore``'s).

Phase 1 (throughput): as many ``POST /events`` (each a fresh event) as 16 keep-alive connections get through
in ``--seconds``; the end-to-end rate is the accepted events over the span from the first to the last
``stored_at``.
Phase 2 (latency): both pipelines at the same constant rate, half of the reference's end-to-end rate;
each event's ``timestamp`` is its send time, so ``stored_at - timestamp`` is publish -> stored.
Goals: throughput >= 0.8 x minimal, p99 <= 2 x minimal (SPEC §5 asks p99 < 500 ms of the reference).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._common import machine, post, write_result  # noqa: E402
from bench.bloodbank import _baseline_server  # noqa: E402
from bench.candystore import Pipeline, _envelope  # noqa: E402
from harness.backends import create_backend, free_port  # noqa: E402
from harness.services import ServiceProcess, service_env  # noqa: E402

CONNECTIONS = 16
GOALS = {"throughput_ratio_min": 0.8, "p99_ratio_max": 2.0}


async def _drive(port: int, seconds: float, connections: int, rate: float | None = None) -> int:
    """``POST /events`` over keep-alive connections for ``seconds``: as fast as answers come, or at a constant
    ``rate`` (events/s, all connections together). Every body is a fresh event stamped at its send time."""
    interval = connections / rate if rate else 0.0
    sent = 0

    async def worker(offset: float) -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        began = time.perf_counter() + offset
        k = 0
        try:
            while True:
                due = began + k * interval
                if (due if rate else time.perf_counter()) - began > seconds:
                    return
                delay = due - time.perf_counter()
                if rate and delay > 0:
                    await asyncio.sleep(delay)
                status = await post(reader, writer, "/events", _envelope())
                if status != 202:
                    raise RuntimeError(f"publish answered {status}")
                sent += 1
                k += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(i / rate if rate else 0.0) for i in range(connections)))
    return sent


def _e2e_rate(pipe: Pipeline, accepted: int) -> float:
    pipe.wait_count(accepted, timeout=120)
    span = pipe.sql(f"SELECT extract(epoch FROM max(stored_at) - min(stored_at)) FROM {pipe.table}")[0]
    return round(accepted / max(float(span), 1e-6), 1)


def _latency(pipe: Pipeline, sent: int) -> dict[str, float]:
    pipe.wait_count(sent, timeout=120)
    p50, p99, worst = pipe.sql(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d),"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY d),"
        f" max(d) FROM (SELECT extract(epoch FROM stored_at - {pipe.ts_sql}) * 1000 AS d FROM {pipe.table}) x"
    )
    return {
        "events": sent,
        "p50_ms": round(float(p50), 2),
        "p99_ms": round(float(p99), 2),
        "max_ms": round(float(worst), 2),
    }


def run(seconds: float, latency_seconds: float, out: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as logs, create_backend("local") as backend:
        pipes = {
            "reference": Pipeline("candystore", backend, Path(logs)),
            "minimal": Pipeline("baseline", backend, Path(logs)),
        }
        bb_port = free_port()
        bloodbank = ServiceProcess(
            name="bloodbank",
            env=service_env("bloodbank", backend, bb_port),
            port=bb_port,
            log=Path(logs) / "bloodbank.log",
            extra_env={**pipes["reference"].topology.env(), "BLOODBANK_LOG_LEVEL": "warning"},
        )
        base_port = free_port()
        baseline = _baseline_server(
            base_port, backend.amqp_url, pipes["minimal"].topology.exchange, Path(logs) / "baseline.log"
        )
        ports = {"reference": bb_port, "minimal": base_port}
        result: dict[str, Any] = {"throughput": {}, "latency": {}}
        try:
            for pipe in pipes.values():
                pipe.start()  # the consumer declares its queue before anything is published
            bloodbank.start()
            baseline.start()
            for name in ("minimal", "reference"):
                port = ports[name]
                pipes[name].truncate()
                began = time.perf_counter()
                accepted = asyncio.run(_drive(port, seconds, CONNECTIONS))
                http_rate = round(accepted / (time.perf_counter() - began), 1)
                pipes[name].wait_count(accepted, timeout=120)
                result["throughput"][name] = {
                    "accepted": accepted,
                    "http_events_per_s": http_rate,
                    "events_per_s": _e2e_rate(pipes[name], accepted),
                }
            rate = round(result["throughput"]["reference"]["events_per_s"] / 2, 1)
            for name in ("minimal", "reference"):
                pipes[name].truncate()
                sent = asyncio.run(_drive(ports[name], latency_seconds, 8, rate))
                result["latency"][name] = {"rate_per_s": rate, **_latency(pipes[name], sent)}
        finally:
            bloodbank.stop()
            baseline.stop()
            for pipe in pipes.values():
                pipe.stop()
    ref, mini = result["throughput"]["reference"], result["throughput"]["minimal"]
    result["throughput_ratio"] = round(ref["events_per_s"] / mini["events_per_s"], 3)
    result["p50_ratio"] = round(
        result["latency"]["reference"]["p50_ms"] / max(result["latency"]["minimal"]["p50_ms"], 1e-6), 2
    )
    result["p99_ratio"] = round(
        result["latency"]["reference"]["p99_ms"] / max(result["latency"]["minimal"]["p99_ms"], 1e-6), 2
    )
    result["goals"] = {
        **GOALS,
        "throughput_met": result["throughput_ratio"] >= GOALS["throughput_ratio_min"],
        "p99_met": result["p99_ratio"] <= GOALS["p99_ratio_max"],
    }
    result = {
        "benchmark": "pipeline publish -> stored",
        "machine": machine(),
        "settings": {"seconds": seconds, "latency_seconds": latency_seconds, "http_connections": CONNECTIONS},
        **result,
    }
    write_result(out, result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the throughput phase")
    parser.add_argument("--latency-seconds", type=float, default=8.0, help="length of the latency phase")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pipeline.json")
    args = parser.parse_args(argv)
    if not 0.5 <= args.seconds <= 6:
        parser.error("--seconds must be 0.5..6 (the queues hold at most 10,000 messages)")
    result = run(args.seconds, args.latency_seconds, args.out)
    t, lat = result["throughput"], result["latency"]
    print(
        f"throughput  reference {t['reference']['events_per_s']} ev/s"
        f"  minimal {t['minimal']['events_per_s']} ev/s"
        f"  ratio {result['throughput_ratio']} (goal >= {GOALS['throughput_ratio_min']})"
    )
    print(
        f"latency @ {lat['reference']['rate_per_s']} ev/s  reference p50 {lat['reference']['p50_ms']} ms"
        f" p99 {lat['reference']['p99_ms']} ms  minimal p50 {lat['minimal']['p50_ms']} ms"
        f" p99 {lat['minimal']['p99_ms']} ms"
        f"  p99 ratio {result['p99_ratio']} (goal <= {GOALS['p99_ratio_max']})"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
