"""The ledger itself: attempts, observations, verdict."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.ledger._collect import DeadLetter


@dataclass(frozen=True)
class Verdict:
    """What happened to the events of one run."""

    name: str
    attempted: int
    accepted: int
    rejected: int
    stored: int
    dead_lettered: int
    lost: int
    duplicated: int
    unexpected_dead_letters: int
    recovery_seconds: float | None
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    lost_ids: list[str] = field(default_factory=list)
    duplicated_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Zero loss, zero duplicates, nothing dead-lettered that should have been stored."""
        return self.lost == 0 and self.duplicated == 0 and self.unexpected_dead_letters == 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def table(self) -> str:
        rows = [
            ("attempted", self.attempted),
            ("accepted", self.accepted),
            ("rejected", self.rejected),
            ("stored", self.stored),
            ("dead-lettered", self.dead_lettered),
            ("lost", self.lost),
            ("duplicated", self.duplicated),
            ("unexpected dead letters", self.unexpected_dead_letters),
            ("recovery seconds", "-" if self.recovery_seconds is None else f"{self.recovery_seconds:.2f}"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"ledger {self.name}: {'OK' if self.ok else 'FAILED'}"]
        lines += [f"  {k:<{width}}  {v}" for k, v in rows]
        if self.lost_ids:
            lines.append(f"  lost (first {len(self.lost_ids)}): {', '.join(self.lost_ids)}")
        if self.duplicated_ids:
            lines.append(f"  duplicated (first {len(self.duplicated_ids)}): {', '.join(self.duplicated_ids)}")
        return "\n".join(lines)


class Ledger:
    """Thread-safe record of publish attempts and of what the pipeline did with them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started_at = time.time()
        self._lock = threading.Lock()
        self._attempts: dict[str, bool] = {}
        self._expected_dlq: set[str] = set()
        self._stored: Counter[str] = Counter()
        self._dead: dict[str, DeadLetter] = {}
        self._fault_cleared_at: float | None = None
        self._recovered_at: float | None = None

    # --- producer side ------------------------------------------------------------------------------
    def attempt(self, event_id: str, *, accepted: bool, expect_dead_letter: bool = False) -> None:
        """A publish attempt and the answer the producer got (accepted = told it was taken)."""
        with self._lock:
            # a retried publish that was finally accepted counts once, as accepted
            self._attempts[event_id] = self._attempts.get(event_id, False) or accepted
            if expect_dead_letter:
                self._expected_dlq.add(event_id)

    @property
    def accepted_ids(self) -> set[str]:
        with self._lock:
            return {eid for eid, ok in self._attempts.items() if ok}

    # --- pipeline side ------------------------------------------------------------------------------
    def observe_stored(self, counts: dict[str, int]) -> None:
        """Stored events seen now (event id -> number of rows); replaces earlier observations."""
        with self._lock:
            self._stored = Counter({k: v for k, v in counts.items() if k in self._attempts})

    def observe_dead_letters(self, letters: list[DeadLetter]) -> None:
        """Dead letters drained from the DLQ (accumulated: draining removes them from the queue)."""
        with self._lock:
            for letter in letters:
                if letter.event_id in self._attempts:
                    self._dead[letter.event_id] = letter

    def fault_cleared(self) -> None:
        """The faulty component is back: recovery time is measured from now."""
        with self._lock:
            self._fault_cleared_at = time.monotonic()
            self._recovered_at = None

    def settled(self) -> bool:
        """True when every accepted event is stored or dead-lettered; notes the recovery time once."""
        with self._lock:
            pending = [
                e for e, ok in self._attempts.items() if ok and not self._stored[e] and e not in self._dead
            ]
            if not pending and self._recovered_at is None:
                self._recovered_at = time.monotonic()
            return not pending

    # --- verdict ------------------------------------------------------------------------------------
    def verdict(self, sample: int = 20) -> Verdict:
        with self._lock:
            accepted = [e for e, ok in self._attempts.items() if ok]
            lost = [e for e in accepted if not self._stored[e] and e not in self._dead]
            duplicated = [e for e, n in self._stored.items() if n > 1]
            unexpected = [e for e in self._dead if e not in self._expected_dlq and self._attempts.get(e)]
            recovery = None
            if self._fault_cleared_at is not None and self._recovered_at is not None:
                recovery = round(max(0.0, self._recovered_at - self._fault_cleared_at), 3)
            return Verdict(
                name=self.name,
                attempted=len(self._attempts),
                accepted=len(accepted),
                rejected=len(self._attempts) - len(accepted),
                stored=sum(1 for n in self._stored.values() if n),
                dead_lettered=len(self._dead),
                lost=len(lost),
                duplicated=len(duplicated),
                unexpected_dead_letters=len(unexpected),
                recovery_seconds=recovery,
                dead_letter_reasons=dict(Counter(d.reason for d in self._dead.values())),
                lost_ids=sorted(lost)[:sample],
                duplicated_ids=sorted(duplicated)[:sample],
            )

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.verdict().as_dict(), indent=2, sort_keys=True) + "\n")
