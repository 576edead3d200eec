"""The launcher: readiness strategies and a managed process's start, failure and stop (real processes)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from harness.launch import LaunchError, ManagedProcess, Readiness, all_of, amqp, free_port, http, sql, tcp

SERVE = (
    "import http.server, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200 if self.path == '/readyz' else 503); self.end_headers()\n"
    "    def log_message(self, *a): pass\n"
    "print('serving', flush=True)\n"
    "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
)


def _process(tmp_path: Path, argv: list[str], ready: Readiness, **kw: object) -> ManagedProcess:
    return ManagedProcess("probe", argv, {"PATH": "/usr/bin:/bin"}, tmp_path / "probe.log", ready, **kw)  # type: ignore[arg-type]


def test_strategies_are_false_until_something_answers_and_never_raise() -> None:
    port = free_port()
    assert not tcp(port)() and not amqp(port)() and not http(f"http://127.0.0.1:{port}/readyz")()
    assert not sql(f"postgresql://nobody@127.0.0.1:{port}/x")()
    assert not Readiness("raises", lambda: 1 / 0)()  # type: ignore[arg-type,return-value]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert tcp(port)()
        assert not all_of(tcp(port), Readiness("never", lambda: False))()
        both = all_of(tcp(port), amqp(port))
        assert (
            both.describe
            == f"a TCP listener on 127.0.0.1:{port} and an AMQP 0-9-1 broker on 127.0.0.1:{port}"
        )


def test_a_process_is_ready_on_its_readiness_endpoint_not_merely_when_it_listens(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-c", SERVE, str(port)]
    unready = _process(tmp_path, argv, http(f"http://127.0.0.1:{port}/health"), start_timeout=2)
    with pytest.raises(LaunchError, match=r"not ready within 2 s \(waited for HTTP 200 from GET .*/health\)"):
        unready.start()
    assert not unready.running, "a process that never got ready was left running"
    ready = _process(tmp_path, argv, all_of(tcp(port), http(f"http://127.0.0.1:{port}/readyz")))
    ready.start()
    try:
        assert ready.running and ready.pids() and ready.ready_seconds is not None
    finally:
        ready.stop()
    assert not ready.running and ready.pids() == []


def test_a_process_that_exits_while_starting_is_named_with_its_exit_code_and_log(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('bad config: PORT'); sys.exit(3)"]
    process = _process(tmp_path, argv, tcp(free_port()), start_timeout=20)
    with pytest.raises(
        LaunchError, match=r"(?s)probe exited with code 3 before it was ready.*bad config: PORT"
    ):
        process.start()
