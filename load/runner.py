"""Headless load run: locust producers for a bounded time, then end-to-end latency and a verdict.

    python -m load.runner --bloodbank-url URL --candystore-url URL [--api-key K] [--amqp-url U --dlq Q]
                          [--users 10] [--rate 50] [--duration 15] [--out reports/load.json]

Locust must be imported before anything else (it patches the standard library for gevent).
"""

from __future__ import annotations

import locust  # noqa: F401 - first import: gevent monkey-patching  # isort: skip

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import gevent
import httpx
from locust.env import Environment

from load import locustfile
from load.thresholds import judge


def _stored_latencies(
    candystore_url: str, sample: list[tuple[str, float]], timeout: float
) -> tuple[list[float], int]:
    """Publish → stored latencies (ms) of the sampled events, and how many never showed up in time."""
    latencies: list[float] = []
    pending = dict(sample)
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=candystore_url, timeout=10) as client:
        while pending and time.monotonic() < deadline:
            for event_id, sent in list(pending.items()):
                response = client.get(f"/events/{event_id}")
                if response.status_code == 200:
                    stored_at = datetime.fromisoformat(response.json()["stored_at"].replace("Z", "+00:00"))
                    latencies.append(max(0.0, (stored_at.timestamp() - sent) * 1000))
                    del pending[event_id]
            if pending:
                time.sleep(0.2)  # poll interval while the consumer catches up
    return latencies, len(pending)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _dlq_size(amqp_url: str | None, dlq: str) -> float | None:
    if not amqp_url:
        return None
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return float(connection.channel().queue_declare(dlq, passive=True).method.message_count)
    except pika.exceptions.ChannelClosedByBroker:
        return None
    finally:
        if connection.is_open:
            connection.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.api_key:
        os.environ["HARNESS_API_KEY"] = args.api_key
    locustfile.BloodbankProducer.rate = args.rate
    env = Environment(user_classes=[locustfile.BloodbankProducer], host=args.bloodbank_url)
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.users)
    # The event loop's clock was cached when the hub started (before the imports above); without a refresh
    # the timer fires early by the time those took and the run is shorter than --duration.
    gevent.get_hub().loop.update_now()
    started = time.monotonic()
    gevent.spawn_later(args.duration, runner.quit)
    runner.greenlet.join()
    elapsed = time.monotonic() - started
    total = env.stats.total
    statuses = dict(locustfile.STATUSES)
    requests = total.num_requests
    published = len(locustfile.PUBLISHED)
    rejected = sum(n for code, n in statuses.items() if code in (400, 422))
    sample = locustfile.PUBLISHED[:: max(1, published // args.sample)][: args.sample]
    latencies, missing = _stored_latencies(args.candystore_url, sample, timeout=args.settle)
    measured = {
        "publish_success_rate": 100.0 * published / requests if requests else None,
        "validation_success_rate": 100.0 * (requests - rejected) / requests if requests else None,
        "storage_success_rate": 100.0 * len(latencies) / len(sample) if sample else None,
        "e2e_latency_p99_ms": _percentile(latencies, 0.99),
        "dlq_size": _dlq_size(args.amqp_url, args.dlq),
    }
    verdict = judge(measured)
    return {
        "config": {"users": args.users, "rate_per_user": args.rate, "duration_seconds": args.duration},
        "requests": requests,
        "published": published,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "elapsed_seconds": round(elapsed, 2),
        "throughput_rps": round(requests / elapsed, 1) if elapsed > 0 else None,
        "publish_latency_ms": {
            "p50": total.get_response_time_percentile(0.5),
            "p99": total.get_response_time_percentile(0.99),
        },
        "e2e_latency_ms": {
            "sampled": len(sample),
            "stored": len(latencies),
            "missing": missing,
            "p50": _percentile(latencies, 0.5),
            "p99": _percentile(latencies, 0.99),
        },
        "verdict": verdict,
        "passed": all(row["status"] in ("met", "not measured") for row in verdict),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"load run: {result['requests']} requests, {result['throughput_rps']} req/s, "
        f"verdict {'PASSED' if result['passed'] else 'FAILED'}",
        f"  {'SLI':44} {'value':>12}  {'SLO':>14}  status",
    ]
    for row in result["verdict"]:
        value = "-" if row["value"] is None else f"{row['value']:g} {row['unit']}"
        lines.append(f"  {row['sli']:44} {value:>12}  {row['slo']:>14}  {row['status']}")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bloodbank-url", required=True)
    parser.add_argument("--candystore-url", required=True)
    parser.add_argument("--api-key", default=os.environ.get("HARNESS_API_KEY"))
    parser.add_argument("--amqp-url", default=None, help="to read the DLQ size")
    parser.add_argument("--dlq", default="dlq.all")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s per user")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds (bounded: at most 600)")
    parser.add_argument("--sample", type=int, default=300, help="events sampled for end-to-end latency")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to wait for sampled events")
    parser.add_argument("--out", type=Path, default=Path("reports/load.json"))
    args = parser.parse_args(argv)
    args.duration = min(max(args.duration, 1.0), 600.0)
    if args.rate <= 0 or args.users < 1:
        parser.error("--rate must be > 0 requests/s and --users at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(render(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
