"""Holyfields tooling: typed models generated from the schemas, drift check, schema-change classification.

>>> from harness.holyfields import check, diff_schemas
>>> check() == []   # the committed contracts/generated/ files match the schemas
True
>>> diff_schemas({"type": "string"}, {"type": "string", "description": "A name."}).bump
'patch'

Command line: ``harness schemas generate|check|diff`` (see :mod:`harness.holyfields.cli`).
"""

from __future__ import annotations

from harness.holyfields._codegen import (
    GENERATED_DIR,
    PYTHON_MODULE,
    TYPESCRIPT_MODULE,
    Drift,
    check,
    generate,
    render_all,
)
from harness.holyfields._diff import (
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
from harness.holyfields._loader import SCHEMA_DIR, SchemaSet, load_schema_file, load_schema_set

__all__ = [
    "BUMPS",
    "GENERATED_DIR",
    "PYTHON_MODULE",
    "SCHEMA_DIR",
    "TYPESCRIPT_MODULE",
    "Bump",
    "Change",
    "Drift",
    "SchemaDiff",
    "SchemaSet",
    "check",
    "diff_paths",
    "diff_schema_dirs",
    "diff_schema_files",
    "diff_schemas",
    "generate",
    "load_schema_file",
    "load_schema_set",
    "max_bump",
    "render_all",
]
