"""Regular expressions of the envelope (read from the Holyfields schema) and Pact matchers built on them.

Pact matchers run in the Rust verifier, so every pattern here is valid in both Rust's ``regex`` crate and
Python's ``re`` (ASCII classes only: ``[0-9]``, never ``\\d``). ``match.datetime`` is not used: it converts
Python formats badly and rejects ``isoformat()`` output, so timestamps are matched by an RFC 3339 regex.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pact import match

from holyfields import SCHEMA_DIR

ENVELOPE_SCHEMA = SCHEMA_DIR / "core" / "event-envelope.v1.schema.json"

#: ``x-signature`` header of SPEC §2
SIGNATURE = r"^sha256=[0-9a-f]{64}$"


@cache
def _envelope() -> dict[str, Any]:
    return json.loads(ENVELOPE_SCHEMA.read_text())


def _field(*path: str) -> dict[str, Any]:
    node: dict[str, Any] = _envelope()
    for key in path:
        node = node["properties"][key]
    return node


def _pattern(*path: str) -> str:
    return _field(*path)["pattern"]


def _enum(*path: str) -> str:
    return "^(" + "|".join(_field(*path)["enum"]) + ")$"


UUID = _pattern("event_id")
EVENT_TYPE = _pattern("event_type")
RFC3339 = _pattern("timestamp")
SEMVER = _pattern("version")
SOURCE_TYPE = _enum("source", "type")
AGENT_TYPE = _enum("agent_context", "type")


def uuid(example: str) -> Any:
    """A uuid (the envelope's pattern), with ``example`` as the value the consumer sees."""
    return match.regex(example, regex=UUID)


def timestamp(example: str) -> Any:
    """An RFC 3339 date-time (the envelope's pattern)."""
    return match.regex(example, regex=RFC3339)


def event_type(example: str) -> Any:
    return match.regex(example, regex=EVENT_TYPE)


def version(example: str = "1.0.0") -> Any:
    return match.regex(example, regex=SEMVER)


def array_of(item: Any, *more: Any, min: int) -> Any:
    """An array whose every element matches ``item``, with at least ``min`` elements (0 allowed).

    ``match.each_like`` refuses ``min=0`` although the Pact specification allows it; a type matcher over an
    example array writes the same rules (``{"match": "type", "min": 0}`` plus the rule of ``item`` for
    ``[*]``). ``more`` are further PLAIN example elements, so the consumer sees ``min`` of them.
    """
    return match.like([item, *more], min=min)


def example(tree: Any) -> Any:
    """The plain example value of a body built with matchers (what a consumer test sees)."""
    if isinstance(tree, match.AbstractMatcher):
        return example(getattr(tree, "value", None))
    if isinstance(tree, dict):
        return {key: example(value) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return [example(value) for value in tree]
    return tree
