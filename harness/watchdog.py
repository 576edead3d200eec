"""Liveness watchdog: notices when a target stops answering and names the request(s) that came before.

The HTTP clients of the suites log every request they send (method, path, a body excerpt). When a request
fails at the transport level (timeout, refused connection), or when the between-checks liveness probe gets
no answer, the watchdog asks the service once more, briefly. A service that still does not answer has
*stopped answering*: one finding names the last requests sent before it stopped, and every later check that
needs the service is blocked by it, so the run ends in bounded time instead of timing out check by check.
A service that answers again turns the failure into a plain assertion ("did not answer … within N s").
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import httpx
import pytest

from harness.triage import BLOCKED, Capabilities

#: header marking the watchdog's own probes (not logged as requests of the checks)
PROBE_HEADER = "X-Harness-Liveness-Probe"

#: service -> the capability lost when it stops answering
SERVICE_CAPABILITY = {"bloodbank": "publish", "candystore": "read_by_id"}
SERVICE_NAME = {"bloodbank": "Bloodbank", "candystore": "Candystore"}


def describe_request(request: httpx.Request, limit: int = 160) -> str:
    try:
        body = request.content.decode("utf-8", "replace").replace("\n", " ")
    except httpx.RequestNotRead:
        body = "<streamed body>"
    body = body[:limit] + ("…" if len(body) > limit else "")
    line = f"{request.method} {request.url.path}"
    if request.url.query:
        line += f"?{request.url.query.decode()[:80]}"
    return f"{line} {body}".rstrip()


class Watchdog:
    """Per service: the last requests sent and whether the service still answers."""

    def __init__(self, capabilities: Capabilities, probe_timeout: float = 3.0) -> None:
        self.capabilities = capabilities
        self.probe_timeout = probe_timeout
        #: service -> the last requests of the checks: [description, answered?]
        self.sent: dict[str, collections.deque[list[Any]]] = collections.defaultdict(
            lambda: collections.deque(maxlen=6)
        )
        self.clients: dict[str, Any] = {}
        self.stopped: dict[str, str] = {}
        self._lock = threading.Lock()

    def watch(self, service: str, client: Any) -> None:
        """Log every request ``client`` (a harness probe client) sends; check it on transport errors."""
        self.clients[service] = client

        def sent(request: httpx.Request) -> None:
            if PROBE_HEADER not in request.headers:
                entry = [describe_request(request), False]
                request.extensions["harness_log"] = entry
                with self._lock:
                    self.sent[service].append(entry)

        def answered(response: httpx.Response) -> None:
            entry = response.request.extensions.get("harness_log")
            if entry is not None:
                entry[1] = True

        client.http.event_hooks["request"].append(sent)
        client.http.event_hooks["response"].append(answered)
        client.on_transport_error = lambda exc, request: self.transport_error(service, exc, request)

    def answers(self, service: str) -> bool:
        """One quick liveness probe (the health route; any HTTP answer counts as alive)."""
        client = self.clients[service]
        route = client.surface.health
        try:
            client.http.request(
                route.method, route.path, timeout=self.probe_timeout, headers={PROBE_HEADER: "1"}
            )
        except httpx.HTTPError:
            return False
        return True

    def transport_error(self, service: str, exc: Exception, request: httpx.Request | None) -> None:
        """Called by a client whose request got no answer: block, or fail in plain words (never re-raise)."""
        what = describe_request(request) if request is not None else "a request"
        name = SERVICE_NAME[service]
        if service in self.stopped:
            pytest.skip(f"{BLOCKED}{self.stopped[service]}")
        timed_out = isinstance(exc, httpx.TimeoutException)
        if not self.answers(service) or (timed_out and self._wedged(service)):
            self._stop(service, f"no answer to {what} ({type(exc).__name__})")
            pytest.skip(f"{BLOCKED}{self.stopped[service]}")
        kind = "did not answer in time" if timed_out else "dropped the connection"
        raise AssertionError(f"{name} {kind}: {what} ({type(exc).__name__}: {exc})") from None

    def _wedged(self, service: str) -> bool:
        """After a timeout: does a fresh valid publish (Bloodbank) get an answer? Health alone can lie."""
        if service != "bloodbank":
            return False
        from holyfields import make_envelope

        client = self.clients[service]
        route = client.surface.publish
        envelope = make_envelope("n8n.workflow.completed.v1")
        try:
            client.http.request(
                route.method,
                route.path,
                json=envelope,
                timeout=self.probe_timeout * 2,
                headers={PROBE_HEADER: "1"},
            )
        except httpx.HTTPError:
            return True
        return False

    def between_checks(self, services: list[str]) -> None:
        """After a check: a service that stopped answering blocks the checks after it."""
        for service in services:
            if service in self.clients and service not in self.stopped and not self.answers(service):
                self._stop(service, "no answer to its health route after the last check")

    def _stop(self, service: str, how: str) -> None:
        name = SERVICE_NAME[service]
        with self._lock:
            sent = [(line, answered) for line, answered in self.sent[service]]
        first_unanswered = next((i for i, (_, ok) in enumerate(sent) if not ok), len(sent))
        answered_before = [line for line, _ in sent[:first_unanswered]]
        if answered_before:
            title = f"{name} stopped answering after: {answered_before[-1][:120]}"
        else:
            base = self.clients[service].http.base_url
            title = f"{name} does not answer at {base} (is it running there? --{service}-url)"
        detail = f"{how}. The last requests sent to {name}, oldest first:\n" + "\n".join(
            f"  {line}{'' if ok else '   <- no answer'}" for line, ok in sent
        )
        self.stopped[service] = title
        capability = self.capabilities.lost(SERVICE_CAPABILITY[service], title, detail)
        capability.finding = self.capabilities.report.add_finding(
            capability.finding_id + ":stopped", title, detail, severity="error", root=True
        )
