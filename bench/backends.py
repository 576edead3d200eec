"""Seconds until each backend is ready (both servers answer), and until it is torn down.

    python -m bench.backends [--runs 3] [--out bench/results/backends.json]

The external backend is measured against the machine's shared servers when they answer; docker when an
engine answers. Results are written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from bench._common import machine
from harness.backends import BackendError, DockerBackend, ExternalBackend, LocalBackend
from harness.backends._docker import docker_available

SHARED_AMQP = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
SHARED_DB = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _measure(factory, runs: int) -> dict[str, object]:
    ready, teardown = [], []
    for _ in range(runs):
        backend = factory()
        began = time.monotonic()
        try:
            backend.start()
        except BackendError as exc:
            backend.stop()
            return {"skipped": str(exc).splitlines()[0]}
        ready.append(time.monotonic() - began)
        began = time.monotonic()
        backend.stop()
        teardown.append(time.monotonic() - began)
    return {
        "runs": runs,
        "ready_seconds": {"min": min(ready), "median": statistics.median(ready), "max": max(ready)},
        "teardown_seconds": {
            "min": min(teardown),
            "median": statistics.median(teardown),
            "max": max(teardown),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/backends.json"))
    args = parser.parse_args()
    results: dict[str, object] = {"local": _measure(LocalBackend, args.runs)}
    results["external"] = _measure(
        lambda: ExternalBackend(amqp_url=SHARED_AMQP, database_url=SHARED_DB), args.runs
    )
    results["docker"] = (
        _measure(DockerBackend, args.runs) if docker_available() else {"skipped": "no Docker engine answers"}
    )
    out = {
        "benchmark": "backend start-up",
        "machine": machine(),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
