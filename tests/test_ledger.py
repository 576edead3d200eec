"""The ledger's arithmetic: lost, duplicated, unexpected dead letters, recovery time."""

from __future__ import annotations

import json
import uuid

import pytest

from harness.ledger import DeadLetter, Ledger


def _ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def _letter(event_id: str, reason: str = "envelope_invalid") -> DeadLetter:
    return DeadLetter(event_id=event_id, reason=reason, detail="", body=b"{}", routing_key="dlq.candystore")


def test_all_stored_once_is_ok() -> None:
    ledger = Ledger("clean")
    ids = _ids(5)
    for eid in ids:
        ledger.attempt(eid, accepted=True)
    ledger.observe_stored({eid: 1 for eid in ids})
    verdict = ledger.verdict()
    assert verdict.ok and verdict.accepted == 5 and verdict.stored == 5 and verdict.lost == 0


def test_missing_event_is_lost_and_named() -> None:
    ledger = Ledger("loss")
    ids = _ids(3)
    for eid in ids:
        ledger.attempt(eid, accepted=True)
    ledger.observe_stored({ids[0]: 1, ids[1]: 1})
    verdict = ledger.verdict()
    assert not verdict.ok and verdict.lost == 1 and verdict.lost_ids == [ids[2]]
    assert "lost (first 1)" in verdict.table() and "FAILED" in verdict.table()


def test_rejected_events_are_not_owed() -> None:
    ledger = Ledger("rejected")
    accepted, rejected = _ids(2)
    ledger.attempt(accepted, accepted=True)
    ledger.attempt(rejected, accepted=False)
    ledger.observe_stored({accepted: 1})
    verdict = ledger.verdict()
    assert verdict.ok and verdict.rejected == 1 and verdict.lost == 0


def test_retry_that_finally_succeeds_counts_as_accepted() -> None:
    ledger = Ledger("retry")
    (eid,) = _ids(1)
    ledger.attempt(eid, accepted=False)
    ledger.attempt(eid, accepted=True)
    ledger.attempt(eid, accepted=False)  # a late failure report does not undo the acceptance
    assert ledger.verdict().accepted == 1


def test_duplicates_are_counted() -> None:
    ledger = Ledger("dup")
    ids = _ids(2)
    for eid in ids:
        ledger.attempt(eid, accepted=True)
    ledger.observe_stored({ids[0]: 2, ids[1]: 1})
    verdict = ledger.verdict()
    assert verdict.duplicated == 1 and verdict.duplicated_ids == [ids[0]] and not verdict.ok


def test_dead_letters_expected_and_unexpected() -> None:
    ledger = Ledger("dlq")
    good, bad, valid_but_dlq = _ids(3)
    ledger.attempt(good, accepted=True)
    ledger.attempt(bad, accepted=True, expect_dead_letter=True)
    ledger.attempt(valid_but_dlq, accepted=True)
    ledger.observe_stored({good: 1})
    ledger.observe_dead_letters([_letter(bad), _letter(valid_but_dlq, "retries_exhausted")])
    verdict = ledger.verdict()
    assert verdict.lost == 0 and verdict.dead_lettered == 2
    assert verdict.unexpected_dead_letters == 1 and not verdict.ok
    assert verdict.dead_letter_reasons == {"envelope_invalid": 1, "retries_exhausted": 1}


def test_foreign_observations_are_ignored() -> None:
    ledger = Ledger("foreign")
    (eid,) = _ids(1)
    ledger.attempt(eid, accepted=True)
    ledger.observe_stored({eid: 1, str(uuid.uuid4()): 3})
    ledger.observe_dead_letters([_letter(str(uuid.uuid4()))])
    verdict = ledger.verdict()
    assert verdict.ok and verdict.stored == 1 and verdict.dead_lettered == 0


def test_recovery_time_measured_from_fault_cleared_to_settled() -> None:
    ledger = Ledger("recovery")
    (eid,) = _ids(1)
    ledger.attempt(eid, accepted=True)
    ledger.fault_cleared()
    assert not ledger.settled()
    assert ledger.verdict().recovery_seconds is None
    ledger.observe_stored({eid: 1})
    assert ledger.settled()
    recovery = ledger.verdict().recovery_seconds
    assert recovery is not None and recovery >= 0


def test_json_output(tmp_path) -> None:
    ledger = Ledger("json")
    (eid,) = _ids(1)
    ledger.attempt(eid, accepted=True)
    ledger.write_json(tmp_path / "ledger.json")
    data = json.loads((tmp_path / "ledger.json").read_text())
    assert data["lost"] == 1 and data["ok"] is False and data["name"] == "json"


@pytest.mark.integration
def test_api_stored_counts_sees_a_published_event(bloodbank, candystore, candystore_url) -> None:
    """The black-box collector lists what Candystore stored (through GET /events pages)."""
    import time

    from harness.ledger import api_stored_counts
    from holyfields import make_envelope

    envelope = make_envelope("github.pr.opened.v1")
    assert bloodbank.publish(envelope).status_code == 202
    candystore.wait_stored(envelope["event_id"])
    counts = api_stored_counts(candystore_url, since=time.time(), page=50)
    assert counts.get(envelope["event_id"]) == 1
