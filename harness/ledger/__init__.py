"""The event ledger: zero data loss, measured.

Every publish attempt is recorded with the answer the producer got; every stored event and every dead-lettered
message observed afterwards is recorded too. The verdict says, for the events a producer was told were
accepted, how many were lost (neither stored nor dead-lettered), duplicated (stored more than once) or
unexpectedly dead-lettered, and how long the pipeline took to recover after a fault.

    ledger = Ledger("postgres-down-10s")
    ledger.attempt(event_id, accepted=True)
    ...
    ledger.fault_cleared()                       # the faulty component is back
    ledger.observe_stored(api_stored_counts(candystore_url, since=ledger.started_at))
    ledger.observe_dead_letters(drain_dead_letters(channel, "dlq.all"))
    verdict = ledger.verdict()                   # {"lost": 0, "duplicated": 0, ...}
"""

from harness.ledger._collect import (
    DeadLetter,
    api_stored_counts,
    db_stored_counts,
    drain_dead_letters,
    wait_until_settled,
)
from harness.ledger._ledger import Ledger, Verdict

__all__ = [
    "DeadLetter",
    "Ledger",
    "Verdict",
    "api_stored_counts",
    "db_stored_counts",
    "drain_dead_letters",
    "wait_until_settled",
]
