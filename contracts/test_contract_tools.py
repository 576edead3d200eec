"""The contract tooling itself (no services): result rows, drift check, state handling, misaligned proxy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.misaligned import flatten_event
from harness.contracts import (
    CandystoreStates,
    Mismatch,
    StateContext,
    StateNotRealized,
    check_or_update,
    contract_event,
    fixed_time,
    interaction_results,
    pact_drift,
)
from harness.contracts._pactfile import UPDATE_ENV
from holyfields import registry

VERIFIER_RESULTS = {
    "interactionResults": [
        {"description": "ok one", "result": "OK", "providerStates": []},
        {"description": "ok two", "result": "OK", "providerStates": []},
        {
            "description": "broken one",
            "result": "Error",
            "mismatch": {
                "type": "mismatches",
                "mismatches": [
                    {
                        "type": "BodyMismatch",
                        "path": "$.events[0]",
                        "expected": "",
                        "actual": "",
                        "mismatch": "Actual map is missing the following keys: event_id, version",
                    },
                    {
                        "type": "BodyMismatch",
                        "path": "$.events[1]",
                        "expected": "",
                        "actual": "",
                        "mismatch": "Actual map is missing the following keys: event_id, version",
                    },
                    {"type": "StatusMismatch", "expected": 404, "actual": 500, "mismatch": ""},
                    {
                        "type": "MetadataMismatch",
                        "key": "routing_key",
                        "expected": '"a.b.v1"',
                        "actual": '"x"',
                        "mismatch": "Expected 'x' to be equal to 'a.b.v1'",
                    },
                ],
            },
        },
    ]
}


def test_verifier_results_become_matrix_rows_naming_each_field() -> None:
    """Verifier results become matrix rows with one mismatch per missing field, path, expected and actual"""
    why = [Mismatch.of("provider state", "x exists", "not realized", "timeout")]
    rows = interaction_results(
        VERIFIER_RESULTS,
        provider="p",
        consumer="c",
        expected=["ok one", "broken one", "never run"],
        notes={"ok one": why, "ok two": why, "broken one": why},
        extra={"ok one": [Mismatch.of("metadata.x-signature", "hmac", "sha256=00")]},
    )
    by_name = {row.interaction: row for row in rows}
    broken = by_name["broken one"]
    assert [m.path for m in broken.mismatches] == [
        "provider state",
        "$.events[*].event_id",
        "$.events[*].version",
        "status",
        "metadata.routing_key",
    ]
    assert broken.mismatches[3].expected == "404" and broken.mismatches[3].actual == "500"
    assert "event_id" in broken.describe().splitlines()[0]
    assert not by_name["ok one"].ok  # an extra mismatch fails a row Pact passed
    assert [m.path for m in by_name["ok one"].mismatches] == ["provider state", "metadata.x-signature"]
    assert by_name["ok two"].ok and not by_name["ok two"].mismatches  # notes only explain failures
    assert not by_name["never run"].ok


def test_pact_drift_ignores_library_versions_and_reports_contract_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pact drift check ignores the writing library's version and reports any change of contract"""
    pact = {
        "consumer": {"name": "c"},
        "interactions": [{"description": "d"}],
        "metadata": {"pactRust": {"a": 1}},
    }
    committed, written = tmp_path / "committed.json", tmp_path / "written.json"
    committed.write_text(json.dumps(pact))
    written.write_text(json.dumps({**pact, "metadata": {"pactRust": {"a": 2}}}))
    assert pact_drift(written, committed) == ""
    written.write_text(json.dumps({**pact, "interactions": [{"description": "e"}]}))
    assert '"description": "e"' in pact_drift(written, committed)
    monkeypatch.setenv(UPDATE_ENV, "1")
    assert check_or_update(written, committed) == ""
    assert json.loads(committed.read_text())["interactions"] == [{"description": "e"}]


class _FailingSink:
    description = "a sink that cannot publish"

    def publish(self, envelopes: object) -> None:
        raise StateNotRealized("broker refused")


def test_state_handler_records_problems_instead_of_raising() -> None:
    """A provider state that cannot be realized is recorded with its reason, never raised to the verifier"""
    states = CandystoreStates(
        StateContext(candystore_url="http://127.0.0.1:9", sink=_FailingSink(), timeout=1)
    )
    states("events exist", "setup", None)
    states("no such state", "setup", {"x": 1})
    states("events exist", "teardown", None)
    assert "broker refused" in states.problems["events exist"][0].mismatch
    assert "no handler" in states.problems["no such state"][0].mismatch
    notes = states.notes_for([{"description": "d", "providerStates": [{"name": "events exist"}]}])
    assert len(notes["d"]) == 1


def test_state_events_are_valid_and_identical_for_identical_ids() -> None:
    """Events of provider states are valid envelopes, byte-identical when realized again"""
    make = lambda: contract_event(  # noqa: E731
        "fa6ce214-3182-42c3-b9d6-b24fedb330e6", event_type="agent.tool.invoked.v1", timestamp=fixed_time(1)
    )
    assert make() == make()
    assert registry().validate(make()) == []


def test_misaligned_proxy_flattens_events_as_old_stores_did() -> None:
    """The misaligned Candystore proxy injects the SPEC §6 storage defects"""
    event = {
        "event_id": "e",
        "version": "1.0.0",
        "source": {"host": "h", "type": "agent", "app": "a"},
        "correlation_ids": ["p1", "p2"],
        "agent_context": {"type": "claude"},
        "payload": {},
    }
    assert flatten_event(event) == {"id": "e", "source": "a@h", "correlation_ids": ["p1"], "payload": {}}
