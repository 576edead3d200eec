"""Validation machinery: JSON parsing, the fast verdict validators and the detailed error list.

Two validators look at every schema:

* a *fast* one, compiled once, answers valid / invalid (the hot path of Bloodbank and Candystore);
* the *detailed* one (the ``jsonschema`` library) runs only when the fast one said "invalid" and lists
  every violation as a :class:`ValidationIssue`.

Both must give the same verdict. Two quirks of Python's ``re`` stand between them and are handled here:
``$`` also matches before a trailing newline (ECMA 262 and Rust do not), and the ``date-time``/``uri``
format checkers of ``jsonschema`` are built on ``$``-anchored regular expressions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import orjson
from jsonschema import Draft7Validator, FormatChecker, ValidationError, validators

Scope = Literal["envelope", "payload"]
DlqReason = Literal["envelope_invalid", "payload_invalid"]

#: fast validator implementations, fastest first (see docs/adr/0002-envelope-validator.md)
FAST_BACKENDS: tuple[str, ...] = ("jsonschema_rs", "fastjsonschema", "jsonschema")
DEFAULT_FAST_BACKEND = "jsonschema_rs"


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One violation: where (JSONPath), what (human message), which rule (JSON Schema keyword)."""

    path: str
    message: str
    rule: str
    scope: Scope = "envelope"

    def as_dict(self) -> dict[str, str]:
        """The wire form used in HTTP 422 details and DLQ headers."""
        return {"path": self.path, "message": self.message, "rule": self.rule}

    def __str__(self) -> str:
        return self.message


class JsonInvalid(ValueError):
    """The body is not JSON (or not UTF-8); the message says why and where."""


def parse_json(body: bytes | bytearray | memoryview | str) -> object:
    """Parse a message or request body with orjson; raise :class:`JsonInvalid` with a clear message."""
    if isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    if not body or not body.strip():
        raise JsonInvalid("body is empty: expected a JSON object (the event envelope)")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if isinstance(body, bytes):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise JsonInvalid(
                    f"body is not valid UTF-8 (byte {bad.start}: {bad.reason}); JSON bodies must be UTF-8"
                ) from None
        raise JsonInvalid(f"body is not valid JSON: {exc}") from None


def dlq_reason(issues: Iterable[ValidationIssue]) -> DlqReason:
    """The ``x-dlq-reason`` for a list of issues: any envelope-scope issue wins over payload ones."""
    scopes = {issue.scope for issue in issues}
    if not scopes:
        raise ValueError("dlq_reason() needs at least one issue: an envelope without issues is valid")
    return "envelope_invalid" if "envelope" in scopes else "payload_invalid"


# --------------------------------------------------------------------------------------------- patterns


@lru_cache(maxsize=256)
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """Compile a JSON Schema pattern so that ``$`` means end of string, as in ECMA 262.

    Python's ``$`` also matches just before a final newline, so ``"a.b.v1\\n"`` would pass
    ``^[a-z.]+\\.v[0-9]+$`` under ``re`` while every other engine rejects it.
    """
    out: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        elif char == "$":
            out.append(r"\Z")
        else:
            out.append(char)
    return re.compile("".join(out))


def _pattern(
    validator: Any, pattern: str, instance: object, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{_short(instance)} does not match pattern {pattern!r}")


def _required(
    validator: Any, required: Sequence[str], instance: object, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    # The error points at the missing field itself ($.payload.title), not at its parent object.
    if validator.is_type(instance, "object"):
        for name in required:
            if name not in instance:  # type: ignore[operator]
                yield ValidationError(f"required field {name!r} is missing", path=[name])


def _strict_format_checker() -> FormatChecker:
    """Draft-07 format checker whose checks also reject a trailing newline (see module docstring)."""
    base = Draft7Validator.FORMAT_CHECKER
    checker = FormatChecker(formats=())
    for name, (func, raises) in base.checkers.items():

        def check(instance: object, _func: Callable[[object], bool] = func) -> bool:
            if isinstance(instance, str) and instance.endswith("\n"):
                return False
            return _func(instance)

        checker.checks(name, raises)(check)
    if checker.conforms("2024-13-01T00:00:00Z", "date-time") or checker.conforms("not a uri", "uri"):
        raise RuntimeError(
            "jsonschema does not check the date-time/uri formats here: install jsonschema[format-nongpl] "
            "(rfc3339-validator, rfc3986-validator); without it malformed timestamps pass silently"
        )
    return checker


DetailedValidator = validators.extend(Draft7Validator, {"pattern": _pattern, "required": _required})
FORMAT_CHECKER = _strict_format_checker()


def detailed_validator(schema: Mapping[str, Any]) -> Any:
    """A ``jsonschema`` validator (draft-07, formats enforced, ECMA ``$``) for one schema."""
    return DetailedValidator(schema, format_checker=FORMAT_CHECKER)


# ----------------------------------------------------------------------------------------- fast backends


def compile_fast(schema: Mapping[str, Any], backend: str = DEFAULT_FAST_BACKEND) -> Callable[[object], bool]:
    """Compile ``schema`` into a ``value -> bool`` function with one of :data:`FAST_BACKENDS`."""
    if backend == "jsonschema_rs":
        import jsonschema_rs

        return jsonschema_rs.Draft7Validator(dict(schema), validate_formats=True).is_valid
    if backend == "fastjsonschema":
        import fastjsonschema

        # use_default=False: by default fastjsonschema writes schema defaults INTO the validated data.
        compiled = fastjsonschema.compile(dict(schema), use_default=False)
        failure = fastjsonschema.JsonSchemaException

        def is_valid(value: object) -> bool:
            try:
                compiled(value)
            except failure:
                return False
            return True

        return is_valid
    if backend == "jsonschema":
        return detailed_validator(schema).is_valid
    raise ValueError(f"unknown fast validator backend {backend!r}; choose one of {', '.join(FAST_BACKENDS)}")


# ---------------------------------------------------------------------------------------------- issues

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def json_path(parts: Iterable[str | int]) -> str:
    """``("payload", "sentences", 0, "text")`` -> ``$.payload.sentences[0].text``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append("['" + part.replace("\\", "\\\\").replace("'", "\\'") + "']")
    return "".join(out)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_FORMAT_NOTES = {"date-time": " (RFC 3339 date-time with timezone, e.g. 2025-01-15T09:30:00Z)"}


def _rule_and_text(error: ValidationError) -> tuple[str, str]:
    keyword = str(error.validator)
    value = error.validator_value
    instance = error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword == "pattern" and isinstance(schema.get("format"), str):
        # uuid (and the date-time refinements) are enforced through a pattern next to the format
        keyword, value = "format", schema["format"]
    if keyword == "format":
        return f"format:{value}", f"{_short(instance)} is not a valid {value}{_FORMAT_NOTES.get(value, '')}"
    if keyword == "required":
        return keyword, error.message
    if keyword == "type":
        expected = value if isinstance(value, str) else " or ".join(value)
        return keyword, f"{_short(instance)} is not of type {expected}"
    if keyword == "enum":
        return keyword, f"{_short(instance)} is not one of the allowed values {list(value)!r} (enum)"
    if keyword in ("minimum", "exclusiveMinimum"):
        return keyword, f"{instance!r} is less than the {keyword} of {value}"
    if keyword in ("maximum", "exclusiveMaximum"):
        return keyword, f"{instance!r} is greater than the {keyword} of {value}"
    if keyword == "minLength":
        return keyword, f"{_short(instance)} is shorter than the minLength of {value}"
    if keyword == "maxLength":
        return keyword, f"{_short(instance)} is longer than the maxLength of {value}"
    if keyword == "minItems":
        return keyword, f"array has fewer than the minItems of {value}"
    if keyword == "maxItems":
        return keyword, f"array has more than the maxItems of {value}"
    if keyword == "pattern":
        return keyword, error.message
    message = error.message if len(error.message) <= 200 else error.message[:199] + "…"
    return keyword, f"{message} ({keyword})"


def to_issue(error: ValidationError, scope: Scope, prefix: tuple[str, ...] = ()) -> ValidationIssue:
    """Turn a ``jsonschema`` error into a :class:`ValidationIssue` whose message names path and rule."""
    path = json_path((*prefix, *error.absolute_path))
    rule, text = _rule_and_text(error)
    return ValidationIssue(path=path, message=f"{path}: {text}", rule=rule, scope=scope)


def dedupe(issues: Iterable[ValidationIssue]) -> list[ValidationIssue]:
    """Keep the first issue per (path, rule): a bad uuid fails both its pattern and its format."""
    seen: set[tuple[str, str]] = set()
    out = []
    for issue in issues:
        key = (issue.path, issue.rule)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out


def non_json_issues(value: object, parts: tuple[str | int, ...] = ()) -> list[ValidationIssue]:
    """Values a JSON document cannot hold (NaN, infinities, non-string keys, tuples, objects…).

    Only consulted when the fast validator rejected a Python object that the detailed one accepts:
    envelopes parsed from JSON never contain such values.
    """
    issues: list[ValidationIssue] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                path = json_path(parts)
                issues.append(ValidationIssue(path, f"{path}: key {key!r} is not a string (type)", "type"))
            else:
                issues.extend(non_json_issues(item, (*parts, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            issues.extend(non_json_issues(item, (*parts, index)))
    elif isinstance(value, float) and not math.isfinite(value):
        path = json_path(parts)
        issues.append(ValidationIssue(path, f"{path}: {value!r} is not a JSON number (type)", "type"))
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        path = json_path(parts)
        issues.append(ValidationIssue(path, f"{path}: {_short(value)} is not a JSON value (type)", "type"))
    return issues
