"""Locust users of a load run: producers that publish valid envelopes of every type through Bloodbank.

Usable on its own (``locust -f load/locustfile.py --host http://127.0.0.1:8682``, API key in
``HARNESS_API_KEY``) or through ``harness load``, which also measures end-to-end latency and judges the run.
"""

from __future__ import annotations

import os
import random
import time

from locust import FastHttpUser, constant_throughput, task

from holyfields import make_envelope, registry

#: (event_id, monotonic-free wall time of the send) of every published event, for end-to-end sampling
PUBLISHED: list[tuple[str, float]] = []
#: answers by status code
STATUSES: dict[int, int] = {}


def _rate_from_env() -> float:
    text = os.environ.get("HARNESS_LOAD_RATE", "50")
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if rate <= 0:
        raise ValueError(f"HARNESS_LOAD_RATE must be a positive number of requests/s, not {text!r}")
    return rate


class BloodbankProducer(FastHttpUser):
    """Publishes one valid envelope per task at ``rate`` requests/s per user.

    ``harness load`` sets ``rate`` on the class before the users start; left at ``None`` (a standalone
    ``locust -f`` run), each user reads ``HARNESS_LOAD_RATE`` (default 50) when it starts.
    """

    rate: float | None = None

    def wait_time(self) -> float:
        return self._pacing(self)

    def on_start(self) -> None:
        self._pacing = constant_throughput(self.rate if self.rate is not None else _rate_from_env())
        self.types = registry().event_types
        key = os.environ.get("HARNESS_API_KEY")
        self.headers = {"X-API-Key": key} if key else {}

    @task
    def publish(self) -> None:
        envelope = make_envelope(random.choice(self.types))
        sent = time.time()
        with self.client.post(
            "/events", json=envelope, headers=self.headers, catch_response=True, name="POST /events"
        ) as response:
            STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1
            if response.status_code == 202:
                PUBLISHED.append((envelope["event_id"], sent))
                response.success()
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")
