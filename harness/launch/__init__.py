"""Starting a process and knowing when it is ready, written once.

- :class:`ManagedProcess`: launch / wait_ready / start / stop / kill / pause / resume of one child process
  that cannot outlive the harness;
- readiness strategies (:mod:`harness.launch._ready`): ``tcp``, ``amqp``, ``http`` (a readiness endpoint),
  ``sql``, ``log_says`` (a worker without a port), combined with ``all_of``;
- ``wait_until`` (poll with a deadline) and ``free_port``.

Servers of the local backend, the reference services, mutant and misaligned stand-ins and the benchmarks all
start through this package.
"""

from harness.launch._managed import ManagedProcess
from harness.launch._process import descendants, signal_tree, spawn, tail, terminate
from harness.launch._ready import Readiness, all_of, amqp, http, log_says, sql, tcp
from harness.launch._wait import LaunchError, ProcessExited, free_port, wait_until

__all__ = [
    "LaunchError",
    "ManagedProcess",
    "ProcessExited",
    "Readiness",
    "all_of",
    "amqp",
    "descendants",
    "free_port",
    "http",
    "log_says",
    "signal_tree",
    "spawn",
    "sql",
    "tail",
    "tcp",
    "terminate",
    "wait_until",
]
