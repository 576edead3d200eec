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
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import stats as locust_stats
from locust.env import Environment
from locust.html import get_html_report

from harness.ledger import DeadLetter, Ledger
from harness.loadplan import DEFAULT_MIX, LoadConfigError, parse_fault, parse_mix
from harness.profile import Profile, ProfileError
from holyfields.topology import Topology
from load import measure
from load.locustfile import STATE, RunConfig, user_classes
from load.plot import png, svg
from load.thresholds import judge, passed

#: printed when the schedule opens: ``harness load --fault NAME@S`` counts S from this line
SCHEDULE_OPEN = "load run: schedule open"
#: seconds the in-flight requests get to finish after the schedule ends
DRAIN_SECONDS = 15.0


class _QuietStoppedUsers(logging.Filter):
    """Users end themselves (StopUser) when their schedule is over; locust logs that as an error at quit."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "didn't have proper args" not in record.getMessage()


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


def _config(args: argparse.Namespace, rate: float) -> RunConfig:
    profile = Profile.load(args.target_profile) if args.target_profile else Profile()
    return RunConfig(
        bloodbank_url=args.bloodbank_url,
        candystore_url=args.candystore_url,
        amqp_url=args.amqp_url or "",
        api_key=args.api_key,
        signing_keys=args.signing_keys or "",
        rate=rate,
        mix=args.mix,
        stream_watchers=args.stream_watchers,
        profile=profile,
        topology=Topology.from_env(os.environ, base=profile.broker),
        autostart=False,
    )


def _all_seen() -> bool:
    accepted = [e for e, ok in STATE.accepted.items() if ok]
    return all(e in STATE.seen_on_stream for e in accepted)


def _end_schedule(config: RunConfig) -> bool:
    """Close this process's schedule, let in-flight requests finish (bounded); True when they did."""
    STATE.stop()
    drained = _poll(lambda: STATE.in_flight == 0, timeout=DRAIN_SECONDS)
    if STATE.watchers_connected:  # let this process's watchers see what is still on its way (bounded)
        _poll(_all_seen, timeout=5)
    STATE.finish()
    return drained


class _Drive:
    """Runs the users (here, or in worker processes) and hands back what they observed."""

    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args, self.out = args, out
        self.warnings: list[str] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    def _start_outputs(self, env: Environment, runner: Any) -> None:
        self.writer = locust_stats.StatsCSVFileWriter(
            env, locust_stats.PERCENTILES_TO_REPORT, str(self.out / "locust"), full_history=True
        )
        self.greenlets = [
            gevent.spawn(self.writer.stats_writer),
            gevent.spawn(locust_stats.stats_history, runner),
        ]

    def _finish_outputs(self, env: Environment) -> dict[str, Any]:
        numbers = _locust_summary(env)
        for greenlet in self.greenlets:
            greenlet.kill()
        _write_locust_outputs(env, self.writer, self.out)
        return numbers

    def _check(self, ok: bool, text: str) -> None:
        if not ok:
            self.warnings.append(text)

    def local(self) -> tuple[dict[str, Any], Environment]:
        args = self.args
        config = _config(args, args.rate)
        STATE.configure(config)
        classes = user_classes(config)
        env = Environment(user_classes=classes, stop_timeout=DRAIN_SECONDS)
        runner = env.create_local_runner()
        total = sum(cls.fixed_count for cls in classes)
        self._start_outputs(env, runner)
        runner.start(total, spawn_rate=total)
        self._check(
            _poll(lambda: runner.user_count >= total, 30), f"only {runner.user_count}/{total} users started"
        )
        self._check(
            _poll(lambda: STATE.watchers_connected >= config.stream_watchers, 15),
            f"only {STATE.watchers_connected} of {config.stream_watchers} stream watchers connected",
        )
        self.start_wall, start = time.time(), time.monotonic()
        STATE.start(duration=args.duration)
        print(SCHEDULE_OPEN, flush=True)
        gevent.sleep(args.duration)  # the load itself: the pacers close their schedules at start + duration
        drained = _end_schedule(config)
        self.elapsed = time.monotonic() - start
        self._check(
            drained, f"{STATE.in_flight} requests still in flight {DRAIN_SECONDS:g} s after the schedule"
        )
        runner.quit()
        self.users = {cls.__name__: cls.fixed_count for cls in classes}
        self.numbers = self._finish_outputs(env)
        return STATE.records(), env

    def distributed(self, argv: list[str]) -> tuple[dict[str, Any], Environment]:
        """A locust master here and ``--workers`` processes, each pacing its users' share of the rate."""
        args = self.args
        config = _config(args, args.rate)
        STATE.configure(config)
        classes = user_classes(config)
        env = Environment(user_classes=classes, stop_timeout=DRAIN_SECONDS)
        port = _free_port()
        runner = env.create_master_runner("127.0.0.1", port)
        status: dict[int, dict[str, Any]] = {}
        records: dict[int, dict[str, Any]] = {}
        runner.register_message(
            "harness_status", lambda msg, **_: status.update({msg.data["index"]: msg.data})
        )
        runner.register_message(
            "harness_records", lambda msg, **_: records.update({msg.data["index"]: msg.data})
        )
        for index in range(args.workers):
            extra = [f"--worker-of=127.0.0.1:{port}", f"--worker-index={index}", f"--run-id={STATE.run_id}"]
            command = [sys.executable, "-m", "load.runner", *_without_workers(argv), *extra]
            self.workers.append(subprocess.Popen([*command, f"--workers={args.workers}"]))
        if not _poll(lambda: runner.worker_count >= args.workers, 60, 0.1):
            raise RuntimeError(
                f"only {runner.worker_count} of {args.workers} locust workers connected in 60 s"
            )
        total = sum(cls.fixed_count for cls in classes)
        self._start_outputs(env, runner)
        runner.start(total, spawn_rate=total)
        self._check(
            _poll(lambda: runner.user_count >= total, 30), f"only {runner.user_count}/{total} users started"
        )

        def watching() -> int:
            return sum(s.get("watchers", 0) for s in status.values())

        self._check(
            _poll(lambda: watching() >= config.stream_watchers, 15),
            f"only {watching()} of {config.stream_watchers} stream watchers connected",
        )
        self.start_wall, start = time.time() + 0.2, time.monotonic() + 0.2
        runner.send_message("harness_start", {"start_wall": self.start_wall, "duration": args.duration})
        gevent.sleep(0.2)  # workers open their schedules at start_wall, 0.2 s from the send
        print(SCHEDULE_OPEN, flush=True)
        gevent.sleep(args.duration)  # the load itself
        runner.send_message("harness_stop", {})
        self._check(
            _poll(lambda: len(records) >= args.workers, DRAIN_SECONDS + 10, 0.1),
            f"records of {len(records)} of {args.workers} workers only",
        )
        self.elapsed = time.monotonic() - start
        parts = []
        for info in records.values():
            path = Path(info["path"])
            parts.append(json.loads(path.read_text()))
            path.unlink()
        merged = measure.merge(parts)
        self._check(
            merged["in_flight"] == 0, f"{merged['in_flight']} requests still in flight after the schedule"
        )
        runner.quit()
        self.stop_workers()
        self.users = {cls.__name__: cls.fixed_count for cls in classes}
        self.users["workers"] = args.workers
        self.numbers = self._finish_outputs(env)
        return merged, env

    def stop_workers(self) -> None:
        for proc in self.workers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(timeout=10)
        self.workers.clear()


def _without_workers(argv: list[str]) -> list[str]:
    """``argv`` without its ``--workers`` option (either form)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--workers":
            skip = True
        elif not item.startswith("--workers="):
            out.append(item)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker(args: argparse.Namespace) -> int:
    """One locust worker of a distributed run: paces its users' share of the rate, reports its records."""
    host, _, port = args.worker_of.rpartition(":")
    config = _config(args, args.rate)
    STATE.run_id = args.run_id
    STATE.configure(config)
    classes = user_classes(config)
    totals = {getattr(cls, "kind", ""): (cls.__name__, cls.fixed_count) for cls in classes}
    env = Environment(user_classes=classes, stop_timeout=DRAIN_SECONDS)
    runner = env.create_worker_runner(host, int(port))
    out = Path(args.reports) / "load"

    def on_start(msg: Any, **_: Any) -> None:
        # this worker paces each kind in proportion to the users of that kind the master gave it
        here = runner.user_classes_count
        for kind in list(STATE.pacers):
            name, total = totals[kind]
            share = here.get(name, 0) / total if total else 0.0
            if share > 0:
                STATE.pacers[kind].rate *= share
            else:
                del STATE.pacers[kind]
        at = time.monotonic() + (msg.data["start_wall"] - time.time())
        STATE.start(duration=msg.data["duration"], at=at)

    def finish() -> None:
        _end_schedule(config)
        path = out / f"worker-{args.worker_index}.json"
        path.write_text(json.dumps(STATE.records()))
        runner.send_message("harness_records", {"index": args.worker_index, "path": str(path)})

    def report() -> None:
        while True:
            data = {"index": args.worker_index, "watchers": STATE.watchers_connected}
            runner.send_message("harness_status", data)
            gevent.sleep(0.2)  # a status heartbeat to the master

    runner.register_message("harness_start", on_start)
    runner.register_message("harness_stop", lambda msg, **_: gevent.spawn(finish))
    gevent.spawn(report)
    runner.greenlet.join()
    return 0


def run(args: argparse.Namespace, argv: list[str] | None = None) -> dict[str, Any]:
    out = Path(args.reports) / "load"
    out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("locust.runners").addFilter(_QuietStoppedUsers())
    # The event loop's clock was cached when the hub started (before the imports above); refresh it so that
    # timers fire on time.
    gevent.get_hub().loop.update_now()
    drive = _Drive(args, out)
    try:
        records, _env = drive.distributed(argv or []) if args.workers else drive.local()
    finally:
        for proc in drive.workers:
            proc.terminate()
        drive.stop_workers()
    return judge_run(args, records, drive)


def _fault_record(args: argparse.Namespace, out: Path) -> dict[str, Any] | None:
    """What the injector (``harness load``) wrote to ``fault.json`` once the fault was cleared, if any."""
    if not args.fault:
        return None
    path = out / "fault.json"
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # poll: the injector writes the file when it has cleared the fault
    if not path.exists():
        return {"name": args.fault.name, "error": "the fault was never reported cleared (no fault.json)"}
    record = json.loads(path.read_text())
    path.unlink()
    return record


def judge_run(args: argparse.Namespace, records: dict[str, Any], drive: _Drive) -> dict[str, Any]:
    """Every accepted event looked up in Candystore, the ledger, the SLIs and their verdict."""
    out = drive.out
    config = _config(args, args.rate)
    profile, topology = config.profile, config.topology
    sent = {e: (v[0], v[1]) for e, v in records["sent"].items()}
    attempted = list(sent)
    accepted = set(records["accepted"])
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

    latencies = measure.e2e_latencies(sent, {e: c for e, c in stored.items() if e in accepted})
    stream_latencies = {
        e: max(0.0, (t - sent[e][0]) * 1000) for e, t in records["seen"].items() if e in accepted
    }
    integrity, broken = measure.correlation_integrity(
        {c: p for c, p in records["parents"].items() if c in accepted}, stored
    )
    stored_accepted = sum(1 for e in accepted if e in stored)
    fault = _fault_record(args, out)
    recovery = None
    if fault is not None and fault.get("cleared_at") is not None:
        recovery = measure.recovery_seconds(sent, accepted, stored, fault["cleared_at"])
        fault["recovery_seconds"] = recovery
    measured = {
        "publish_success_rate": 100.0 * len(accepted) / len(attempted) if attempted else None,
        "storage_success_rate": 100.0 * stored_accepted / len(accepted) if accepted and stored else None,
        "validation_success_rate": (
            100.0 * (len(attempted) - records["invalid"]) / len(attempted) if attempted else None
        ),
        "e2e_latency_p99_ms": measure.percentile(list(latencies.values()), 0.99),
        "correlation_integrity": integrity,
        "dlq_size": dlq_size,
        "lost_events": float(ledger_verdict.lost) if stored or not accepted else None,
        "duplicated_events": float(ledger_verdict.duplicated) if stored or not accepted else None,
        "achieved_rate_percent": 100.0 * len(accepted) / (args.rate * args.duration),
        "recovery_seconds": recovery,
    }
    verdict = judge(measured, missed=frozenset({"recovery_seconds"} if fault is not None else ()))
    amqp = drive.numbers.get("AMQP publish (confirmed)")
    result = {
        "run_id": STATE.run_id,
        "config": {
            "target_rate": args.rate,
            "duration_seconds": args.duration,
            "mix": config.mix.text(),
            "stream_watchers": config.stream_watchers,
            "users": drive.users,
            "workers": args.workers,
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
        "elapsed_seconds": round(drive.elapsed, 2),
        "started_at": drive.start_wall,
        "settled_after_seconds": round(seen_wall - drive.start_wall - args.duration, 2),
        "e2e_latency_ms": measure.summary(list(latencies.values()), len(accepted)),
        "stream_latency_ms": measure.summary(list(stream_latencies.values()), len(accepted)),
        "amqp_confirm_latency_ms": None
        if amqp is None
        else {k: amqp[k] for k in ("p50_ms", "p99_ms", "max_ms")},
        "schedule": records["schedule"],
        "statuses": records["statuses"],
        "requests": drive.numbers,
        "correlation_broken_ids": broken,
        "fault": fault,
        "ledger": ledger_verdict.as_dict(),
        "per_second": measure.per_second(sent, accepted, latencies, drive.start_wall),
        "warnings": drive.warnings,
        "verdict": verdict,
        "passed": passed(verdict),
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (out / "latency.svg").write_text(svg(result["per_second"], args.rate))
    png(result["per_second"], args.rate, out / "latency.png", args.fault.at if args.fault else None)
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
    parser.add_argument("--fault", default="", help="NAME@SECONDS injected by `harness load` (recorded here)")
    parser.add_argument("--workers", type=int, default=0, help="locust worker processes (0: run here)")
    parser.add_argument("--worker-of", default="", help=argparse.SUPPRESS)  # HOST:PORT of the master
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--run-id", default="", help=argparse.SUPPRESS)
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
        args.fault = parse_fault(args.fault, args.duration) if args.fault else None
        if not 0 <= args.workers <= 32:
            raise LoadConfigError(f"--workers {args.workers}: give 0 (run here) to 32 worker processes")
    except (LoadConfigError, ProfileError) as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.worker_of:
        return worker(args)
    result = run(args, argv)
    print(render(result))
    print(f"load run: outputs in {Path(args.reports) / 'load'}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
