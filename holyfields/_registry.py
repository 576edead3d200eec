"""The schema registry: the envelope schema plus one payload schema per event type, loaded from a folder."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from holyfields._validate import (
    DEFAULT_FAST_BACKEND,
    ValidationIssue,
    compile_fast,
    dedupe,
    detailed_validator,
    ecma_regex,
    non_json_issues,
    to_issue,
)


def _contracts_dir() -> Path:
    """The folder holding ``schemas/`` and ``generated/``: the package itself when installed from the wheel
    (package data), the checkout's ``contracts/`` otherwise (the editable source of truth)."""
    package = Path(str(files("holyfields")))
    return package if (package / "schemas").is_dir() else package.parent / "contracts"


#: Holyfields' schemas (``contracts/schemas`` of the repository, ``holyfields/schemas`` in the wheel)
SCHEMA_DIR = _contracts_dir() / "schemas"
ENVELOPE_FILE = "core/event-envelope.v1.schema.json"
EVENT_TYPES_FILE = "event_types.schema.json"
SCHEMA_SUFFIX = ".schema.json"
ID_BASE = "https://33god.io/schemas/"

_EventCheck = Callable[[object], bool]


def load_schema_file(path: str | Path) -> dict[str, Any]:
    """One JSON Schema file as a dict; a clear ``ValueError`` when it is not a JSON object."""
    file = Path(path)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read schema {file}: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError(f"schema {file} is not a JSON object")
    return document


def _read_schema(path: Path) -> dict[str, Any]:
    schema = load_schema_file(path)
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"schema {path} is not a valid draft-07 schema: {exc.message}") from None
    return schema


def _with_payload(envelope_schema: Mapping[str, Any], payload_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope schema whose ``payload`` property must also satisfy ``payload_schema``."""
    combined = dict(envelope_schema)
    properties = dict(combined.get("properties", {}))
    inline = {key: value for key, value in payload_schema.items() if key != "$schema"}
    properties["payload"] = {"allOf": [properties.get("payload", {}), inline]}
    combined["properties"] = properties
    return combined


class Registry:
    """Envelope and payload schemas with compiled validators.

    >>> from holyfields import make_envelope, registry
    >>> reg = registry()
    >>> reg.is_valid(make_envelope("github.pr.opened.v1"))
    True
    >>> reg.validate(make_envelope("github.pr.opened.v1", event_id="abc"))[0].message
    "$.event_id: 'abc' is not a valid uuid"
    """

    def __init__(
        self,
        envelope_schema: Mapping[str, Any],
        payload_schemas: Mapping[str, Mapping[str, Any]],
        *,
        root: Path | None = None,
        fast_backend: str = DEFAULT_FAST_BACKEND,
    ) -> None:
        self.root = root
        self.fast_backend = fast_backend
        self._envelope = dict(envelope_schema)
        self._payloads = {name: dict(payload_schemas[name]) for name in sorted(payload_schemas)}
        self._event_types = tuple(self._payloads)
        event_type_pattern = self._envelope.get("properties", {}).get("event_type", {}).get("pattern")
        self._event_type_re = ecma_regex(event_type_pattern) if event_type_pattern else None
        for event_type in self._event_types:
            if self._event_type_re and not self._event_type_re.search(event_type):
                raise ValueError(
                    f"event type {event_type!r} does not match the envelope's event_type pattern "
                    f"{event_type_pattern!r}: rename its schema file"
                )
        # hot path: one compiled check per known event type (envelope + payload), one for the envelope alone
        self._fast_envelope: _EventCheck = compile_fast(self._envelope, fast_backend)
        self._fast_by_type: dict[str, _EventCheck] = {
            name: compile_fast(self.event_schema(name), fast_backend) for name in self._event_types
        }
        self._detailed_envelope = detailed_validator(self._envelope)
        self._detailed_payloads = {
            name: detailed_validator(schema) for name, schema in self._payloads.items()
        }

    @classmethod
    def load(cls, path: str | Path = SCHEMA_DIR, *, fast_backend: str = DEFAULT_FAST_BACKEND) -> Registry:
        """Load the envelope schema and every ``{domain}/{entity}.{action}.v{N}.schema.json`` under ``path``.

        ``fast_backend`` picks the hot-path validator (one of ``FAST_BACKENDS``).
        """
        root = Path(path)
        envelope_path = root / ENVELOPE_FILE
        if not envelope_path.is_file():
            raise ValueError(f"no envelope schema at {envelope_path}: is {root} a contracts/schemas folder?")
        payloads: dict[str, dict[str, Any]] = {}
        for file in sorted(root.glob(f"*/*{SCHEMA_SUFFIX}")):
            if file.parent.name == "core":
                continue
            event_type = f"{file.parent.name}.{file.name[: -len(SCHEMA_SUFFIX)]}"
            payloads[event_type] = _read_schema(file)
        return cls(_read_schema(envelope_path), payloads, root=root, fast_backend=fast_backend)

    # ------------------------------------------------------------------------------------- schemas

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every known event type, sorted."""
        return self._event_types

    @property
    def envelope_schema(self) -> dict[str, Any]:
        """The envelope schema (``core/event-envelope.v1.schema.json``)."""
        return self._envelope

    def payload_schema(self, event_type: str) -> dict[str, Any] | None:
        """The payload schema of ``event_type``; ``None`` when the type is unknown."""
        return self._payloads.get(event_type)

    def schemas(self) -> dict[str, dict[str, Any]]:
        """``event_type -> payload schema`` for every known type."""
        return dict(self._payloads)

    def event_schema(self, event_type: str) -> dict[str, Any]:
        """Envelope schema with the payload schema of ``event_type`` inlined (what the hot path compiles)."""
        payload_schema = self._payloads.get(event_type)
        if payload_schema is None:
            raise KeyError(f"no payload schema for event type {event_type!r}")
        return _with_payload(self._envelope, payload_schema)

    # ---------------------------------------------------------------------------------- validation

    def is_valid(self, envelope: object, *, require_known_type: bool = True) -> bool:
        """Fast verdict on an envelope and its payload (compiled validator, no error details).

        With ``require_known_type=False`` an envelope of an unknown event type is checked without its payload.
        """
        event_type = envelope.get("event_type") if isinstance(envelope, dict) else None
        check = self._fast_by_type.get(event_type) if type(event_type) is str else None
        if check is None:
            if require_known_type:
                return False
            check = self._fast_envelope
        try:
            return check(envelope)
        except (ValueError, TypeError, OverflowError, RecursionError):
            return False  # not a JSON value (e.g. a non-string dict key); validate() says where

    def validate(self, envelope: object, *, require_known_type: bool = True) -> list[ValidationIssue]:
        """Every violation of envelope and payload; ``[]`` when valid. Fast path first."""
        if self.is_valid(envelope, require_known_type=require_known_type):
            return []
        issues = self.explain(envelope, require_known_type=require_known_type)
        if not issues:
            issues = non_json_issues(envelope) or [
                ValidationIssue(
                    "$",
                    f"$: rejected by the {self.fast_backend} validator, but the detailed validator found no "
                    "violated rule (validator disagreement: please report with this envelope)",
                    "internal",
                )
            ]
        return issues

    def explain(self, envelope: object, *, require_known_type: bool = True) -> list[ValidationIssue]:
        """The detailed validator alone (``jsonschema``): every violation, no fast path."""
        issues = [to_issue(error, "envelope") for error in self._detailed_envelope.iter_errors(envelope)]
        if isinstance(envelope, dict) and isinstance(event_type := envelope.get("event_type"), str):
            payload_validator = self._detailed_payloads.get(event_type)
            payload = envelope.get("payload")
            if payload_validator is not None and isinstance(payload, dict):
                issues.extend(
                    to_issue(error, "payload", ("payload",))
                    for error in payload_validator.iter_errors(payload)
                )
            elif (
                payload_validator is None
                and require_known_type
                and not any(issue.path == "$.event_type" for issue in issues)
            ):
                issues.append(self._unknown_type_issue(event_type))
        return dedupe(issues)

    def _unknown_type_issue(self, event_type: str) -> ValidationIssue:
        close = difflib.get_close_matches(event_type, self._event_types, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]!r}?" if close else f"; {len(self._event_types)} types are known"
        return ValidationIssue(
            "$.event_type",
            f"$.event_type: {event_type!r} is not a known event type (unknown_event_type){hint}",
            "unknown_event_type",
        )


@cache
def registry() -> Registry:
    """The default registry, loaded once from :data:`SCHEMA_DIR`."""
    return Registry.load(SCHEMA_DIR)


def build_event_types_schema(reg: Registry | None = None) -> dict[str, Any]:
    """The content of ``event_types.schema.json``: every known event type as an enum."""
    reg = reg or registry()
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": ID_BASE + EVENT_TYPES_FILE,
        "title": "EventType",
        "description": (
            "Every known event type. Generated from the schema folder "
            "(python -m holyfields); do not edit by hand."
        ),
        "type": "string",
        "enum": list(reg.event_types),
    }


def render_event_types_schema(reg: Registry | None = None) -> str:
    """The exact file text of ``event_types.schema.json`` (what ``python -m holyfields`` writes)."""
    return json.dumps(build_event_types_schema(reg), indent=2, ensure_ascii=False) + "\n"
