"""A managed child process: launched, waited for by a readiness strategy, stopped, killed, paused."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.launch._process import descendants, signal_tree, spawn, tail, terminate
from harness.launch._ready import Readiness
from harness.launch._wait import LaunchError, ProcessExited, wait_until


@dataclass
class ManagedProcess:
    """One child process of the harness (it dies with the harness, see :mod:`harness.launch._process`).

    ``launch`` starts it without waiting (several processes start in parallel), ``wait_ready`` polls its
    readiness strategy until the deadline, ``start`` does both. A process that exits or stays unready is
    stopped, and the error carries the last lines of its log.
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready: Readiness
    cwd: str | Path | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    start_timeout: float = 30.0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: seconds from ``launch`` until ready, for the last start
    ready_seconds: float | None = None
    _launched_at: float = field(default=0.0, repr=False)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def launch(self) -> None:
        self.proc = spawn(self.argv, env=self.env, log=self.log, cwd=self.cwd, user=self.user)
        self._launched_at = time.monotonic()

    def wait_ready(self, timeout: float | None = None) -> None:
        proc = self.proc
        if proc is None:
            raise LaunchError(f"{self.name}: wait_ready() before launch()")
        timeout = self.start_timeout if timeout is None else timeout
        try:
            wait_until(
                self.ready,
                timeout=timeout,
                describe=f"{self.name}: {self.ready.describe}",
                alive=lambda: proc.poll() is None,
            )
        except ProcessExited:
            code = proc.poll()
            self.stop()
            raise LaunchError(
                f"{self.name} exited with code {code} before it was ready ({self.ready.describe}). "
                f"Last lines of its log {self.log}:\n{self.log_tail()}"
            ) from None
        except TimeoutError:
            self.stop()
            raise LaunchError(
                f"{self.name} not ready within {timeout:.0f} s (waited for {self.ready.describe}). "
                f"Last lines of its log {self.log}:\n{self.log_tail()}"
            ) from None
        self.ready_seconds = round(time.monotonic() - self._launched_at, 3)

    def start(self, timeout: float | None = None) -> None:
        self.launch()
        self.wait_ready(timeout)

    def stop(self) -> None:
        terminate(self.proc, self.stop_signal, self.stop_timeout)
        self.proc = None

    def kill(self) -> None:
        terminate(self.proc, signal.SIGKILL, 5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        if self.proc is not None:
            signal_tree(self.proc, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            signal_tree(self.proc, signal.SIGCONT)

    def pids(self) -> list[int]:
        """Pids of the process and its helper processes (for leak checks)."""
        if not self.running:
            return []
        assert self.proc is not None
        return descendants(self.proc.pid)

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)
