"""The contract folder: event_types.schema.json in sync, every schema well-formed, SPEC §1 honoured."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from holyfields import SCHEMA_DIR, build_event_types_schema, registry, render_event_types_schema
from holyfields.__main__ import main as schemas_main

REG = registry()
SCHEMA_FILES = sorted(SCHEMA_DIR.rglob("*.schema.json"))
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
SPEC_EVENT_TYPES = {
    "fireflies.transcript.upload.v1",
    "fireflies.transcript.ready.v1",
    "fireflies.transcript.processed.v1",
    "fireflies.transcript.failed.v1",
    "theboard.meeting.created.v1",
    "theboard.meeting.round_completed.v1",
    "theboard.meeting.comment_extracted.v1",
    "theboard.meeting.completed.v1",
    "agent.thread.prompt.v1",
    "agent.tool.invoked.v1",
    "github.pr.opened.v1",
    "n8n.workflow.completed.v1",
}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _subschemas(schema: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        yield where, schema
        for key, value in schema.get("properties", {}).items():
            yield from _subschemas(value, f"{where}/properties/{key}")
        if isinstance(schema.get("items"), dict):
            yield from _subschemas(schema["items"], f"{where}/items")


def test_event_types_schema_is_generated_from_the_folder() -> None:
    path = SCHEMA_DIR / "event_types.schema.json"
    assert _load(path) == build_event_types_schema(), "run: python -m holyfields"
    assert path.read_text(encoding="utf-8") == render_event_types_schema(REG)
    assert schemas_main(["--check"]) == 0


def test_the_spec_event_types_are_present() -> None:
    assert set(REG.event_types) >= SPEC_EVENT_TYPES
    assert set(build_event_types_schema()["enum"]) == set(REG.event_types)


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(SCHEMA_DIR)))
def test_schema_file_is_draft07_with_matching_id(path: Path) -> None:
    schema = _load(path)
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"] == "https://33god.io/schemas/" + path.relative_to(SCHEMA_DIR).as_posix()


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(SCHEMA_DIR)))
def test_formats_are_enforced_by_patterns(path: Path) -> None:
    """Draft-07 validators ignore ``format: uuid``; a pattern makes every engine enforce it."""
    for where, sub in _subschemas(_load(path)):
        if sub.get("format") == "uuid":
            assert sub.get("pattern") == UUID_PATTERN, where
        if sub.get("format") == "date-time":
            assert "pattern" in sub, where
        assert "\\d" not in sub.get("pattern", ""), f"{where}: use [0-9], \\d matches non-ASCII digits"
        assert sub.get("additionalProperties", True) is not False, f"{where}: minor versions add fields"


@pytest.mark.parametrize("event_type", REG.event_types)
def test_payload_schema_shape(event_type: str) -> None:
    schema = REG.payload_schema(event_type)
    assert schema is not None and schema["type"] == "object"
    assert set(schema["required"]) <= set(schema["properties"])
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{event_type}.{name} needs a description"


def test_envelope_schema_follows_spec_section_1() -> None:
    envelope = REG.envelope_schema
    props = envelope["properties"]
    assert envelope["required"] == [
        "event_id",
        "event_type",
        "timestamp",
        "version",
        "source",
        "correlation_ids",
        "payload",
    ]
    assert envelope.get("additionalProperties", True) is True
    assert props["version"]["default"] == "1.0.0"
    assert props["version"]["pattern"] == "^[0-9]+\\.[0-9]+\\.[0-9]+$"
    assert props["timestamp"]["format"] == "date-time"
    assert props["source"]["required"] == ["host", "type"]
    assert props["source"]["properties"]["type"]["enum"] == [
        "manual",
        "agent",
        "scheduled",
        "webhook",
        "system",
    ]
    assert props["agent_context"]["properties"]["type"]["enum"] == ["claude", "letta", "custom"]
    assert props["correlation_ids"]["items"]["pattern"] == UUID_PATTERN
    assert {"trace_id", "span_id", "trace_flags"} <= set(props["trace_context"]["properties"])


def test_event_type_pattern_accepts_spec_pattern_and_every_known_type() -> None:
    """SPEC's ``^[a-z]+\\.…`` rejects its own ``n8n.…`` type: the domain may hold digits after a letter."""
    pattern = re.compile(REG.envelope_schema["properties"]["event_type"]["pattern"].replace("$", r"\Z"))
    spec = re.compile(r"^[a-z]+\.[a-z_.]+\.v[0-9]+\Z")
    for event_type in REG.event_types:
        assert pattern.search(event_type), event_type
    for candidate in ("fireflies.transcript.ready.v1", "a.b.v1", "x.y_z.w.v12"):
        assert bool(spec.search(candidate)) and pattern.search(candidate)
    for rejected in ("A.b.v1", "a.b.v\u0661", "8n.x.v1", "a.b", "a.b.v1\n"):
        assert not pattern.search(rejected), rejected
