"""Property-based envelope fuzzing: generated valid envelopes are accepted and stored field-identical;
generated invalid ones are rejected at publish naming the broken field, and dead-lettered with the right
reason when injected raw; nothing is ever answered with a 5xx.

Examples are generated up front (deterministic: see docs/adr/0007-fuzzing-profile.md) and sent in bulk;
storage and dead letters are then checked in bulk with bounded polling, never one wait per example.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from scenarios import RAW_ROUTING_KEY, collect_dead_letters, fetch_stored, field_differences, names_path
from scenarios.fuzz.strategies import (
    REG,
    Case,
    dead_letter_reason,
    generate,
    invalid_cases,
    publish_issues,
    valid_envelopes,
)

pytestmark = pytest.mark.fuzz


Problem = tuple[str, str, str]  # (defect, detail, example)


def _report(problems: list[Problem], total: int) -> str:
    """First line: how many examples failed, by defect; then the smallest example of each defect
    (what shrinking would show)."""
    by_defect: dict[str, list[Problem]] = {}
    for problem in problems:
        by_defect.setdefault(problem[0], []).append(problem)
    counts = "; ".join(f"{defect} ({len(found)})" for defect, found in by_defect.items())
    lines = [f"{len(problems)} of {total} generated inputs showed a defect: {counts}"]
    for defect, found in by_defect.items():
        _, detail, example = min(found, key=lambda p: len(p[2]))
        lines.append(f"- {defect}: {detail[:300]}\n    smallest example: {example[:400]}")
    return "\n".join(lines)


def _enough(examples: list[Any], wanted: int) -> None:
    assert len(examples) >= wanted * 0.95, f"only {len(examples)} of {wanted} examples generated"


def _fresh_id(case: Case) -> None:
    if isinstance(case.envelope, dict) and case.mutation.path != "$.event_id" and "event_id" in case.envelope:
        case.envelope["event_id"] = str(uuid.uuid4())


def test_generated_valid_envelopes_are_accepted_and_stored_identical(
    bloodbank: Any, candystore: Any, fuzz_budget: dict[str, int]
) -> None:
    """Valid envelope rejected at publish, answered 5xx, lost, or changed in storage (fuzzed)."""
    wanted = fuzz_budget["valid"]
    envelopes = generate(valid_envelopes().filter(REG.is_valid), wanted, label=7001)
    _enough(envelopes, wanted)
    problems: list[Problem] = []
    accepted: dict[str, dict[str, Any]] = {}
    for envelope in envelopes:
        envelope["event_id"] = str(uuid.uuid4())  # runs may share a store: ids are never reused
        response = bloodbank.publish(envelope)
        example = json.dumps(envelope, ensure_ascii=False)
        if response.status_code >= 500:
            problems.append(("valid envelope answered 5xx", str(response.status_code), example))
        elif not bloodbank.accepted(response):
            detail = f"{response.status_code} {response.text[:200]}"
            problems.append(("valid envelope rejected at publish", detail, example))
        else:
            accepted[envelope["event_id"]] = envelope
    found, missing = fetch_stored(candystore, accepted, timeout=60)
    for event_id, envelope in accepted.items():
        example = json.dumps(envelope, ensure_ascii=False)
        if event_id in missing:
            problems.append(("accepted at publish but never stored (lost)", event_id, example))
            continue
        added = () if "trace_context" in envelope else ("trace_context",)
        differences = field_differences(envelope, found[event_id], may_add=added)
        if differences:
            problems.append(
                ("envelope fields dropped or renamed in storage", "; ".join(differences), example)
            )
    assert not problems, _report(problems, len(envelopes))


def test_generated_invalid_envelopes_are_rejected_at_publish_naming_the_field(
    bloodbank: Any, fuzz_budget: dict[str, int]
) -> None:
    """Malformed event accepted at publish (no validation), answered 5xx, or rejected without naming it."""
    wanted = fuzz_budget["publish_invalid"]
    strategy = invalid_cases(at_publish=True).filter(
        lambda c: not c.mutation.fills and bool(publish_issues(c))
    )
    cases = generate(strategy, wanted, label=7002)
    _enough(cases, wanted)
    problems: list[Problem] = []
    for case in cases:
        _fresh_id(case)
        response = bloodbank.publish(case.envelope)
        example = f"{case.mutation.what}: {json.dumps(case.envelope, ensure_ascii=False)}"
        status = response.status_code
        if status >= 500:
            problems.append(("a 4xx condition answered with 5xx", f"{status} {response.text[:200]}", example))
        elif status < 400:
            detail = f"answered {status} to {case.mutation.what}"
            problems.append(("malformed event accepted at publish (no validation)", detail, example))
        elif not names_path(response.text, case.mutation.path):
            detail = f"{case.mutation.path} not named in {status} {response.text[:200]}"
            problems.append(("4xx answer does not name the broken field", detail, example))
    assert not problems, _report(problems, len(cases))


def _routing_key(case: Case) -> str:
    event_type = case.envelope.get("event_type") if isinstance(case.envelope, dict) else None
    if isinstance(event_type, str) and event_type.isascii() and 0 < len(event_type) < 200:
        return event_type
    return RAW_ROUTING_KEY


def test_generated_invalid_messages_are_dead_lettered_with_the_right_reason(
    inject: Any, dlq_tap: Any, candystore: Any, fuzz_budget: dict[str, int]
) -> None:
    """Failed messages acknowledged and lost (no DLQ), stored, or dead-lettered with a wrong reason (fuzz)."""
    wanted = fuzz_budget["raw_invalid"]
    strategy = invalid_cases(at_publish=False).filter(lambda c: dead_letter_reason(c.body()) is not None)
    cases = generate(strategy, wanted, label=7003)
    _enough(cases, wanted)
    sent: dict[str, tuple[bytes, str, Case]] = {}
    for case in cases:
        _fresh_id(case)
        body = case.body()
        reason = dead_letter_reason(body)
        assert reason is not None
        sent[inject(body, _routing_key(case))] = (body, reason, case)
    letters, missing = collect_dead_letters(
        dlq_tap, {mid: body for mid, (body, _, _) in sent.items()}, timeout=60
    )
    problems: list[Problem] = []
    for mid in missing:
        body, reason, case = sent[mid]
        event_id = case.envelope.get("event_id") if isinstance(case.envelope, dict) else None
        stored = isinstance(event_id, str) and candystore.get_event(event_id).status_code == 200
        defect = "invalid message stored" if stored else "failed message acknowledged and lost (no DLQ)"
        problems.append((defect, f"expected a dead letter {reason}", f"{case.mutation.what}: {body[:300]!r}"))
    for mid, letter in letters.items():
        body, reason, case = sent[mid]
        example = f"{case.mutation.what}: {body[:300]!r}"
        if letter.reason != reason:
            detail = f"dead-lettered as {letter.reason!r}, expected {reason!r}"
            problems.append(("wrong dead-letter reason", detail, example))
        if letter.body != body:
            problems.append(
                ("dead-lettered body is not the original bytes", repr(letter.body[:200]), example)
            )
    assert not problems, _report(problems, len(cases))
