"""Driving ``harness load``'s runner process, and the fault it injects mid-run on a stack of its own.

The runner (load/runner.py) prints a line when its arrival schedule opens; ``--fault NAME@SECONDS`` counts
SECONDS from that line, injects the fault on the :class:`~harness.faults.FaultStack`, holds it, clears it and
writes ``REPORTS/load/fault.json`` (wall times of injection and clearing), from which the runner measures the
recovery under load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.loadplan import FaultPlan

#: the runner's line when the schedule opens (load.runner.SCHEDULE_OPEN; load/ is not imported here)
SCHEDULE_OPEN = "load run: schedule open"


def fault_actions(stack: Any, name: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """(inject, clear) of the fault ``name`` on a :class:`~harness.faults.FaultStack`."""
    actions = {
        "rabbitmq-restart": (stack.backend.rabbitmq.stop, stack.backend.rabbitmq.start),
        "postgres-down-10s": (stack.backend.postgres.stop, stack.backend.postgres.start),
        "candystore-sigkill": (stack.candystore.kill, stack.candystore.start),
        "bloodbank-sigkill": (stack.bloodbank.kill, stack.bloodbank.start),
        "cut-candystore-rabbitmq": (stack.amqp_proxy.cut, stack.amqp_proxy.restore),
        "cut-candystore-postgres": (stack.db_proxy.cut, stack.db_proxy.restore),
    }
    return actions[name]


class FaultInjector:
    """Injects ``plan`` ``plan.at`` seconds after :meth:`schedule_opened`, clears it after ``plan.hold``."""

    def __init__(self, plan: FaultPlan, inject: Callable[[], None], clear: Callable[[], None], out: Path):
        self.plan, self._inject, self._clear, self.out = plan, inject, clear, out
        self.thread: threading.Thread | None = None
        self.error: str | None = None

    def schedule_opened(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="load-fault", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        record: dict[str, Any] = {
            "name": self.plan.name,
            "at_seconds": self.plan.at,
            "hold_seconds": self.plan.hold,
        }
        time.sleep(self.plan.at)  # the experiment: when the fault starts
        try:
            record["injected_at"] = time.time()
            self._inject()
            time.sleep(self.plan.hold)  # the experiment: how long the fault lasts
        except Exception as exc:  # the record says what went wrong; the runner's verdict shows it
            record["error"] = f"injecting {self.plan.name}: {exc}"
        finally:
            try:
                self._clear()
                record["cleared_at"] = time.time()
            except Exception as exc:
                record["error"] = f"clearing {self.plan.name}: {exc}"
                record["cleared_at"] = None
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "fault.json").write_text(json.dumps(record, indent=2) + "\n")
            self.error = record.get("error")

    def join(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout)


def run_runner(argv: list[str], env: dict[str, str], injector: FaultInjector | None = None) -> int:
    """Run the load runner, echoing its output; its schedule line starts the injector's clock."""
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == SCHEDULE_OPEN:
                if injector is not None:
                    injector.schedule_opened()
                continue
            sys.stdout.write(line)
            sys.stdout.flush()
        code = proc.wait()
    if injector is not None:
        injector.join(30)
    return code


class CpuMeter:
    """CPU use (% of one core) of named processes and their children between :meth:`start` and :meth:`stop`.

    Sampled from the processes' CPU times, so a short-lived child's share is lost (PostgreSQL backends live
    as long as their connections, which span a step)."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        import psutil

        self._psutil = psutil
        self.pids = {name: list(p) for name, p in pids.items() if p}
        self._before: dict[str, float] = {}
        self._started = 0.0

    def _cpu_seconds(self, pids: list[int]) -> float:
        total = 0.0
        for pid in pids:
            try:
                proc = self._psutil.Process(pid)
                family = [proc, *proc.children(recursive=True)]
            except self._psutil.Error:
                continue
            for member in family:
                try:
                    times = member.cpu_times()
                    total += times.user + times.system
                except self._psutil.Error:
                    pass
        return total

    def start(self) -> None:
        self._started = time.monotonic()
        self._before = {name: self._cpu_seconds(p) for name, p in self.pids.items()}

    def stop(self) -> dict[str, float]:
        wall = max(1e-6, time.monotonic() - self._started)
        return {
            name: round(100.0 * (self._cpu_seconds(p) - self._before.get(name, 0.0)) / wall, 1)
            for name, p in self.pids.items()
        }


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: capacity search: the rate grows by this factor per step, at most this many steps
CAPACITY_FACTOR = 2.0
CAPACITY_STEPS = 8


def capacity_rates(start: float, passed: Callable[[float], bool]) -> tuple[float | None, list[float]]:
    """The knee: the highest rate that held every SLO, doubling from ``start``, then one step between the
    last good and the first bad rate. Returns (knee or None, every rate tried)."""
    tried: list[float] = []
    good, bad = None, None
    rate = start
    for _ in range(CAPACITY_STEPS):
        tried.append(rate)
        if passed(rate):
            good, rate = rate, rate * CAPACITY_FACTOR
        else:
            bad = rate
            break
    if good is not None and bad is not None:
        middle = round((good + bad) / 2, 1)
        tried.append(middle)
        if passed(middle):
            good = middle
    return good, tried


#: CPU of the load generator (percent of its processes' cores) at which the generator, not the service,
#: is taken to have been the limit of a step that missed only its arrival rate
GENERATOR_SATURATED = 85.0


def limiting_factor(step: dict[str, Any], workers: int) -> str:
    """What broke a capacity step: ``load generator`` when it missed only the arrival rate while the
    generator's processes were busy (>= GENERATOR_SATURATED % of the cores they can use: one per worker,
    one when running in-process), else ``service``."""
    failed = set(step.get("failed") or [])
    cores = max(1, workers)
    busy = (step.get("cpu_percent") or {}).get("load generator", 0.0) >= GENERATOR_SATURATED * cores
    return "load generator" if failed == {"achieved_rate_percent"} and busy else "service"


def capacity_search(
    command: Callable[[float, Path], list[str]],
    env: dict[str, str],
    *,
    start: float,
    reports: Path,
    pids: dict[str, list[int]],
    say: Callable[[str], None],
    workers: int = 0,
) -> int:
    """Step the arrival rate until an SLO breaks; write ``capacity.json`` and the knee's ``summary.json``."""
    out = reports / "load"
    out.mkdir(parents=True, exist_ok=True)
    steps: list[dict[str, Any]] = []

    def step(rate: float) -> bool:
        step_reports = out / "capacity" / f"rate-{rate:g}"
        meter = CpuMeter(pids)
        meter.start()
        before, started = _children_cpu(), time.monotonic()
        code = run_runner(command(rate, step_reports), env)
        cpu = meter.stop()
        # the runner (and its workers) are this process's only children that end during a step
        cpu["load generator"] = round(100.0 * (_children_cpu() - before) / (time.monotonic() - started), 1)
        summary_path = step_reports / "load" / "summary.json"
        if not summary_path.exists():
            steps.append(
                {"rate": rate, "passed": False, "error": f"the runner exited {code} without a summary"}
            )
            return False
        summary = json.loads(summary_path.read_text())
        failed = [r["key"] for r in summary["verdict"] if r["status"] not in ("met", "not measured")]
        steps.append(
            {
                "rate": rate,
                "achieved_rate": summary["achieved_rate"],
                "e2e_latency_ms": summary["e2e_latency_ms"],
                "lost": summary["lost"],
                "passed": summary["passed"],
                "failed": failed,
                "cpu_percent": cpu,
                "outputs": str(step_reports / "load"),
            }
        )
        verdict = "held every SLO" if summary["passed"] else f"broke {', '.join(failed)}"
        say(f"harness load: capacity step {rate:g} events/s: {verdict}")
        return bool(summary["passed"])

    knee, _tried = capacity_rates(start, step)
    at_knee = next((s for s in steps if s["rate"] == knee), None)
    broke = next((s for s in steps if not s["passed"]), None)
    limited_by = limiting_factor(broke, workers) if broke else None
    result = {
        "knee_rate": knee,
        "limited_by": limited_by,
        "workers": workers,
        "knee_e2e_latency_ms": at_knee["e2e_latency_ms"] if at_knee else None,
        "cpu_percent_at_knee": at_knee["cpu_percent"] if at_knee else None,
        "steps": steps,
    }
    (out / "capacity.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if at_knee:
        knee_summary = json.loads((Path(at_knee["outputs"]) / "summary.json").read_text())
        knee_summary["capacity"] = result
        (out / "summary.json").write_text(json.dumps(knee_summary, indent=2, sort_keys=True) + "\n")
        say(
            f"harness load: capacity knee {knee:g} events/s (p99 {at_knee['e2e_latency_ms']['p99']} ms), "
            f"CPU % at the knee {at_knee['cpu_percent']}; {out / 'capacity.json'}"
        )
        if limited_by == "load generator":
            say(
                f"harness load: the load generator was the limit (it could not send {broke['rate']:g} "
                f"events/s with its {max(1, workers)} core(s) busy): the service may take more; rerun with "
                f"--workers {max(2, 2 * workers)} (or workers on other machines) to find its own knee"
            )
        return 0
    say(f"harness load: no rate held every SLO (first step {start:g} events/s); {out / 'capacity.json'}")
    return 1
