"""Envelope validation and JSON parsing, measured side by side.

    python -m bench.validate [--out bench/results/validate.json] [--seconds 0.2]

For every validator: µs per call on a valid ~1 KB envelope and on an invalid one, and whether it actually
rejects malformed uuids and date-times with the contract schemas (``enforces_*``) and with a bare
``format`` keyword (``format_only``, the reason the schemas add patterns). The registry's hot path
(``registry.is_valid``) and its full error list (``registry.validate``) are measured too, as are
``json.loads`` and ``orjson.loads``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from harness.corpus import valid_envelopes
from holyfields import FAST_BACKENDS, registry
from holyfields._validate import compile_fast

SAMPLE = "trace-context-full"  # fireflies.transcript.ready.v1 with every optional part, about 1 KB
BAD_DATE_TIMES = ["2025-01-15T09:30:00", "2024-13-01T00:00:00Z", "2025-01-15", "", "2016-12-31T23:59:60Z"]


def per_call_us(func: Callable[[], object], seconds: float) -> float:
    """Best-of-5 µs per call, each round long enough to last about ``seconds``."""
    timer = timeit.Timer(func)
    number, elapsed = timer.autorange()
    number = max(1, int(number * seconds / max(elapsed, 1e-9)))
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


def _replaced(envelope: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(envelope)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _probes(envelope: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    uuids = [
        _replaced(envelope, ("event_id",), "abc"),
        _replaced(envelope, ("correlation_ids",), ["nope"]),
        _replaced(envelope, ("event_id",), "{" + envelope["event_id"] + "}"),
    ]
    date_times = [_replaced(envelope, ("timestamp",), value) for value in BAD_DATE_TIMES]
    return uuids, date_times


def _format_only(backend: str) -> dict[str, bool]:
    """Does the engine reject bad values when the schema says only ``format``?"""
    uuid_check = compile_fast({"type": "string", "format": "uuid"}, backend)
    date_time_check = compile_fast({"type": "string", "format": "date-time"}, backend)
    return {"uuid": not uuid_check("abc"), "date_time": not date_time_check("2025-01-15T09:30:00")}


def machine() -> dict[str, Any]:
    versions = {}
    for package in ("jsonschema", "fastjsonschema", "jsonschema-rs", "orjson"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "versions": versions,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def run(seconds: float = 0.2) -> dict[str, Any]:
    """Measure every validator; the result is what ``--out`` writes."""
    reg = registry()
    envelope = dict(valid_envelopes())[SAMPLE]
    invalid = _replaced(envelope, ("event_id",), "abc")
    schema = reg.event_schema(envelope["event_type"])
    bad_uuids, bad_date_times = _probes(envelope)

    checks: dict[str, Callable[[object], bool]] = {name: compile_fast(schema, name) for name in FAST_BACKENDS}
    checks["registry.is_valid"] = reg.is_valid
    checks["registry.validate"] = lambda value: not reg.validate(value)

    results: dict[str, Any] = {}
    for name, check in checks.items():
        if not check(envelope) or check(invalid):
            raise RuntimeError(f"{name} misclassifies the samples: the measurement would be meaningless")
        entry = {
            "valid_us": round(per_call_us(lambda check=check: check(envelope), seconds), 3),
            "invalid_us": round(per_call_us(lambda check=check: check(invalid), seconds), 3),
            "enforces_uuid": not any(check(probe) for probe in bad_uuids),
            "enforces_date_time": not any(check(probe) for probe in bad_date_times),
        }
        if name in FAST_BACKENDS:
            entry["format_only"] = _format_only(name)
        results[name] = entry
    results["jsonschema"]["note"] = "the detailed validator; is_valid() without building the error list"
    results["registry.validate"]["note"] = "fast verdict; on failure the full issue list from jsonschema"

    body = orjson.dumps(envelope)
    enforcing = [
        name
        for name in FAST_BACKENDS
        if results[name]["enforces_uuid"] and results[name]["enforces_date_time"]
    ]
    fastest = min(enforcing, key=lambda name: results[name]["valid_us"])
    return {
        "sample": {"name": SAMPLE, "event_type": envelope["event_type"], "bytes": len(body)},
        "validators": results,
        "parse": {
            "json_us": round(per_call_us(lambda: json.loads(body), seconds), 3),
            "orjson_us": round(per_call_us(lambda: orjson.loads(body), seconds), 3),
        },
        "chosen": reg.fast_backend,
        "fastest_enforcing": fastest,
        "machine": machine(),
    }


def render(report: dict[str, Any]) -> str:
    """A plain-text table of a report."""
    lines = [f"sample: {report['sample']['name']} ({report['sample']['bytes']} bytes)", ""]
    lines.append(
        f"{'validator':<20} {'valid µs':>10} {'invalid µs':>11}  uuid  date-time  format-only(uuid,dt)"
    )
    for name, entry in report["validators"].items():
        only = entry.get("format_only")
        only_text = f"{only['uuid']!s:>5},{only['date_time']!s:>5}" if only else "-"
        lines.append(
            f"{name:<20} {entry['valid_us']:>10.2f} {entry['invalid_us']:>11.2f}  "
            f"{entry['enforces_uuid']!s:<5} {entry['enforces_date_time']!s:<10} {only_text}"
        )
    parse = report["parse"]
    lines += ["", f"parse: json {parse['json_us']:.2f} µs, orjson {parse['orjson_us']:.2f} µs"]
    lines.append(f"chosen: {report['chosen']} (fastest enforcing: {report['fastest_enforcing']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.validate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("bench/results/validate.json"), help="JSON report path"
    )
    parser.add_argument("--seconds", type=float, default=0.2, help="time per measurement round")
    args = parser.parse_args(argv)
    report = run(args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(render(report))
    print(f"\nwrote {args.out}")
    if report["chosen"] != report["fastest_enforcing"]:
        print(
            f"warning: {report['fastest_enforcing']} was fastest here, the registry uses {report['chosen']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
