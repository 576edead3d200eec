"""Holyfields: the schema registry of the 33GOD event pipeline, as a package every service imports.

The JSON Schemas of the envelope and of each event type (package data), the registry and validator (fast
verdict + detailed issues), the envelope factory, the code generators and drift check, the schema-change
classifier and the names of the RabbitMQ topology (:mod:`holyfields.topology`).

>>> from holyfields import registry, make_envelope, parse_json, dlq_reason
>>> reg = registry()
>>> reg.validate(make_envelope("theboard.meeting.created.v1"))
[]
>>> issues = reg.validate(parse_json(b'{"event_type": "github.pr.opened.v1"}'))
>>> dlq_reason(issues), issues[0].as_dict()["rule"]
('envelope_invalid', 'required')
>>> check() == []   # the committed contracts/generated/ files match the schemas
True
>>> diff_schemas({"type": "string"}, {"type": "string", "description": "A name."}).bump
'patch'

Command line: ``harness schemas generate|check|diff`` (see :mod:`holyfields.cli`); ``python -m holyfields
[--check]`` rewrites ``event_types.schema.json``.
"""

from __future__ import annotations

from holyfields._codegen import (
    GENERATED_DIR,
    PYTHON_MODULE,
    TYPESCRIPT_MODULE,
    ZOD_MODULE,
    Drift,
    check,
    generate,
    render_all,
)
from holyfields._diff import (
    BUMPS,
    Bump,
    Change,
    SchemaDiff,
    diff_paths,
    diff_schema_dirs,
    diff_schema_files,
    diff_schemas,
    max_bump,
)
from holyfields._factory import DEFAULT_EVENT_TYPE, make_envelope, sample_payload, sample_value, utc_now
from holyfields._loader import SchemaSet, load_schema_file, load_schema_set
from holyfields._registry import (
    SCHEMA_DIR,
    Registry,
    build_event_types_schema,
    registry,
    render_event_types_schema,
)
from holyfields._validate import (
    FAST_BACKENDS,
    JsonInvalid,
    ValidationIssue,
    dlq_reason,
    parse_json,
)

__all__ = [
    "BUMPS",
    "DEFAULT_EVENT_TYPE",
    "FAST_BACKENDS",
    "GENERATED_DIR",
    "PYTHON_MODULE",
    "SCHEMA_DIR",
    "TYPESCRIPT_MODULE",
    "ZOD_MODULE",
    "Bump",
    "Change",
    "Drift",
    "JsonInvalid",
    "Registry",
    "SchemaDiff",
    "SchemaSet",
    "ValidationIssue",
    "build_event_types_schema",
    "check",
    "diff_paths",
    "diff_schema_dirs",
    "diff_schema_files",
    "diff_schemas",
    "dlq_reason",
    "generate",
    "load_schema_file",
    "load_schema_set",
    "make_envelope",
    "max_bump",
    "parse_json",
    "registry",
    "render_all",
    "render_event_types_schema",
    "sample_payload",
    "sample_value",
    "utc_now",
]
