"""Headless load run: an open-model mix of locust users for a bounded time, then every event accounted for.

    python -m load.runner --bloodbank-url URL --candystore-url URL [--amqp-url U] [--api-key K]
                          [--signing-keys id:secret] [--target-profile FILE]
                          [--rate 50] [--duration 20] [--mix http=70,batch=10,amqp=10,query=10]
                          [--stream-watchers 1] [--reports reports]

Writes ``REPORTS/load/``: ``summary.json``, locust's ``stats.csv`` / ``stats_history.csv`` / ``failures.csv``
and ``report.html``, and ``latency.svg``. Exit 0 when every measured SLO of SPEC §5 is met, 1 when one is
missed, 2 on bad options. Locust must be imported before anything else (it patches the standard library).
"""

from __future__ import annotations

import locust  # noqa: F401 - first import: gevent monkey-patching  # isort: skip

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import stats as locust_stats
from locust.env import Environment
from locust.html import get_html_report

from harness.ledger import DeadLetter, Ledger
from harness.loadplan import DEFAULT_MIX, LoadConfigError, parse_mix
from harness.profile import Profile, ProfileError
from holyfields.topology import Topology
from load import measure
from load.locustfile import STATE, RunConfig, user_classes
from load.plot import svg
from load.thresholds import judge, passed

#: seconds the in-flight requests get to finish after the schedule ends
DRAIN_SECONDS = 15.0


def _poll(condition: Any, timeout: float, interval: float = 0.05) -> bool:
    """Wait (cooperatively) until ``condition()`` is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        gevent.sleep(interval)
    return True


def _dead_letters(amqp_url: str, dlq: str, limit: int = 10_000) -> tuple[float | None, list[DeadLetter]]:
    """The DLQ's size and its messages, read without removing them (unacknowledged, requeued on close)."""
    if not amqp_url:
        return None, []
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        size = channel.queue_declare(dlq, passive=True).method.message_count
        letters = []
        for _ in range(min(size, limit)):
            method, props, body = channel.basic_get(dlq, auto_ack=False)
            if method is None:
                break
            letters.append(DeadLetter.from_message(method, props, body))
        return float(size), letters
    except pika.exceptions.ChannelClosedByBroker:
        return None, []
    finally:
        if connection.is_open:
            connection.close()  # the unacknowledged letters go back to the queue


def _locust_summary(env: Environment) -> dict[str, Any]:
    """Per-name request statistics of locust (times in ms)."""
    out = {}
    for (name, method), entry in sorted(env.stats.entries.items()):
        out[name] = {
            "type": method,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p99_ms": entry.get_response_time_percentile(0.99),
            "max_ms": round(entry.max_response_time or 0, 1),
        }
    return out


def _write_locust_outputs(env: Environment, writer: locust_stats.StatsCSVFileWriter, out: Path) -> None:
    """Final locust CSVs (stats.csv and friends, under the names users expect) and the HTML report."""
    writer.requests_csv_filehandle.seek(0)
    writer.requests_csv_filehandle.truncate()
    writer.requests_csv(writer.requests_csv_writer)
    writer.failures_csv_filehandle.seek(0)
    writer.failures_csv_filehandle.truncate()
    writer.failures_csv(writer.failures_csv_writer)
    writer.exceptions_csv_filehandle.seek(0)
    writer.exceptions_csv_filehandle.truncate()
    writer.exceptions_csv(writer.exceptions_csv_writer)
    writer.close_files()
    for kind in ("stats", "stats_history", "failures", "exceptions"):
        (out / f"locust_{kind}.csv").replace(out / f"{kind}.csv")
    (out / "report.html").write_text(get_html_report(env, show_download_link=False))


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.reports) / "load"
    out.mkdir(parents=True, exist_ok=True)
    profile = Profile.load(args.target_profile) if args.target_profile else Profile()
    topology = Topology.from_env(os.environ, base=profile.broker)
    config = RunConfig(
        bloodbank_url=args.bloodbank_url,
        candystore_url=args.candystore_url,
        amqp_url=args.amqp_url or "",
        api_key=args.api_key,
        signing_keys=args.signing_keys or "",
        rate=args.rate,
        mix=args.mix,
        stream_watchers=args.stream_watchers,
        profile=profile,
        topology=topology,
        autostart=False,
    )
    STATE.configure(config)
    classes = user_classes(config)
    env = Environment(user_classes=classes, stop_timeout=DRAIN_SECONDS)
    runner = env.create_local_runner()
    total_users = sum(cls.fixed_count for cls in classes)
    writer = locust_stats.StatsCSVFileWriter(
        env, locust_stats.PERCENTILES_TO_REPORT, str(out / "locust"), full_history=True
    )
    writer_greenlet = gevent.spawn(writer.stats_writer)
    history_greenlet = gevent.spawn(locust_stats.stats_history, runner)
    # The event loop's clock was cached when the hub started (before the imports above); refresh it so that
    # timers fire on time.
    gevent.get_hub().loop.update_now()
    runner.start(total_users, spawn_rate=total_users)
    spawned = _poll(lambda: runner.user_count >= total_users, timeout=30)
    watching = _poll(lambda: STATE.watchers_connected >= config.stream_watchers, timeout=15)
    start_wall, start = time.time(), time.monotonic()
    STATE.start(duration=args.duration)
    gevent.sleep(args.duration)  # the load itself: the pacers close their schedules at start + duration
    STATE.stop()
    drained = _poll(lambda: STATE.in_flight == 0, timeout=DRAIN_SECONDS)
    elapsed = time.monotonic() - start
    if config.stream_watchers:  # let the watchers see what is still on its way (bounded)
        _poll(lambda: all(e in STATE.seen_on_stream for e in STATE.accepted if STATE.accepted[e]), timeout=5)
    STATE.finish()
    runner.quit()
    gevent.sleep(0)
    locust_numbers = _locust_summary(env)
    writer_greenlet.kill()
    history_greenlet.kill()
    _write_locust_outputs(env, writer, out)

    attempted = list(STATE.sent)
    accepted = {e for e, ok in STATE.accepted.items() if ok}
    stored = (
        measure.wait_for_stored(
            args.candystore_url, STATE.run_id, accepted, surface=profile.candystore, timeout=args.settle
        )
        if args.candystore_url
        else {}
    )
    seen_wall = time.time()
    dlq_size, letters = _dead_letters(config.amqp_url, topology.dlq)
    ledger = Ledger(f"load {STATE.run_id}")
    for event_id in attempted:
        ledger.attempt(event_id, accepted=event_id in accepted)
    ledger.observe_stored({e: len(c) for e, c in stored.items()})
    ledger.observe_dead_letters(letters)
    ledger_verdict = ledger.verdict()

    latencies = measure.e2e_latencies(STATE.sent, {e: c for e, c in stored.items() if e in accepted})
    stream_latencies = {
        e: max(0.0, (t - STATE.sent[e][0]) * 1000) for e, t in STATE.seen_on_stream.items() if e in accepted
    }
    integrity, broken = measure.correlation_integrity(
        {c: p for c, p in STATE.parents.items() if c in accepted}, stored
    )
    stored_accepted = sum(1 for e in accepted if e in stored)
    measured = {
        "publish_success_rate": 100.0 * len(accepted) / len(attempted) if attempted else None,
        "storage_success_rate": 100.0 * stored_accepted / len(accepted) if accepted and stored else None,
        "validation_success_rate": (
            100.0 * (len(attempted) - STATE.invalid_rejections) / len(attempted) if attempted else None
        ),
        "e2e_latency_p99_ms": measure.percentile(list(latencies.values()), 0.99),
        "correlation_integrity": integrity,
        "dlq_size": dlq_size,
        "lost_events": float(ledger_verdict.lost) if stored or not accepted else None,
        "duplicated_events": float(ledger_verdict.duplicated) if stored or not accepted else None,
        "recovery_seconds": None,
    }
    verdict = judge(measured)
    amqp = locust_numbers.get("AMQP publish (confirmed)")
    result = {
        "run_id": STATE.run_id,
        "config": {
            "target_rate": args.rate,
            "duration_seconds": args.duration,
            "mix": config.mix.text(),
            "stream_watchers": config.stream_watchers,
            "users": {cls.__name__: cls.fixed_count for cls in classes},
            "target_profile": profile.source or None,
        },
        "target_rate": args.rate,
        "achieved_rate": round(len(accepted) / args.duration, 2),
        "attempted": len(attempted),
        "published": len(accepted),
        "stored": stored_accepted,
        "lost": ledger_verdict.lost,
        "duplicated": ledger_verdict.duplicated,
        "dead_lettered": ledger_verdict.dead_lettered,
        "elapsed_seconds": round(elapsed, 2),
        "started_at": start_wall,
        "settled_after_seconds": round(seen_wall - start_wall - args.duration, 2),
        "e2e_latency_ms": measure.summary(list(latencies.values()), len(accepted)),
        "stream_latency_ms": measure.summary(list(stream_latencies.values()), len(accepted)),
        "amqp_confirm_latency_ms": None
        if amqp is None
        else {k: amqp[k] for k in ("p50_ms", "p99_ms", "max_ms")},
        "schedule": {kind: pacer.stats.as_dict() for kind, pacer in STATE.pacers.items()},
        "statuses": STATE.statuses,
        "requests": locust_numbers,
        "correlation_broken_ids": broken,
        "ledger": ledger_verdict.as_dict(),
        "per_second": measure.per_second(STATE.sent, accepted, latencies, start_wall),
        "warnings": [
            text
            for ok, text in (
                (spawned, f"only {runner.user_count} of {total_users} users started"),
                (
                    watching,
                    f"only {STATE.watchers_connected} of {config.stream_watchers} stream watchers connected",
                ),
                (
                    drained,
                    f"{STATE.in_flight} requests still in flight {DRAIN_SECONDS:g} s after the schedule",
                ),
            )
            if not ok
        ],
        "verdict": verdict,
        "passed": passed(verdict),
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (out / "latency.svg").write_text(svg(result["per_second"], args.rate))
    return result


def render(result: dict[str, Any]) -> str:
    e2e = result["e2e_latency_ms"]
    late = sum(s["late"] for s in result["schedule"].values())
    dropped = sum(s["dropped"] for s in result["schedule"].values())
    lines = [
        f"load run: target {result['target_rate']:g} events/s, achieved {result['achieved_rate']:g} "
        f"({result['published']} published of {result['attempted']}, {late} late, {dropped} dropped "
        f"iterations), verdict {'PASSED' if result['passed'] else 'FAILED'}",
        f"  publish → stored: p50 {e2e['p50']} ms, p95 {e2e['p95']} ms, p99 {e2e['p99']} ms, "
        f"max {e2e['max']} ms "
        f"({e2e['measured']} events, {e2e['measured_percent']} %); stored {result['stored']}, "
        f"lost {result['lost']}, duplicated {result['duplicated']}",
    ]
    if result["amqp_confirm_latency_ms"]:
        confirm = result["amqp_confirm_latency_ms"]
        lines.append(f"  AMQP confirm: p50 {confirm['p50_ms']} ms, p99 {confirm['p99_ms']} ms")
    lines.append(f"  {'SLI':58} {'value':>14}  {'SLO':>14}  status")
    for row in result["verdict"]:
        value = "-" if row["value"] is None else f"{row['value']:g} {row['unit']}"
        lines.append(f"  {row['sli']:58} {value:>14}  {row['slo']:>14}  {row['status']}")
    lines += [f"  warning: {text}" for text in result["warnings"]]
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bloodbank-url", required=True)
    parser.add_argument("--candystore-url", default="")
    parser.add_argument("--api-key", default=os.environ.get("HARNESS_API_KEY"))
    parser.add_argument("--signing-keys", default=os.environ.get("HARNESS_SIGNING_KEYS", ""))
    parser.add_argument("--amqp-url", default="", help="for AMQP publishers and the DLQ")
    parser.add_argument("--target-profile", default="", help="the target's routes/statuses/names (TOML)")
    parser.add_argument("--rate", type=float, default=50.0, help="total publish events/s (open model)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--mix", default=DEFAULT_MIX)
    parser.add_argument("--stream-watchers", type=int, default=1)
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to wait for events to be stored")
    parser.add_argument("--reports", default="reports")
    args = parser.parse_args(argv)
    try:
        args.mix = parse_mix(args.mix)
        if args.rate <= 0 or args.duration <= 0:
            raise LoadConfigError("--rate and --duration must be above 0")
        if args.mix.amqp and not args.amqp_url:
            raise LoadConfigError(
                f"--mix gives amqp={args.mix.amqp:g} but there is no --amqp-url: give the broker, or amqp=0"
            )
        if (args.mix.query or args.stream_watchers) and not args.candystore_url:
            raise LoadConfigError(
                "readers and stream watchers need --candystore-url (or query=0, 0 watchers)"
            )
        if args.target_profile:
            Profile.load(args.target_profile)
    except (LoadConfigError, ProfileError) as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = run(args)
    print(render(result))
    print(f"load run: outputs in {Path(args.reports) / 'load'}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
