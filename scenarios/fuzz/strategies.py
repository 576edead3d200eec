"""Hand-written hypothesis strategies for envelopes: valid ones, and invalid ones with the rule they break.

Valid envelopes are built on ``sample_payload`` (so they follow every schema change) plus random unicode,
unknown extra fields, correlation ids, agent and trace contexts. Invalid ones are a valid envelope with ONE
mutation whose JSONPath is recorded; the harness's validator is the oracle of what a service must answer.
Generating this way costs well under a millisecond per example (hypothesis-jsonschema costs ~15 ms).
"""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from holyfields import JsonInvalid, dlq_reason, parse_json, registry, sample_payload

REG = registry()
EVENT_TYPES = REG.event_types
ENVELOPE = REG.envelope_schema["properties"]
SOURCE_TYPES = ENVELOPE["source"]["properties"]["type"]["enum"]
AGENT_TYPES = ENVELOPE["agent_context"]["properties"]["type"]["enum"]
REQUIRED = tuple(REG.envelope_schema["required"])
#: fields Bloodbank fills in when they are missing (SPEC §3): dropping them is not an error at publish
FILLED_BY_BLOODBANK = ("event_id", "timestamp", "version", "source", "correlation_ids", "trace_context")

# --- JSON values ---------------------------------------------------------------------------------------
unicode_text = st.text(st.characters(codec="utf-8"), max_size=24)
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | unicode_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
    max_leaves=8,
)
extras = st.dictionaries(names.map(lambda n: "x_" + n), json_values, max_size=3)
uuid_text = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
hex_digits = "0123456789abcdef"


def hex_text(length: int) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(hex_digits), min_size=length, max_size=length)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """RFC 3339 date-times with offsets, fractions and spellings the envelope schema accepts."""
    moment = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31)))
    offset = draw(st.sampled_from([0, 0, 60, -300, 330, 545, -720, 840]))
    moment = moment.replace(tzinfo=UTC).astimezone(timezone(timedelta(minutes=offset)))
    spec = draw(st.sampled_from(["seconds", "milliseconds", "microseconds"]))
    text = moment.isoformat(timespec=spec)
    if offset == 0 and draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    if draw(st.integers(0, 9)) == 0:
        text = text.lower()
    return text


@st.composite
def free_strings(draw: st.DrawFn, payload: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The payload with some free-text fields (no format, pattern or enum) replaced by random unicode."""
    for name, sub in schema.get("properties", {}).items():
        free = sub.get("type") == "string" and not {"format", "pattern", "enum", "const"} & set(sub)
        if free and name in payload and draw(st.booleans()):
            low, high = sub.get("minLength", 0), sub.get("maxLength", 40)
            payload[name] = draw(st.text(st.characters(codec="utf-8"), min_size=low, max_size=high))
    return payload


@st.composite
def valid_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A schema-valid envelope of a known event type (its ``event_id`` is replaced before sending)."""
    event_type = draw(st.sampled_from(EVENT_TYPES))
    payload = sample_payload(event_type, random.Random(draw(st.integers(0, 2**32 - 1))))
    payload = draw(free_strings(payload, REG.payload_schema(event_type) or {}))
    if draw(st.booleans()):
        payload.update(draw(extras))
    source: dict[str, Any] = {"host": draw(unicode_text), "type": draw(st.sampled_from(SOURCE_TYPES))}
    if draw(st.booleans()):
        source["app"] = draw(unicode_text)
    if draw(st.booleans()):
        source["meta"] = draw(st.dictionaries(names, json_values, max_size=3))
    envelope: dict[str, Any] = {
        "event_id": str(draw(st.uuids())),  # replaced by a fresh uuid4 before sending
        "event_type": event_type,
        "timestamp": draw(timestamps()),
        "version": "{}.{}.{}".format(*draw(st.tuples(*[st.integers(0, 999)] * 3))),
        "source": source,
        "correlation_ids": draw(st.lists(uuid_text, max_size=4)),
        "payload": payload,
    }
    if draw(st.booleans()):
        agent: dict[str, Any] = {"type": draw(st.sampled_from(AGENT_TYPES))}
        optional = {
            "name": unicode_text,
            "instance_id": st.uuids().map(str),
            "system_prompt": st.text(st.characters(codec="utf-8"), max_size=200),
            "mcp_servers": st.lists(unicode_text, max_size=3),
            "file_references": st.lists(unicode_text, max_size=3),
            "session_id": unicode_text,
        }
        for key, strategy in optional.items():
            if draw(st.booleans()):
                agent[key] = draw(strategy)
        agent.update(draw(extras))
        envelope["agent_context"] = agent
    if draw(st.booleans()):
        trace = {"trace_id": draw(hex_text(32)), "span_id": draw(hex_text(16))}
        if draw(st.booleans()):
            trace["trace_flags"] = draw(hex_text(2))
        if draw(st.booleans()):
            trace["tracestate"] = draw(unicode_text)
        envelope["trace_context"] = trace
    envelope.update(draw(extras))
    return envelope


# --- invalid envelopes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutation:
    """One broken rule: the JSONPath it is at, what was done (for messages), and a byte-level edit."""

    path: str
    what: str
    fills: bool = False  # a field Bloodbank may fill in was dropped or nulled: not an error at publish
    byte_edit: tuple[str, float] | None = None  # ("truncate" | "bad_utf8" | "trailing" | ..., position)


@dataclass
class Case:
    """An invalid envelope (or body edit) with its mutation; ``body()`` gives the exact bytes to send."""

    envelope: Any
    mutation: Mutation

    def body(self) -> bytes:
        import json

        raw = json.dumps(self.envelope, ensure_ascii=False, separators=(",", ":")).encode()
        if self.mutation.byte_edit is None:
            return raw
        kind, where = self.mutation.byte_edit
        cut = max(1, min(len(raw) - 1, int(len(raw) * where)))
        return {
            "truncate": raw[:cut],
            "bad_utf8": raw[:cut] + b"\xff" + raw[cut:],
            "trailing": raw + b" {}",
            "bom": b"\xef\xbb\xbf" + raw,
            "single_quotes": raw.replace(b'"', b"'"),
            "nan": raw[:-1] + b',"x_nan":NaN}',
        }[kind]


bad_uuids = st.sampled_from(
    [
        "not-a-uuid",
        "",
        "12345678123456781234567812345678",
        "{12345678-1234-5678-1234-567812345678}",
        "urn:uuid:12345678-1234-5678-1234-567812345678",
        "12345678-1234-5678-1234-56781234567",
        "1234567g-1234-5678-1234-567812345678",
        "12345678-1234-5678-1234-567812345678\n",
        "\uff112345678-1234-5678-1234-567812345678",
    ]
) | unicode_text.filter(lambda s: len(s) != 36)
bad_date_times = st.sampled_from(
    [
        "2025-01-15T09:30:00",
        "2025-01-15 09:30:00Z",
        "2025-13-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2025-01-15T24:00:00Z",
        "2016-12-31T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "2025-01-15",
        "yesterday",
        "1736933400",
        "2025-01-15T09:30:00+0100",
        "2025-01-15T09:30:00Z\n",
        "\u0662\u0660\u0662\u0665-01-15T09:30:00Z",
        "",
    ]
)
bad_versions = st.sampled_from(["1.0", "v1.0.0", "1.0.0-rc.1", "", "1.0.0\n", "\u0661.0.0", "one"])
bad_event_types = st.sampled_from(
    [
        "GitHub.pr.opened.v1",
        "github-pr-opened-v1",
        "github.pr.opened",
        "1github.pr.opened.v1",
        "github.v1",
        "",
    ]
) | unicode_text.filter(lambda s: not s.isascii() or s != s.lower() or "." not in s)
wrong_values = {
    "string": st.sampled_from([0, 1.5, True, [], {}, ["x"], {"a": 1}]),
    "object": st.sampled_from([0, "flattened", True, [], ["x"]]),
    "array": st.sampled_from([0, "one-id", True, {}, {"a": 1}]),
    "integer": st.sampled_from(["1", 1.5, True, [], {}]),
    "number": st.sampled_from(["1.5", True, [], {}]),
    "boolean": st.sampled_from(["true", 1, [], {}]),
}


def _get(doc: Any, path: list[str | int]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _dotted(path: list[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


@st.composite
def envelope_mutations(draw: st.DrawFn, envelope: dict[str, Any]) -> Mutation:
    """Break one envelope rule in place: required, type, uuid, date-time, pattern or enum."""
    targets: list[tuple[list[str | int], str]] = [([name], "required") for name in REQUIRED]
    targets += [(["source", "host"], "required"), (["source", "type"], "required")]
    targets += [([name], "type") for name in REQUIRED]
    targets += [(["source", "host"], "type"), (["source", "type"], "enum"), (["event_id"], "uuid")]
    targets += [(["timestamp"], "date-time"), (["version"], "pattern"), (["event_type"], "pattern")]
    if envelope["correlation_ids"]:
        targets.append((["correlation_ids", len(envelope["correlation_ids"]) - 1], "uuid"))
    if "agent_context" in envelope:
        targets += [(["agent_context", "type"], "enum"), (["agent_context", "type"], "required")]
        targets += [(["agent_context"], "type")]
        if "instance_id" in envelope["agent_context"]:
            targets.append((["agent_context", "instance_id"], "uuid"))
    if "trace_context" in envelope:
        targets += [(["trace_context", "trace_id"], "pattern"), (["trace_context", "span_id"], "required")]
    path, rule = draw(st.sampled_from(targets))
    parent, key = _get(envelope, path[:-1]), path[-1]
    top = path[0]
    fills = len(path) == 1 and top in FILLED_BY_BLOODBANK
    if rule == "required":
        del parent[key]
        return Mutation(_dotted(path), f"dropped required {_dotted(path)}", fills=fills)
    if rule == "type":
        kind = {"source": "object", "payload": "object", "agent_context": "object"}.get(str(top), "string")
        kind = "array" if path == ["correlation_ids"] else kind
        value = draw(st.none() | wrong_values[kind])
        parent[key] = value
        return Mutation(
            _dotted(path), f"{_dotted(path)} = {value!r} (wrong type)", fills=fills and value is None
        )
    value = draw(
        {
            "uuid": bad_uuids,
            "date-time": bad_date_times,
            "enum": unicode_text.filter(lambda s: s not in SOURCE_TYPES + AGENT_TYPES),
            "pattern": {"version": bad_versions, "event_type": bad_event_types}.get(str(key), hex_text(31)),
        }[rule]
    )
    parent[key] = value
    return Mutation(_dotted(path), f"{_dotted(path)} = {value!r} ({rule})")


@st.composite
def payload_mutations(draw: st.DrawFn, envelope: dict[str, Any]) -> Mutation:
    """Break one rule of the payload schema: required, type, enum, bounds, minLength or format."""
    schema = REG.payload_schema(envelope["event_type"]) or {}
    payload = envelope["payload"]
    options: list[tuple[str, str]] = [(name, "required") for name in schema.get("required", [])]
    for name, sub in schema.get("properties", {}).items():
        if name not in payload:
            continue
        options.append((name, "type"))
        options += [
            (name, rule) for rule in ("enum", "minimum", "maximum", "minLength", "format") if rule in sub
        ]
    name, rule = draw(st.sampled_from(options))
    sub = schema.get("properties", {}).get(name, {})
    path = f"$.payload.{name}"
    if rule == "required":
        del payload[name]
        return Mutation(path, f"dropped required {path}")
    if rule == "type":
        kind = sub.get("type", "string")
        value = draw(wrong_values.get(kind if isinstance(kind, str) else "string", wrong_values["string"]))
    elif rule == "enum":
        value = draw(unicode_text.filter(lambda s: s not in sub["enum"]))
    elif rule == "minimum":
        value = sub["minimum"] - draw(st.sampled_from([1, 1000]))
    elif rule == "maximum":
        value = sub["maximum"] + draw(st.sampled_from([1, 1000]))
    elif rule == "minLength":
        value = ""
    else:
        value = {"uri": "not a uri", "date-time": "yesterday", "uuid": "not-a-uuid"}.get(sub["format"], "")
    payload[name] = value
    return Mutation(path, f"{path} = {value!r} ({rule})")


def _plain_envelope(event_type: str, rng_seed: int, with_contexts: bool) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng_seed + 2, version=4)),  # replaced by a fresh id before sending
        "event_type": event_type,
        "timestamp": "2025-01-15T09:30:00.123456Z",
        "version": "1.0.0",
        "source": {"host": "fuzz-host", "type": "agent", "app": "harness-fuzz"},
        "correlation_ids": [str(uuid.UUID(int=rng_seed, version=4))],
        "payload": sample_payload(event_type, random.Random(rng_seed)),
    }
    if with_contexts:
        instance = str(uuid.UUID(int=rng_seed + 1, version=4))
        envelope["agent_context"] = {"type": "claude", "name": "fuzz", "instance_id": instance}
        envelope["trace_context"] = {"trace_id": "ab" * 16, "span_id": "cd" * 8, "trace_flags": "01"}
    return envelope


@st.composite
def invalid_cases(draw: st.DrawFn, *, at_publish: bool) -> Case:
    """One broken envelope. ``at_publish``: only breakage Bloodbank must reject (no byte edits, and no
    dropped field it would fill in); otherwise bodies that are not even JSON are generated too."""
    envelope = _plain_envelope(
        draw(st.sampled_from(EVENT_TYPES)), draw(st.integers(0, 2**32 - 1)), draw(st.booleans())
    )
    kind = draw(st.sampled_from(["envelope", "payload"] if at_publish else ["envelope", "payload", "bytes"]))
    if kind == "bytes":
        edit = draw(st.sampled_from(["truncate", "bad_utf8", "trailing", "bom", "single_quotes", "nan"]))
        where = draw(st.floats(min_value=0.0, max_value=1.0))
        return Case(envelope, Mutation("$", f"body edit {edit}", byte_edit=(edit, where)))
    mutation = draw(envelope_mutations(envelope) if kind == "envelope" else payload_mutations(envelope))
    return Case(envelope, mutation)


def publish_issues(case: Case) -> list[Any]:
    """What Bloodbank must report: every violation of the envelope (unknown event types included)."""
    return REG.validate(case.envelope)


def dead_letter_reason(body: bytes) -> str | None:
    """The reason a consumer must dead-letter ``body`` with; None when it must store it (SPEC §4: the
    payload is validated when its event type is known)."""
    try:
        document = parse_json(body)
    except JsonInvalid:
        return "json_invalid"
    issues = REG.validate(document, require_known_type=False)
    return dlq_reason(issues) if issues else None


def generate(strategy: st.SearchStrategy[Any], count: int, *, label: int) -> list[Any]:
    """``count`` examples of ``strategy``, the same on every run (derandomized, seeded by ``label``)."""
    examples: list[Any] = []

    @seed(label)
    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        examples.append(copy.deepcopy(example))

    collect()
    return examples
