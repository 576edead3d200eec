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
