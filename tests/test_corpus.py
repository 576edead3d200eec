"""The envelope corpus: every file classified as labelled, case coverage, no drift from its generator."""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from types import ModuleType

import pytest

from harness.corpus import FIXTURE_DIR, InvalidCase, invalid_envelopes, valid_envelopes
from holyfields import FAST_BACKENDS, SCHEMA_DIR, JsonInvalid, Registry, dlq_reason, parse_json, registry

REG = registry()
VALID = valid_envelopes()
INVALID = invalid_envelopes()
ENVELOPE_REQUIRED = ("event_id", "event_type", "timestamp", "version", "source", "correlation_ids", "payload")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_generator", FIXTURE_DIR / "_generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_corpus_matches_its_generator() -> None:
    generator = _generator()
    assert generator.stale(generator.generate()) == [], "run: python fixtures/envelopes/_generate.py"


def test_corpus_size_and_coverage() -> None:
    assert len(VALID) >= 30
    assert len(INVALID) >= 60
    envelopes = [envelope for _, envelope in VALID]
    assert {envelope["event_type"] for envelope in envelopes} == set(REG.event_types)
    assert any("session_id" in envelope.get("agent_context", {}) for envelope in envelopes)
    assert any("trace_context" in envelope for envelope in envelopes)
    assert any(len(envelope["correlation_ids"]) > 1 for envelope in envelopes)
    assert any(set(envelope) - set(REG.envelope_schema["properties"]) for envelope in envelopes)
    assert any(not str(envelope).isascii() for envelope in envelopes)
    assert any("agent_context" not in envelope and "trace_context" not in envelope for envelope in envelopes)


@pytest.mark.parametrize(("name", "envelope"), VALID, ids=[name for name, _ in VALID])
def test_valid_envelope_passes(name: str, envelope: dict) -> None:
    for known in (True, False):
        assert REG.is_valid(envelope, require_known_type=known)
        assert REG.validate(envelope, require_known_type=known) == []
        assert REG.explain(envelope, require_known_type=known) == []


@pytest.mark.parametrize("case", INVALID, ids=[case.name for case in INVALID])
def test_invalid_envelope_is_classified_as_labelled(case: InvalidCase) -> None:
    if case.reason == "json_invalid":
        assert case.rule == "json" and case.path == "$"
        with pytest.raises(JsonInvalid):
            parse_json(case.body)
        return
    envelope = parse_json(case.body)
    assert not REG.is_valid(envelope)
    issues = REG.validate(envelope)
    assert REG.explain(envelope) == issues
    labelled = [issue for issue in issues if issue.rule == case.rule and issue.path == case.path]
    assert labelled, f"{case.name}: expected {case.rule} at {case.path}, got {[i.as_dict() for i in issues]}"
    assert dlq_reason(issues) == case.reason
    assert all(issue.message.startswith(issue.path) for issue in issues)


def test_invalid_corpus_covers_every_envelope_rule() -> None:
    labels = {(case.rule, case.path) for case in INVALID}
    for field in ENVELOPE_REQUIRED:
        assert ("required", f"$.{field}") in labels
    for label in [
        ("format:uuid", "$.event_id"),
        ("format:uuid", "$.correlation_ids[1]"),
        ("format:uuid", "$.agent_context.instance_id"),
        ("format:date-time", "$.timestamp"),
        ("pattern", "$.event_type"),
        ("pattern", "$.version"),
        ("enum", "$.source.type"),
        ("enum", "$.agent_context.type"),
        ("pattern", "$.trace_context.trace_id"),
        ("pattern", "$.trace_context.span_id"),
        ("pattern", "$.trace_context.trace_flags"),
        ("unknown_event_type", "$.event_type"),
        ("type", "$"),
        ("json", "$"),
    ]:
        assert label in labels, label
    date_time_cases = [
        case for case in INVALID if case.rule == "format:date-time" and case.path == "$.timestamp"
    ]
    assert len(date_time_cases) >= 4


def test_invalid_corpus_covers_every_event_type_payload() -> None:
    rules: dict[str, set[str]] = defaultdict(set)
    for case in INVALID:
        if case.reason == "payload_invalid":
            rules[parse_json(case.body)["event_type"]].add(case.rule)  # type: ignore[index]
    assert set(rules) == set(REG.event_types)
    for event_type, seen in rules.items():
        assert {"required", "type"} <= seen, event_type
        assert seen & {"enum", "minimum", "maximum", "minLength", "format:uuid", "format:uri"}, event_type


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_every_fast_backend_classifies_the_corpus_like_the_detailed_validator(backend: str) -> None:
    reg = REG if backend == REG.fast_backend else Registry.load(SCHEMA_DIR, fast_backend=backend)
    for name, envelope in VALID:
        assert reg.is_valid(envelope), (backend, name)
    for case in INVALID:
        if case.reason != "json_invalid":
            envelope = parse_json(case.body)
            assert not reg.is_valid(envelope), (backend, case.name)
            assert reg.explain(envelope), (backend, case.name)
