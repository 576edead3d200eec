"""Child processes that cannot outlive the harness.

Every server is started with ``PR_SET_PDEATHSIG`` = SIGKILL, so the kernel kills it when the process that
started it dies, however it dies (SIGKILL included). The signal fires when the *thread* that forked the child
exits, so all children are forked by one long-lived spawner thread, never by a short-lived worker thread
(a fault injected from a timer thread would otherwise take the restarted server with it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-spawner")
# Loaded in the parent: a child between fork and exec must not dlopen (another thread may hold the lock).
_libc: Any = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The harness may already be gone by the time we get here.
    if os.getppid() == 1:
        os._exit(1)


def spawn(
    argv: list[str],
    *,
    env: dict[str, str],
    log: Path,
    cwd: str | Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, output to ``log``, killed when the harness dies."""

    def _start() -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                user=user,
                group=user,
                extra_groups=[] if user else None,
            )

    return _spawner.submit(_start).result()


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (servers' children start sessions of their own, so a
    process group does not hold them: PostgreSQL backends and Erlang's port helpers call setsid)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def signal_tree(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to ``proc`` and all its descendants (ignore those already gone)."""
    if proc.poll() is not None:
        return
    for pid in descendants(proc.pid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def terminate(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    """Send ``sig`` to ``proc``, wait up to ``timeout`` s, then SIGKILL what is left of its tree; reap it."""
    if proc is None:
        return
    signal_tree(proc, signal.SIGCONT)  # a paused server cannot shut down
    tree = descendants(proc.pid) if proc.poll() is None else []
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    for pid in tree:  # whatever is left of the tree, the server's own helpers included
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:  # pragma: no cover - the kernel always delivers SIGKILL
        pass


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        data = path.read_bytes()[-16384:]
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
