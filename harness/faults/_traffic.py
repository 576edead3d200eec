"""Steady event traffic through a Bloodbank while a fault is injected, recorded in a ledger.

The producer behaves as a careful client should: it sends full envelopes (so a retry carries the same
``event_id`` and the same bytes), and re-sends whatever was not acknowledged (transport error, 5xx, 429, or
a batch item that is not ``published``) until its deadline. An event counts as accepted only when Bloodbank
said ``published``.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import httpx

from harness.ledger import Ledger
from harness.profile import BloodbankSurface
from holyfields import make_envelope, registry


class Traffic(threading.Thread):
    """Publish ``total`` events in batches at about ``rate`` events/s; retry what was not acknowledged."""

    def __init__(
        self,
        bloodbank_url: str,
        ledger: Ledger,
        *,
        total: int = 2000,
        batch: int = 20,
        rate: float = 400.0,
        api_key: str | None = None,
        retry_for: float = 90.0,
        seed: int = 0,
        surface: BloodbankSurface | None = None,
    ) -> None:
        super().__init__(name=f"traffic-{ledger.name}", daemon=True)
        self.url = bloodbank_url
        self.ledger = ledger
        self.total = total
        self.batch = batch
        self.rate = rate
        self.retry_for = retry_for
        #: the target's batch route and API-key header (its profile; SPEC defaults without one)
        self.surface = surface or BloodbankSurface()
        self.headers = {self.surface.api_key_header: api_key} if api_key else {}
        self.rng = random.Random(seed)
        self.sent = 0
        self.accepted = 0
        self.retries = 0
        self.errors: dict[str, int] = {}
        #: the longest any one request took to be answered (seconds), and 503s that had no Retry-After
        self.slowest = 0.0
        self.unavailable_without_retry_after = 0
        self.failure: BaseException | None = None
        self._progress = threading.Condition()

    def _envelopes(self, n: int) -> list[dict[str, Any]]:
        types = registry().event_types
        return [make_envelope(self.rng.choice(types)) for _ in range(n)]

    def _note(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def _send(self, client: httpx.Client, envelopes: list[dict[str, Any]]) -> None:
        pending = {e["event_id"]: e for e in envelopes}
        deadline = time.monotonic() + self.retry_for
        delay = 0.1
        while pending and time.monotonic() < deadline:
            began = time.monotonic()
            try:
                route = self.surface.batch
                response = client.request(route.method, route.path, json=list(pending.values()))
            except httpx.TransportError as exc:
                self._note(type(exc).__name__)
                response = None
            self.slowest = max(self.slowest, time.monotonic() - began)
            if response is not None and response.status_code == 503 and "Retry-After" not in response.headers:
                self.unavailable_without_retry_after += 1
            if response is not None and response.status_code < 300:
                for item in response.json()["results"]:
                    eid = item.get("event_id")
                    if item["status"] == "published" and eid in pending:
                        del pending[eid]
                        self.ledger.attempt(eid, accepted=True)
                        with self._progress:
                            self.accepted += 1
                            self._progress.notify_all()
                    elif item["status"] == "invalid" and eid in pending:  # a bug of ours: never retried
                        del pending[eid]
                        self.ledger.attempt(eid, accepted=False)
                if not pending:
                    return
            elif response is not None:
                self._note(f"http {response.status_code}")
            self.retries += 1
            time.sleep(delay)  # client back-off between retries, not synchronisation
            delay = min(delay * 2, 2.0)
        for eid in pending:
            self.ledger.attempt(eid, accepted=False)

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as client:
                began = time.monotonic()
                while self.sent < self.total:
                    n = min(self.batch, self.total - self.sent)
                    self._send(client, self._envelopes(n))
                    self.sent += n
                    ahead = self.sent / self.rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)  # pacing of the producer
        except BaseException as exc:  # reported by the test through .failure
            self.failure = exc
        finally:
            with self._progress:
                self._progress.notify_all()

    def wait_accepted(self, count: int, timeout: float = 60.0) -> None:
        """Block until ``count`` events were acknowledged (the moment to inject a fault)."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while self.accepted < count and self.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"only {self.accepted} of {count} events acknowledged in {timeout:.0f} s"
                    )
                self._progress.wait(left)
