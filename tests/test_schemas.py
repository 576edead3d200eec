"""holyfields: registry, fast/detailed validation, issues, parsing, factories, properties, mutations."""

from __future__ import annotations

import copy
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

import holyfields as schemas
from holyfields import (
    FAST_BACKENDS,
    SCHEMA_DIR,
    JsonInvalid,
    Registry,
    ValidationIssue,
    dlq_reason,
    make_envelope,
    parse_json,
    registry,
    sample_payload,
)
from holyfields._validate import ecma_regex, json_path

REG = registry()
PROPERTY: dict[str, Any] = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
}
UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
TS = "2025-01-15T09:30:00Z"


def rules_at(issues: list[ValidationIssue]) -> set[tuple[str, str]]:
    return {(issue.rule, issue.path) for issue in issues}


def agree(envelope: object, reg: Registry = REG) -> None:
    """The fast verdict and the detailed validator agree, for both values of require_known_type."""
    for known in (True, False):
        fast = reg.is_valid(envelope, require_known_type=known)
        detailed = reg.explain(envelope, require_known_type=known)
        assert fast == (not detailed), (known, envelope, detailed)
        assert reg.validate(envelope, require_known_type=known) == ([] if fast else detailed)


# ------------------------------------------------------------------------------------------- public API


def test_public_api_is_exported() -> None:
    expected = {
        "SCHEMA_DIR",
        "Registry",
        "registry",
        "ValidationIssue",
        "JsonInvalid",
        "parse_json",
        "dlq_reason",
        "make_envelope",
        "sample_payload",
        "build_event_types_schema",
    }
    assert expected <= set(schemas.__all__)
    assert all(hasattr(schemas, name) for name in schemas.__all__)


def test_registry_is_cached_and_sorted() -> None:
    assert registry() is REG
    assert REG.root == SCHEMA_DIR
    assert list(REG.event_types) == sorted(REG.event_types)
    assert set(REG.schemas()) == set(REG.event_types)
    assert REG.payload_schema("nope.nope.v1") is None
    assert REG.envelope_schema["$id"].endswith("core/event-envelope.v1.schema.json")


def test_validation_issue_is_frozen_and_serialises() -> None:
    issue = ValidationIssue("$.event_id", "$.event_id: 'abc' is not a valid uuid", "format:uuid")
    assert issue.scope == "envelope"
    assert issue.as_dict() == {"path": "$.event_id", "message": issue.message, "rule": "format:uuid"}
    with pytest.raises(AttributeError):
        issue.path = "$"  # type: ignore[misc]


# ------------------------------------------------------------------------------------------- validation


def test_message_names_field_and_rule() -> None:
    issues = REG.validate(make_envelope(event_id="abc"))
    assert [issue.message for issue in issues] == ["$.event_id: 'abc' is not a valid uuid"]
    assert issues[0].rule == "format:uuid"


def test_all_violations_are_reported_envelope_and_payload() -> None:
    envelope = make_envelope(
        "github.pr.opened.v1",
        event_id="abc",
        timestamp="2025-01-15",
        correlation_ids=[UUID, "x"],
        source={"host": "h", "type": "robot"},
        payload={"repo_owner": "o", "repo_name": "r", "pr_number": 0, "title": "t", "url": "no uri"},
    )
    issues = REG.validate(envelope)
    assert rules_at(issues) == {
        ("format:uuid", "$.event_id"),
        ("format:date-time", "$.timestamp"),
        ("enum", "$.source.type"),
        ("format:uuid", "$.correlation_ids[1]"),
        ("required", "$.payload.author"),
        ("minimum", "$.payload.pr_number"),
        ("format:uri", "$.payload.url"),
    }
    assert {issue.scope for issue in issues if issue.path.startswith("$.payload")} == {"payload"}
    assert dlq_reason(issues) == "envelope_invalid"
    for issue in issues:
        assert issue.message.startswith(issue.path + ": ")


def test_unknown_event_type_depends_on_require_known_type() -> None:
    envelope = make_envelope("fireflies.transcript.ready.v9", payload={"anything": 1})
    issues = REG.validate(envelope)
    assert rules_at(issues) == {("unknown_event_type", "$.event_type")}
    assert "did you mean 'fireflies.transcript.ready.v1'" in issues[0].message
    assert dlq_reason(issues) == "envelope_invalid"
    assert not REG.is_valid(envelope)
    assert REG.is_valid(envelope, require_known_type=False)
    assert REG.validate(envelope, require_known_type=False) == []
    # the envelope itself is still checked for unknown types
    broken = {**envelope, "event_id": "abc"}
    assert rules_at(REG.validate(broken, require_known_type=False)) == {("format:uuid", "$.event_id")}


def test_known_type_payload_checked_even_without_require_known_type() -> None:
    envelope = make_envelope("github.pr.opened.v1", payload={})
    assert not REG.is_valid(envelope, require_known_type=False)
    assert dlq_reason(REG.validate(envelope, require_known_type=False)) == "payload_invalid"


def test_malformed_event_type_is_a_pattern_issue_not_unknown() -> None:
    issues = REG.validate(make_envelope(event_type="GitHub.PR.Opened.v1"))
    assert rules_at(issues) == {("pattern", "$.event_type")}


@pytest.mark.parametrize("value", [[], "x", None, 42, 1.5, True])
def test_non_object_bodies(value: object) -> None:
    assert not REG.is_valid(value)
    assert rules_at(REG.validate(value)) == {("type", "$")}


def test_python_values_outside_json_never_raise() -> None:
    weird = make_envelope()
    weird[1] = "int key"  # type: ignore[index]
    assert not REG.is_valid(weird)
    assert ("type", "$") in rules_at(REG.validate(weird))


def test_dlq_reason() -> None:
    envelope_issue = ValidationIssue("$.event_id", "m", "format:uuid", "envelope")
    payload_issue = ValidationIssue("$.payload.title", "m", "required", "payload")
    assert dlq_reason([payload_issue]) == "payload_invalid"
    assert dlq_reason([payload_issue, envelope_issue]) == "envelope_invalid"
    with pytest.raises(ValueError):
        dlq_reason([])


def test_json_path_formatting() -> None:
    assert json_path([]) == "$"
    assert json_path(["payload", "sentences", 0, "text"]) == "$.payload.sentences[0].text"
    assert json_path(["meta", "odd key", "it's"]) == "$.meta['odd key']['it\\'s']"


def test_ecma_dollar_does_not_match_before_a_trailing_newline() -> None:
    regex = ecma_regex(r"^[a-z]+\.v[0-9]+$")
    assert regex.search("abc.v1")
    assert not regex.search("abc.v1\n")
    assert ecma_regex(r"^[$]\$x$").search("$$x")


# ---------------------------------------------------------------------------------------------- parsing


def test_parse_json_accepts_bytes_str_and_buffers() -> None:
    body = json.dumps(make_envelope())
    assert parse_json(body) == parse_json(body.encode()) == parse_json(bytearray(body.encode()))
    assert parse_json(memoryview(body.encode()))["version"] == "1.0.0"  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "empty"),
        (b"  ", "empty"),
        (b"{", "not valid JSON"),
        (b'{"a": NaN}', "not valid JSON"),
        ('{"t": "caf\u00e9"}'.encode("latin-1"), "UTF-8"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),
    ],
)
def test_parse_json_errors_are_clear(body: bytes, needle: str) -> None:
    with pytest.raises(JsonInvalid, match=needle) as caught:
        parse_json(body)
    assert isinstance(caught.value, ValueError)


# -------------------------------------------------------------------------------------------- factories


def test_make_envelope_defaults_and_overrides() -> None:
    envelope = make_envelope()
    assert envelope["event_type"] == schemas.DEFAULT_EVENT_TYPE
    assert envelope["version"] == "1.0.0" and envelope["correlation_ids"] == []
    assert envelope["timestamp"].endswith("Z")
    assert REG.validate(envelope) == []
    parent = make_envelope()["event_id"]
    child = make_envelope(
        "agent.tool.invoked.v1",
        correlation_ids=[parent],
        trace_context={
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "trace_flags": "01",
        },
    )
    assert child["correlation_ids"] == [parent] and REG.is_valid(child)
    assert make_envelope(payload={"x": 1})["payload"] == {"x": 1}
    assert make_envelope("custom.thing.happened.v1")["payload"] == {}
    assert make_envelope()["event_id"] != make_envelope()["event_id"]


@pytest.mark.parametrize("event_type", REG.event_types)
def test_sample_payload_is_deterministic_and_complete(event_type: str) -> None:
    first = sample_payload(event_type, random.Random(7))
    assert first == sample_payload(event_type, random.Random(7))
    assert set(first) == set(REG.payload_schema(event_type)["properties"])  # type: ignore[index]
    assert REG.validate(make_envelope(event_type, payload=first)) == []


def test_sample_payload_unknown_type_suggests() -> None:
    with pytest.raises(KeyError, match=re.escape("did you mean 'github.pr.opened.v1'")):
        sample_payload("github.pr.opend.v1")


# -------------------------------------------------------------------------------------- other folders


def test_registry_load_of_another_folder(tmp_path: Path) -> None:
    shutil.copytree(SCHEMA_DIR, tmp_path / "schemas")
    extra = tmp_path / "schemas" / "acme" / "widget.built.v2.schema.json"
    extra.parent.mkdir()
    extra.write_text(
        json.dumps(
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "required": ["size"],
                "properties": {"size": {"type": "integer"}},
            }
        )
    )
    reg = Registry.load(tmp_path / "schemas")
    assert "acme.widget.built.v2" in reg.event_types
    assert reg.is_valid(make_envelope("acme.widget.built.v2", payload={"size": 3}))
    assert rules_at(reg.validate(make_envelope("acme.widget.built.v2", payload={"size": "3"}))) == {
        ("type", "$.payload.size")
    }


def test_registry_load_rejects_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no envelope schema"):
        Registry.load(tmp_path)
    shutil.copytree(SCHEMA_DIR, tmp_path / "s")
    bad_name = tmp_path / "s" / "acme" / "Widget.v1.schema.json"
    bad_name.parent.mkdir()
    bad_name.write_text("{}")
    with pytest.raises(ValueError, match="rename its schema file"):
        Registry.load(tmp_path / "s")
    bad_name.unlink()
    (tmp_path / "s" / "acme" / "widget.built.v1.schema.json").write_text('{"type": 12}')
    with pytest.raises(ValueError, match="not a valid draft-07 schema"):
        Registry.load(tmp_path / "s")


def test_unknown_fast_backend() -> None:
    with pytest.raises(ValueError, match="unknown fast validator backend"):
        Registry.load(SCHEMA_DIR, fast_backend="nope")


# ------------------------------------------------------------------------------ schema-driven mutations

_SENTINELS: dict[str, Any] = {
    "string": 12345,
    "integer": "1",
    "number": "1.5",
    "boolean": "true",
    "array": {},
    "object": [],
}
_BAD_FORMATS = {"uuid": "not-a-uuid", "date-time": "2025-01-15", "uri": "not a uri"}


def mutations(schema: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(property, rule, bad value) for every rule a top-level payload property carries."""
    out: list[tuple[str, str, Any]] = [(name, "required", None) for name in schema.get("required", [])]
    for name, prop in schema["properties"].items():
        out.append((name, "type", _SENTINELS[prop["type"]]))
        if "enum" in prop:
            out.append((name, "enum", "not-in-the-enum"))
        if "minimum" in prop:
            out.append((name, "minimum", prop["minimum"] - 1))
        if "maximum" in prop:
            out.append((name, "maximum", prop["maximum"] + 1))
        if prop.get("minLength") and "format" not in prop:
            out.append((name, "minLength", ""))
        if "format" in prop:
            out.append((name, f"format:{prop['format']}", _BAD_FORMATS[prop["format"]]))
    return out


@pytest.mark.parametrize("event_type", REG.event_types)
def test_every_payload_rule_is_enforced(event_type: str) -> None:
    schema = REG.payload_schema(event_type)
    assert schema is not None
    base = make_envelope(
        event_type, payload=sample_payload(event_type, random.Random(1)), event_id=UUID, timestamp=TS
    )
    for name, rule, value in mutations(schema):
        envelope = copy.deepcopy(base)
        if rule == "required":
            del envelope["payload"][name]
        else:
            envelope["payload"][name] = value
        issues = REG.validate(envelope)
        assert (rule, f"$.payload.{name}") in rules_at(issues), (name, rule, value, issues)
        assert dlq_reason(issues) == "payload_invalid"
        agree(envelope)


def test_every_envelope_required_field_and_format_is_enforced() -> None:
    base = make_envelope(agent_context={"type": "claude", "instance_id": UUID}, correlation_ids=[UUID])
    for name in REG.envelope_schema["required"]:
        broken = {k: v for k, v in base.items() if k != name}
        assert ("required", f"$.{name}") in rules_at(REG.validate(broken))
    for path, value, rule in (
        (("event_id",), "x", "format:uuid"),
        (("correlation_ids", 0), "x", "format:uuid"),
        (("agent_context", "instance_id"), "x", "format:uuid"),
        (("timestamp",), "2025-01-15T09:30:00", "format:date-time"),
        (("source", "type"), "robot", "enum"),
        (("agent_context", "type"), "gpt", "enum"),
    ):
        broken = copy.deepcopy(base)
        node: Any = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        assert (rule, json_path(path)) in rules_at(REG.validate(broken)), path
        agree(broken)


# ------------------------------------------------------------------------------------- property tests

event_types = st.sampled_from(REG.event_types)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@settings(**PROPERTY, max_examples=150)
@given(event_types, seeds)
def test_make_envelope_is_always_valid(event_type: str, seed: int) -> None:
    envelope = make_envelope(event_type, payload=sample_payload(event_type, random.Random(seed)))
    assert REG.is_valid(envelope)
    assert REG.explain(envelope) == []


@pytest.mark.parametrize("event_type", REG.event_types)
def test_hypothesis_jsonschema_payloads_are_accepted(event_type: str) -> None:
    strategy = from_schema(REG.payload_schema(event_type), custom_formats={"uuid": st.uuids().map(str)})

    @settings(**PROPERTY, max_examples=8)
    @given(strategy)
    def check(payload: dict[str, Any]) -> None:
        envelope = make_envelope(event_type, payload=payload, event_id=UUID, timestamp=TS)
        assert REG.is_valid(envelope), REG.explain(envelope)
        assert REG.explain(envelope) == []

    check()


_UUID_VALUE = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
#: valid values of the constrained envelope/payload strings and near misses engines tend to disagree on
TRICKY_STRINGS = [
    "",
    "\n",
    UUID,
    UUID.upper(),
    UUID + "\n",
    "{" + UUID + "}",
    UUID.replace("-", ""),
    "urn:uuid:" + UUID,
    TS,
    TS + "\n",
    "2025-01-15t09:30:00z",
    "2025-01-15T09:30:00.123456789+05:30",
    "2016-12-31T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2025-01-15T09:30:00+0100",
    "2025-01-15 09:30:00Z",
    "\uff12\uff10\uff12\uff15-01-15T09:30:00Z",
    "github.pr.opened.v1",
    "github.pr.opened.v1\n",
    "n8n.workflow.completed.v1",
    "a.b.v\u0661",
    "A.b.v1",
    "1.0.0",
    "1.0.0\n",
    "\u0661.0.0",
    "manual",
    "claude",
    "robot",
    "01",
    "1",
    "0A",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "4bf92f3577b34da6a3ce929d0e0e4736\n",
    "00f067aa0ba902b7",
    "https://github.com/delorenj/33god/pull/128",
    "https://x/\n",
    "http://exa mple.com",
    "http://[::1]/",
    "a:b",
    "http://x/%zz",
    "http://\u00e9.com/",
    "mailto:x",
    "//x",
    "http:",
]
TRICKY_PATHS = [
    ("event_id",),
    ("timestamp",),
    ("event_type",),
    ("version",),
    ("correlation_ids", 0),
    ("trace_context", "trace_id"),
    ("trace_context", "trace_flags"),
    ("source", "type"),
    ("payload", "url"),
    ("payload", "title"),
]
_NEAR_MISSES = st.one_of(
    st.sampled_from(TRICKY_STRINGS),
    st.from_regex(r"\A[0-9a-fA-Fg-]{30,38}\n?\Z"),
    st.from_regex(
        r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,4})?"
        r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?\n?\Z"
    ),
    st.from_regex(r"\A[a-z0-9]{1,6}\.[a-z_.A-Z]{1,12}\.v[0-9\u0661]{1,2}\n?\Z"),
    st.from_regex(r"\A(https?|ftp|x)?:?(//)?[a-z.%\[\]: @]{0,12}(/[ -~]{0,8})?\n?\Z"),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    _NEAR_MISSES,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*prefix, index)))
    return out


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> object:
    event_type = draw(st.one_of(event_types, st.sampled_from(["unknown.thing.v1", "Bad.Type"])))
    known = event_type in REG.event_types
    envelope: Any = make_envelope(
        event_type,
        payload=sample_payload(event_type, random.Random(draw(seeds))) if known else {"x": 1},
        event_id=UUID,
        timestamp=TS,
        correlation_ids=draw(st.lists(st.uuids().map(str), max_size=2)),
        agent_context={
            "type": "claude",
            "name": "t",
            "instance_id": UUID,
            "mcp_servers": ["a"],
            "session_id": "s",
        },
        trace_context={
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "trace_flags": "01",
        },
    )
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(envelope)))
        if not path:
            if draw(st.integers(0, 9)) == 0:
                envelope = draw(_VALUES)
            continue
        parent: Any = envelope
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(_VALUES)
        else:
            parent[path[-1]] = draw(_VALUES)
        if not isinstance(envelope, dict):
            break
    return envelope


@settings(**PROPERTY, max_examples=500)
@given(mutated_envelopes())
def test_fast_and_detailed_validators_agree_on_mutations(envelope: object) -> None:
    agree(envelope)


def _set_in_pr_envelope(path: tuple[Any, ...], value: str) -> dict[str, Any]:
    envelope = make_envelope(
        "github.pr.opened.v1",
        event_id=UUID,
        timestamp=TS,
        correlation_ids=[UUID],
        trace_context={
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "trace_flags": "01",
        },
    )
    parent: Any = envelope
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return envelope


@pytest.mark.parametrize("path", TRICKY_PATHS, ids=lambda path: ".".join(map(str, path)))
def test_fast_and_detailed_validators_agree_on_tricky_strings(path: tuple[Any, ...]) -> None:
    for value in TRICKY_STRINGS:
        agree(_set_in_pr_envelope(path, value))


@settings(**PROPERTY, max_examples=300)
@given(st.sampled_from(TRICKY_PATHS), _NEAR_MISSES)
def test_fast_and_detailed_validators_agree_on_near_miss_strings(path: tuple[Any, ...], value: str) -> None:
    agree(_set_in_pr_envelope(path, value))


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_every_backend_agrees_with_the_detailed_validator_on_samples(backend: str) -> None:
    reg = REG if backend == REG.fast_backend else Registry.load(SCHEMA_DIR, fast_backend=backend)
    rng = random.Random(3)
    for event_type in REG.event_types:
        envelope = make_envelope(event_type, payload=sample_payload(event_type, rng))
        agree(envelope, reg)
        agree({**envelope, "event_id": "abc"}, reg)
        agree({**envelope, "timestamp": "2016-12-31T23:59:60Z"}, reg)
        agree({**envelope, "event_type": envelope["event_type"] + "\n"}, reg)
