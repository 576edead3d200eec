"""Valid envelopes and payloads, generated from the schemas (so they follow every schema change)."""

from __future__ import annotations

import copy
import difflib
import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from holyfields._registry import Registry, registry

#: the event type of ``make_envelope()`` without arguments
DEFAULT_EVENT_TYPE = "fireflies.transcript.ready.v1"
DEFAULT_SOURCE: dict[str, str] = {"host": "harness.local", "type": "manual", "app": "33god-harness"}

_WORDS = (
    "envelope",
    "bloodbank",
    "candystore",
    "holyfields",
    "review",
    "ready",
    "café",
    "über",
    "数据",
    "signal",
)
_OFFSETS_MIN = (0, 0, 60, -300, 330)
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def utc_now() -> str:
    """Now, as an RFC 3339 UTC timestamp with microseconds (``2025-01-15T09:30:00.123456Z``)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _date_time(rng: random.Random) -> str:
    moment = _EPOCH + timedelta(
        seconds=rng.randrange(10 * 365 * 86400), microseconds=rng.randrange(1_000_000)
    )
    tz = timezone(timedelta(minutes=rng.choice(_OFFSETS_MIN)))
    return moment.astimezone(tz).isoformat().replace("+00:00", "Z")


def _string(schema: Mapping[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if fmt == "date-time":
        return _date_time(rng)
    if fmt == "uri":
        return f"https://example.com/{rng.choice(_WORDS[:5])}/{rng.randrange(10_000)}"
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4)))
    minimum, maximum = schema.get("minLength", 0), schema.get("maxLength")
    while len(text) < minimum:
        text += " " + rng.choice(_WORDS)
    return text[:maximum] if maximum is not None else text


def _number(schema: Mapping[str, Any], rng: random.Random, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 1000))
    if integer:
        low = low + 1 if "exclusiveMinimum" in schema else low
        high = high - 1 if "exclusiveMaximum" in schema else high
        return rng.randint(int(low), int(high))
    value = round(rng.uniform(low, high), 4)
    return min(max(value, low), high)


def sample_value(schema: Mapping[str, Any], rng: random.Random) -> Any:
    """A value valid against ``schema`` (the JSON Schema subset the contracts use), optional fields included.

    ``examples`` are used half of the time, so values are realistic but still varied.
    """
    if "const" in schema:
        return copy.deepcopy(schema["const"])
    if "enum" in schema:
        return copy.deepcopy(rng.choice(schema["enum"]))
    examples = schema.get("examples")
    if examples and (rng.random() < 0.5 or ("pattern" in schema and "format" not in schema)):
        return copy.deepcopy(rng.choice(examples))
    kind = schema.get("type", "object" if "properties" in schema else None)
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: sample_value(sub, rng) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        count = max(schema.get("minItems", 0), rng.randint(1, 3))
        count = min(count, schema.get("maxItems", count))
        return [sample_value(schema.get("items", {}), rng) for _ in range(count)]
    if kind == "string":
        return _string(schema, rng)
    if kind in ("integer", "number"):
        return _number(schema, rng, integer=kind == "integer")
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return {}


def sample_payload(event_type: str, rng: random.Random | None = None, *, reg: Registry | None = None) -> dict:
    """A valid payload of ``event_type`` with its optional fields; deterministic for a given ``rng``."""
    reg = reg or registry()
    schema = reg.payload_schema(event_type)
    if schema is None:
        close = difflib.get_close_matches(event_type, reg.event_types, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(reg.event_types)}"
        raise KeyError(f"no payload schema for event type {event_type!r}; {hint}")
    return sample_value(schema, rng or random.Random())


def make_envelope(event_type: str | None = None, *, payload: dict | None = None, **overrides: Any) -> dict:
    """A valid envelope: new uuid, now (UTC), version 1.0.0, a source, no parents, a sample payload.

    ``overrides`` replace top-level fields (``make_envelope(correlation_ids=[parent_id])``). For an event type
    the registry does not know, the payload defaults to ``{}``.
    """
    event_type = event_type or DEFAULT_EVENT_TYPE
    if payload is None:
        payload = sample_payload(event_type) if registry().payload_schema(event_type) is not None else {}
    envelope: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "timestamp": utc_now(),
        "version": "1.0.0",
        "source": dict(DEFAULT_SOURCE),
        "correlation_ids": [],
        "payload": payload,
    }
    envelope.update(overrides)
    return envelope
