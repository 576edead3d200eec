"""Schemas of the 33GOD event pipeline: registry, validation (fast verdict + detailed issues), factories.

>>> from harness.schemas import registry, make_envelope, parse_json, dlq_reason
>>> reg = registry()
>>> reg.validate(make_envelope("theboard.meeting.created.v1"))
[]
>>> issues = reg.validate(parse_json(b'{"event_type": "github.pr.opened.v1"}'))
>>> dlq_reason(issues), issues[0].as_dict()["rule"]
('envelope_invalid', 'required')
"""

from __future__ import annotations

from harness.schemas._factory import DEFAULT_EVENT_TYPE, make_envelope, sample_payload, sample_value, utc_now
from harness.schemas._registry import (
    SCHEMA_DIR,
    Registry,
    build_event_types_schema,
    registry,
    render_event_types_schema,
)
from harness.schemas._validate import (
    FAST_BACKENDS,
    JsonInvalid,
    ValidationIssue,
    dlq_reason,
    parse_json,
)

__all__ = [
    "DEFAULT_EVENT_TYPE",
    "FAST_BACKENDS",
    "SCHEMA_DIR",
    "JsonInvalid",
    "Registry",
    "ValidationIssue",
    "build_event_types_schema",
    "dlq_reason",
    "make_envelope",
    "parse_json",
    "registry",
    "render_event_types_schema",
    "sample_payload",
    "sample_value",
    "utc_now",
]
