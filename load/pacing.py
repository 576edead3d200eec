"""Open-model arrival pacing: iterations start on a fixed schedule, whatever the answers take.

Locust's own pacing (``constant_throughput``) is per user and closed: a user waits for its answer before its
next request, so a slow service quietly receives less load (coordinated omission). An :class:`ArrivalPacer`
hands out the start times ``t0 + i / rate`` to whichever user is free; a user that gets a slot already in the
past starts at once and the slot counts as *late*; slots more than ``drop_after`` seconds in the past when
taken are skipped and counted as *dropped* (no free user was there for them: give more users).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class PacerStats:
    """What happened to the schedule: slots started on time, late, or dropped."""

    taken: int = 0
    late: int = 0
    dropped: int = 0
    max_lag: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "started": self.taken,
            "late": self.late,
            "dropped": self.dropped,
            "max_lag_ms": round(self.max_lag * 1000, 1),
        }


class ArrivalPacer:
    """Hands out the start times of iterations at ``rate`` per second, from ``start`` for ``duration``.

    Not thread-safe by design: locust users are greenlets of one thread, and :meth:`take` does not yield.

    >>> now = [10.0]
    >>> pacer = ArrivalPacer(2.0, clock=lambda: now[0])
    >>> pacer.start(duration=2.0)
    >>> [pacer.take() for _ in range(4)], pacer.take()
    ([10.0, 10.5, 11.0, 11.5], None)
    """

    def __init__(
        self,
        rate: float,
        *,
        late_after: float = 0.1,
        drop_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"arrival rate must be above 0 per second, not {rate!r}")
        self.rate = rate
        self.late_after = late_after
        self.drop_after = drop_after
        self.clock = clock
        self.stats = PacerStats()
        self._t0: float | None = None
        self._end = math.inf
        self._next = 0

    @property
    def started(self) -> bool:
        return self._t0 is not None

    def start(self, duration: float | None = None, at: float | None = None) -> None:
        """Open the schedule at ``at`` (default now) for ``duration`` seconds (or until :meth:`stop`)."""
        self._t0 = self.clock() if at is None else at
        self._end = math.inf if duration is None else self._t0 + duration
        self._next = 0

    def stop(self) -> None:
        """No slot after now; slots that were due and never taken (no user came for them) count as dropped."""
        self._end = min(self._end, self.clock())
        if self._t0 is not None:
            due = max(0, math.ceil((self._end - self._t0) * self.rate - 1e-9))
            if due > self._next:
                self.stats.dropped += due - self._next
                self._next = due

    @property
    def scheduled(self) -> int:
        """Slots the schedule holds from its start to its end (or to now when open-ended)."""
        if self._t0 is None:
            return 0
        end = min(self._end, self.clock())
        return max(0, math.ceil((end - self._t0) * self.rate - 1e-9))

    def take(self) -> float | None:
        """The start time (clock value) of the caller's next iteration, or None when the schedule is over."""
        if self._t0 is None:
            raise RuntimeError("the pacer has not been started")
        now = self.clock()
        slot = self._t0 + self._next / self.rate
        lag = now - slot
        if lag > self.drop_after:
            # nobody was free for these: skip to the oldest slot that is still within drop_after
            skip = math.ceil((lag - self.drop_after) * self.rate - 1e-9)
            # slots past the end of the schedule were never due: they are not dropped
            due = math.ceil((self._end - self._t0) * self.rate - 1e-9) if self._end < math.inf else None
            self.stats.dropped += skip if due is None else max(0, min(skip, due - self._next))
            self._next += skip
            slot = self._t0 + self._next / self.rate
            lag = now - slot
        if slot >= self._end:
            return None
        self._next += 1
        self.stats.taken += 1
        if lag > self.late_after:
            self.stats.late += 1
        self.stats.max_lag = max(self.stats.max_lag, lag)
        return slot
