"""Candystore ingest benchmark against a minimal baseline pipeline, on a private local backend.

Measured for each pipeline in the same run, on the same servers:

* **sustained ingest** (events/s): a backlog of ``--events`` envelopes is published while the pipeline is
  stopped, then the pipeline is started and drains it; rate = events / (last - first ``stored_at``).
  Repeated ``--rounds`` times, median reported.
* **publish → stored latency** p50/p99 at half the maximum rate (half the lower of the two medians, the
  same rate for both, in alternating slices): envelopes carry their publish time as ``timestamp``;
  latency = ``stored_at`` minus it.

The baseline is what every event store needs at least: an aio-pika consumer, a batched insert
(event_id + jsonb body), commit, ack; no validation, no extra columns or indexes.

    python bench/candystore.py                 # writes bench/results/candystore.json
    python bench/candystore.py --events 4000 --rate-seconds 5 --rounds 1   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._common import machine, write_result  # noqa: E402

PREFETCH, BATCH, LINGER_MS = 1000, 500, 5
EVENT_TYPE = "github.pr.opened.v1"


# --- the baseline pipeline (a child process: python bench/candystore.py --baseline-worker) ----------------
async def baseline_worker(amqp_url: str, database_url: str, exchange_name: str, queue_name: str) -> None:
    """aio-pika consumer + batched insert + commit + ack; no validation."""
    import aio_pika
    import psycopg

    from holyfields.topology import Topology

    conn = await aio_pika.connect_robust(amqp_url)
    channel = await conn.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(queue_name, durable=True, arguments=Topology().queue_arguments())
    await queue.bind(exchange, "#")
    db = await psycopg.AsyncConnection.connect(database_url)
    await db.execute(
        "CREATE TABLE IF NOT EXISTS baseline_events (event_id uuid PRIMARY KEY, body jsonb NOT NULL,"
        " stored_at timestamptz NOT NULL DEFAULT clock_timestamp())"
    )
    await db.commit()
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    await queue.consume(inbox.put)
    print("ready", flush=True)
    while True:
        batch = [await inbox.get()]
        deadline = time.monotonic() + LINGER_MS / 1000
        while len(batch) < BATCH:
            remaining = deadline - time.monotonic()
            if not inbox.empty():
                batch.append(inbox.get_nowait())
                continue
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(inbox.get(), remaining))
            except TimeoutError:
                break
        await db.execute(
            "INSERT INTO baseline_events (event_id, body) SELECT (b ->> 'event_id')::uuid, b"
            " FROM unnest(%s::jsonb[]) AS b ON CONFLICT DO NOTHING",
            [[m.body.decode() for m in batch]],
        )
        await db.commit()
        await max(batch, key=lambda m: m.delivery_tag).ack(multiple=True)


# --- driver -----------------------------------------------------------------------------------------------
_TEMPLATE: bytes | None = None


def _envelope() -> bytes:
    """A valid envelope with a fresh id and ``timestamp`` = now (cheap: a template with two substitutions)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        from holyfields import make_envelope

        _TEMPLATE = json.dumps(make_envelope(EVENT_TYPE, event_id="@ID@", timestamp="@TS@")).encode()
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
    return _TEMPLATE.replace(b"@ID@", str(uuid.uuid4()).encode()).replace(b"@TS@", moment)


class Pipeline:
    """One pipeline under test: its topology, database, process, and the table it stores into."""

    def __init__(self, name: str, backend: Any, log_dir: Path) -> None:

        from harness.backends import run_id
        from harness.janitor import create_database, database_url

        self.name = name
        self.backend = backend
        self.topology = backend.topology.prefixed(f"bench-{name}-{run_id()}.")
        dbname = f"bench_{name}_{run_id()}"
        self.database_url = create_database(database_url(backend.database_url, "postgres"), dbname)
        self.log_dir = log_dir
        self.table = "events" if name == "candystore" else "baseline_events"
        self.ts_sql = '"timestamp"' if name == "candystore" else "(body ->> 'timestamp')::timestamptz"
        self.proc: Any = None

    def start(self) -> None:
        from harness.backends import free_port
        from harness.launch import ManagedProcess, log_says
        from harness.services import ServiceProcess, service_env

        if self.name == "candystore":
            port = free_port()
            env = service_env("candystore", self.backend, port)
            env.update(self.topology.env())
            env.update(
                CANDYSTORE_DATABASE_URL=self.database_url,
                CANDYSTORE_PREFETCH=str(PREFETCH),
                CANDYSTORE_BATCH_SIZE=str(BATCH),
                CANDYSTORE_BATCH_LINGER_MS=str(LINGER_MS),
                CANDYSTORE_LOG_LEVEL="warning",
            )
            self.proc = ServiceProcess(
                name="candystore",
                env=env,
                port=port,
                log=self.log_dir / "candystore.log",
            )
        else:
            log = self.log_dir / "baseline.log"
            argv = [
                sys.executable,
                __file__,
                "--baseline-worker",
                self.backend.amqp_url,
                self.database_url,
                self.topology.exchange,
                self.topology.queue,
            ]
            # the worker prints "ready" once it consumes
            self.proc = ManagedProcess("baseline worker", argv, dict(os.environ), log, log_says(log, "ready"))
        self.proc.start()  # returns once ready (Candystore: /readyz 200)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        self.proc = None

    def sql(self, query: str) -> Any:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return conn.execute(query).fetchone()

    def count(self) -> int:
        return int(self.sql(f"SELECT count(*) FROM {self.table}")[0])

    def wait_count(self, n: int, timeout: float) -> None:
        from harness.backends import wait_until

        wait_until(
            lambda: self.count() >= n, timeout=timeout, interval=0.1, describe=f"{self.name}: {n} stored"
        )

    def truncate(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(f"TRUNCATE {self.table}")


async def _publish_backlog(amqp_url: str, exchange_name: str, bodies: list[bytes]) -> None:
    import aio_pika

    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(exchange_name)
        for start in range(0, len(bodies), 500):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            b, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, content_type="application/json"
                        ),
                        EVENT_TYPE,
                    )
                    for b in bodies[start : start + 500]
                )
            )


async def _publish_paced(amqp_url: str, exchange_name: str, rate: float, seconds: float) -> int:
    """Publish fresh envelopes (timestamp = publish time) at ``rate``/s for ``seconds``; returns the count.

    No publisher confirms here: waiting for them would put the publisher's own queueing into the latency.
    """
    import aio_pika

    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel(publisher_confirms=False)
        exchange = await channel.get_exchange(exchange_name)
        sent = 0
        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                message = aio_pika.Message(
                    _envelope(),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    content_type="application/json",
                )
                await exchange.publish(message, EVENT_TYPE, mandatory=False)
                sent += 1
            await asyncio.sleep(0.002)
        return sent


def drain(pipe: Pipeline, events: int) -> float:
    """Events/s of draining a backlog of ``events`` (first to last commit)."""
    pipe.stop()
    pipe.truncate()
    asyncio.run(
        _publish_backlog(pipe.backend.amqp_url, pipe.topology.exchange, [_envelope() for _ in range(events)])
    )
    pipe.start()
    pipe.wait_count(events, timeout=120)
    span = pipe.sql(f"SELECT extract(epoch FROM max(stored_at) - min(stored_at)) FROM {pipe.table}")[0]
    return events / max(float(span), 1e-6)


def latency(pipes: dict[str, Pipeline], rate: float, seconds: float, slices: int = 4) -> dict[str, dict]:
    """p50/p99 (ms) of publish time -> stored_at at a constant ``rate``, per pipeline.

    The time is cut into ``slices`` that alternate between the pipelines, so both see the same background
    load of the machine.
    """
    sent = dict.fromkeys(pipes, 0)
    for pipe in pipes.values():
        pipe.truncate()
    for index in range(slices):
        order = list(pipes) if index % 2 == 0 else list(reversed(pipes))
        for name in order:
            pipe = pipes[name]
            sent[name] += asyncio.run(
                _publish_paced(pipe.backend.amqp_url, pipe.topology.exchange, rate, seconds / slices)
            )
            pipe.wait_count(sent[name], timeout=120)
    result = {}
    for name, pipe in pipes.items():
        p50, p99, worst = pipe.sql(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d)"
            f" FROM (SELECT extract(epoch FROM stored_at - {pipe.ts_sql}) * 1000 AS d FROM {pipe.table}) x"
        )
        result[name] = {
            "rate_per_s": round(rate, 1),
            "events": sent[name],
            "p50_ms": round(float(p50), 2),
            "p99_ms": round(float(p99), 2),
            "max_ms": round(float(worst), 2),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=9000, help="backlog per drain (queue max-length is 10,000)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="drains per pipeline (median reported)")
    parser.add_argument("--rate-seconds", type=float, default=10.0, help="duration of the latency phase")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "candystore.json")
    parser.add_argument(
        "--baseline-worker", nargs=4, metavar=("AMQP", "DB", "EXCHANGE", "QUEUE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.baseline_worker:
        asyncio.run(baseline_worker(*args.baseline_worker))
        return 0
    if not 1 <= args.events <= 9500:
        parser.error("--events must be 1..9500 (the queue holds at most 10,000 messages)")

    import tempfile

    from harness.backends import create_backend

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-candystore-") as tmp, create_backend("local") as backend:
        pipes = {name: Pipeline(name, backend, Path(tmp)) for name in ("baseline", "candystore")}
        try:
            for pipe in pipes.values():
                pipe.start()  # declares the queue so the backlog is routable
            rates: dict[str, list[float]] = {name: [] for name in pipes}
            for round_no in range(args.rounds):
                order = list(pipes) if round_no % 2 == 0 else list(reversed(pipes))
                for name in order:
                    rates[name].append(round(drain(pipes[name], args.events), 1))
                    print(
                        f"round {round_no + 1}: {name} drained {args.events} at {rates[name][-1]:.0f}/s",
                        flush=True,
                    )
            medians = {name: statistics.median(values) for name, values in rates.items()}
            rate = min(medians.values()) / 2
            lat = latency(pipes, rate, args.rate_seconds)
            for name in pipes:
                print(
                    f"{name}: at {rate:.0f}/s p50 {lat[name]['p50_ms']} ms, p99 {lat[name]['p99_ms']} ms",
                    flush=True,
                )
        finally:
            for pipe in pipes.values():
                pipe.stop()
    result = {
        "benchmark": "candystore ingest vs baseline (aio-pika consumer, batched insert, ack; no validation)",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "settings": {
            "events_per_drain": args.events,
            "rounds": args.rounds,
            "prefetch": PREFETCH,
            "batch_size": BATCH,
            "batch_linger_ms": LINGER_MS,
            "latency_seconds": args.rate_seconds,
        },
        "throughput_events_per_s": {name: {"runs": rates[name], "median": medians[name]} for name in pipes},
        "latency_at_half_max_rate": lat,
        "ratios": {
            "throughput": round(medians["candystore"] / medians["baseline"], 3),
            "p99": round(lat["candystore"]["p99_ms"] / lat["baseline"]["p99_ms"], 3),
        },
        "goals": {
            "throughput >= 0.8 x baseline": medians["candystore"] >= 0.8 * medians["baseline"],
            "p99 <= 2 x baseline p99": lat["candystore"]["p99_ms"] <= 2 * lat["baseline"]["p99_ms"],
        },
        "duration_s": round(time.monotonic() - began, 1),
    }
    write_result(args.out, result)
    print(
        json.dumps(
            {
                "throughput": result["throughput_events_per_s"],
                "latency": lat,
                "ratios": result["ratios"],
                "goals": result["goals"],
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
