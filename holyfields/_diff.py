"""Classify the change between two versions of a JSON Schema as patch, minor or major (SPEC §1).

The question asked of every difference is the one a consumer asks: *is every event that was valid before
still valid, and does it still mean the same?*

* **patch**: annotations only (``description``, ``title``, ``examples``, ``$comment``, ``readOnly``...).
* **minor** (compatible): the schema accepts more than before: an optional property added, an enum widened,
  a bound loosened or dropped, a property no longer required, ``additionalProperties`` opened, a type widened.
* **major** (breaking, a new ``.vN+1`` event type): the schema accepts less, or the same data means something
  else: a property removed or renamed, a required property added, an optional property made required, a type
  changed or narrowed, an enum narrowed, a pattern/format/const added or changed, a bound added or tightened,
  ``additionalProperties`` closed, a default changed.

Keywords this module cannot reason about (``oneOf``, ``not``, ``if``/``then``/``else``, remote ``$ref``...)
are compared as values: any change there is classified major, conservatively. Local ``$ref``
(``#/...``) are resolved before comparing, so moving a definition is not a change; ``definitions`` and
``$defs`` themselves are compared only where they are referenced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from holyfields._loader import load_schema_file

Bump = Literal["none", "patch", "minor", "major"]
BUMPS: tuple[Bump, ...] = ("none", "patch", "minor", "major")

__all__ = [
    "BUMPS",
    "Bump",
    "Change",
    "SchemaDiff",
    "diff_paths",
    "diff_schema_dirs",
    "diff_schema_files",
    "diff_schemas",
    "max_bump",
]

_ANNOTATIONS = {
    "description": "description_changed",
    "title": "title_changed",
    "examples": "examples_changed",
    "$comment": "comment_changed",
    "readOnly": "read_only_changed",
    "writeOnly": "write_only_changed",
    "deprecated": "deprecated_changed",
    "contentMediaType": "content_media_type_changed",
    "contentEncoding": "content_encoding_changed",
}
#: keyword -> True for lower bounds (a larger value accepts less), False for upper bounds
_BOUNDS = {
    "minimum": True,
    "exclusiveMinimum": True,
    "minLength": True,
    "minItems": True,
    "minProperties": True,
    "maximum": False,
    "exclusiveMaximum": False,
    "maxLength": False,
    "maxItems": False,
    "maxProperties": False,
}
_HANDLED = {
    *_ANNOTATIONS,
    *_BOUNDS,
    "type",
    "enum",
    "const",
    "pattern",
    "format",
    "default",
    "multipleOf",
    "uniqueItems",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "allOf",
    "$id",
    "$schema",
    "definitions",
    "$defs",
}
#: keywords whose value maps names to schemas, and keywords whose value is data, not a schema
_NAME_MAPS = frozenset({"properties", "patternProperties", "definitions", "$defs", "dependencies"})
_DATA = frozenset({"enum", "const", "default", "required", "examples"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VERSIONED = re.compile(r"^(?P<stem>.+)\.v(?P<n>[0-9]+)\.schema\.json$")
_EVENT_TYPE = re.compile(r"^(?P<stem>[a-z][a-z0-9]*\.[a-z_.]+)\.v(?P<n>[0-9]+)$")
_MISSING = object()


def max_bump(bumps: Iterator[Bump] | list[Bump] | tuple[Bump, ...]) -> Bump:
    """The largest of ``bumps`` (``"none"`` for none)."""
    return max(bumps, key=BUMPS.index, default="none")


@dataclass(frozen=True)
class Change:
    """One difference between two schemas.

    ``path`` is where in an instance (an event payload or envelope) the change applies, as a JSONPath
    (``$.source.meta``, ``$.sentences[*].text``); ``schema_path`` is the JSON Pointer of the changed
    keyword in the schema (``/properties/source/properties/meta/type``); ``file`` is set when whole
    folders are compared.
    """

    path: str
    kind: str
    bump: Bump
    why: str
    keyword: str = ""
    schema_path: str = ""
    old: Any = None
    new: Any = None
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json`` output)."""
        return {
            "file": self.file,
            "path": self.path,
            "keyword": self.keyword,
            "kind": self.kind,
            "bump": self.bump,
            "why": self.why,
            "schema_path": self.schema_path,
            "old": self.old,
            "new": self.new,
        }


@dataclass
class SchemaDiff:
    """Every change between two schemas (or schema folders) and the resulting version bump."""

    changes: list[Change] = field(default_factory=list)
    #: what was compared, when known (the event type a schema's ``title`` names)
    subject: str | None = None

    @property
    def bump(self) -> Bump:
        """The overall bump: the largest of the changes' (``"none"`` when nothing changed)."""
        return max_bump([change.bump for change in self.changes])

    @property
    def compatible(self) -> bool:
        """True unless the change is major (old events may be rejected or mean something else)."""
        return self.bump != "major"

    def by_kind(self) -> dict[str, list[Change]]:
        """The changes grouped by ``kind``."""
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            grouped.setdefault(change.kind, []).append(change)
        return grouped

    def advice(self) -> list[str]:
        """What to do about a major change: SPEC §1 wants a new ``.vN+1`` event type, not an edited one."""
        notes = []
        for name in sorted(
            {change.file for change in self.changes if change.bump == "major" and change.file}
        ):
            match = _VERSIONED.match(name)
            if match and not name.startswith("core/"):
                successor = f"{match['stem'].replace('/', '.')}.v{int(match['n']) + 1}"
                notes.append(
                    f"{name}: breaking: publish the change as a new event type ({successor}) and keep "
                    f"v{match['n']} until its producers and consumers have moved"
                )
        if self.bump == "major" and not notes:
            match = _EVENT_TYPE.match(self.subject or "")
            target = f" ({match['stem']}.v{int(match['n']) + 1})" if match else " (.vN+1)"
            notes.append(
                f"breaking: publish the change as a new schema version{target}; do not edit the old one"
            )
        return notes

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{bump, compatible, changes: [...], advice: [...]}``."""
        return {
            "bump": self.bump,
            "compatible": self.compatible,
            "changes": [change.as_dict() for change in self.changes],
            "advice": self.advice(),
        }

    def render(self) -> str:
        """A human-readable report: one line per change, then the overall bump."""
        lines: list[str] = []
        current: str | None = None
        for change in self.changes:
            if change.file != current and change.file is not None:
                lines.append(change.file)
            current = change.file
            where = f"{change.path} ({change.keyword})" if change.keyword else change.path
            lines.append(f"  {change.bump.upper():5}  {where}  [{change.kind}]  {change.why}")
        if not self.changes:
            lines.append("no changes")
        verdict = {
            "none": "identical",
            "patch": "compatible, annotations only",
            "minor": "compatible, accepts more than before",
            "major": "BREAKING",
        }[self.bump]
        lines.append(f"bump: {self.bump} ({verdict})")
        lines.extend(f"  {note}" for note in self.advice())
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------ helpers


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _strip(schema: Any) -> Any:
    """``schema`` without annotations (for "same schema?" questions such as rename detection).

    Keys of ``properties`` (and similar maps) are names, and ``enum``/``const``/``default`` are data: a
    property called ``title`` is not an annotation.
    """
    if isinstance(schema, list):
        return [_strip(value) for value in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key in _NAME_MAPS and isinstance(value, Mapping):
            out[key] = {name: _strip(sub) for name, sub in value.items()}
        elif key in _DATA:
            out[key] = value
        else:
            out[key] = _strip(value)
    return out


def _show(value: Any, limit: int = 60) -> str:
    text = _canon(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _resolve_refs(schema: Any, root: Any, expanding: frozenset[str] = frozenset()) -> Any:
    """Inline local ``$ref`` (``#/definitions/x``); remote and recursive references stay as they are."""
    if isinstance(schema, list):
        return [_resolve_refs(item, root, expanding) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#") and ref not in expanding:
        target: Any = root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and part in target:
                target = target[part]
            else:
                target = _MISSING
                break
        if target is not _MISSING:
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            merged = {**target, **siblings} if isinstance(target, Mapping) else target
            return _resolve_refs(merged, root, expanding | {ref})
    return {
        key: (
            value
            if key in ("definitions", "$defs", "enum", "const", "default", "examples")
            else _resolve_refs(value, root, expanding)
        )
        for key, value in schema.items()
    }


def _as_schema(schema: Any) -> dict[str, Any]:
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    return dict(schema) if isinstance(schema, Mapping) else {}


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return {kind} if isinstance(kind, str) else {str(one) for one in kind}


def _covers(types: set[str] | None, one: str) -> bool:
    return types is None or one in types or (one == "integer" and "number" in types)


def _child_path(path: str, name: str) -> str:
    return f"{path}.{name}" if _IDENTIFIER.fullmatch(name) else f"{path}[{json.dumps(name)}]"


def _pointer(pointer: str, *parts: str | int) -> str:
    return pointer + "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _fraction(value: Any) -> Fraction:
    return Fraction(str(value))


# ------------------------------------------------------------------------------------------ walker


class _Differ:
    def __init__(self) -> None:
        self.changes: list[Change] = []

    def add(
        self,
        path: str,
        pointer: str,
        keyword: str,
        kind: str,
        bump: Bump,
        why: str,
        old: Any = None,
        new: Any = None,
    ) -> None:
        self.changes.append(
            Change(
                path, kind, bump, why, keyword, _pointer(pointer, keyword) if keyword else pointer, old, new
            )
        )

    def diff(self, old_raw: Any, new_raw: Any, path: str, pointer: str) -> None:
        if _canon(old_raw) == _canon(new_raw):
            return
        if old_raw is False:
            self.add(
                path,
                pointer,
                "",
                "schema_opened",
                "minor",
                "the schema was `false` (nothing valid) and now accepts values",
                old_raw,
                new_raw,
            )
            return
        if new_raw is False:
            self.add(
                path,
                pointer,
                "",
                "schema_closed",
                "major",
                "the schema is now `false`: every value is rejected",
                old_raw,
                new_raw,
            )
            return
        old, new = _as_schema(old_raw), _as_schema(new_raw)
        self.annotations(old, new, path, pointer)
        self.identity(old, new, path, pointer)
        self.types(old, new, path, pointer)
        self.values(old, new, path, pointer)
        self.bounds(old, new, path, pointer)
        self.objects(old, new, path, pointer)
        self.arrays(old, new, path, pointer)
        self.combinators(old, new, path, pointer)
        for keyword in sorted((set(old) | set(new)) - _HANDLED):
            before, after = old.get(keyword), new.get(keyword)
            if keyword in old and keyword in new and _canon(before) == _canon(after):
                continue
            if keyword in old and keyword in new and _canon(_strip(before)) == _canon(_strip(after)):
                self.add(
                    path,
                    pointer,
                    keyword,
                    "annotation_changed",
                    "patch",
                    f"only annotations inside `{keyword}` changed: validation is unchanged",
                    before,
                    after,
                )
                continue
            self.add(
                path,
                pointer,
                keyword,
                "keyword_changed",
                "major",
                f"`{keyword}` changed and its effect cannot be proven compatible: treated as breaking",
                before,
                after,
            )

    # ---------------------------------------------------------------------------------- annotations

    def annotations(self, old: dict[str, Any], new: dict[str, Any], path: str, pointer: str) -> None:
        for keyword, kind in _ANNOTATIONS.items():
            if _canon(old.get(keyword)) != _canon(new.get(keyword)):
                verb = "added" if keyword not in old else "removed" if keyword not in new else "changed"
                self.add(
                    path,
                    pointer,
                    keyword,
                    kind,
                    "patch",
                    f"`{keyword}` {verb}: an annotation, validation is unchanged",
                    old.get(keyword),
                    new.get(keyword),
                )
        if _canon(old.get("default")) != _canon(new.get("default")):
            if "default" not in old:
                self.add(
                    path,
                    pointer,
                    "default",
                    "default_added",
                    "minor",
                    "a default was added: validation is unchanged; consumers may now fill it in",
                    None,
                    new["default"],
                )
            else:
                verb = "removed" if "default" not in new else f"changed to {_show(new['default'])}"
                self.add(
                    path,
                    pointer,
                    "default",
                    "default_changed",
                    "major",
                    f"the default {_show(old['default'])} was {verb}: consumers that fill in defaults read "
                    "events without this field differently",
                    old.get("default"),
                    new.get("default"),
                )

    def identity(self, old: dict[str, Any], new: dict[str, Any], path: str, pointer: str) -> None:
        for keyword, kind, why in (
            (
                "$id",
                "id_changed",
                "the schema's identity changed: references to the old `$id` no longer resolve",
            ),
            (
                "$schema",
                "dialect_changed",
                "the JSON Schema dialect changed: keywords may validate differently",
            ),
        ):
            if old.get(keyword) != new.get(keyword):
                self.add(path, pointer, keyword, kind, "major", why, old.get(keyword), new.get(keyword))

    # ---------------------------------------------------------------------------------- values

    def types(self, old: dict[str, Any], new: dict[str, Any], path: str, pointer: str) -> None:
        before, after = _types(old), _types(new)
        if before == after:
            return
        shown_old = "any" if before is None else "|".join(sorted(before))
        shown_new = "any" if after is None else "|".join(sorted(after))
        widened = before is not None and all(_covers(after, one) for one in before)
        narrowed = after is not None and all(_covers(before, one) for one in after)
        if widened and not narrowed:
            self.add(
                path,
                pointer,
                "type",
                "type_widened",
                "minor",
                f"type {shown_old} -> {shown_new}: every old value is still accepted",
                old.get("type"),
                new.get("type"),
            )
        elif narrowed and not widened:
            self.add(
                path,
                pointer,
                "type",
                "type_narrowed",
                "major",
                f"type {shown_old} -> {shown_new}: some values valid before are now rejected",
                old.get("type"),
                new.get("type"),
            )
        else:
            self.add(
                path,
                pointer,
                "type",
                "type_changed",
                "major",
                f"type {shown_old} -> {shown_new}: values valid before are now rejected",
                old.get("type"),
                new.get("type"),
            )

    def values(self, old: dict[str, Any], new: dict[str, Any], path: str, pointer: str) -> None:
        if "enum" in old or "enum" in new:
            self.enum(old.get("enum"), new.get("enum"), path, pointer)
        if "const" in old or "const" in new:
            if "const" not in old:
                self.add(
                    path,
                    pointer,
                    "const",
                    "const_added",
                    "major",
                    f"the value must now be {_show(new['const'])}",
                    None,
                    new["const"],
                )
            elif "const" not in new:
                self.add(
                    path,
                    pointer,
                    "const",
                    "const_removed",
                    "minor",
                    f"the value no longer has to be {_show(old['const'])}",
                    old["const"],
                    None,
                )
            elif _canon(old["const"]) != _canon(new["const"]):
                self.add(
                    path,
                    pointer,
                    "const",
                    "const_changed",
                    "major",
                    f"the value must now be {_show(new['const'])} instead of {_show(old['const'])}",
                    old["const"],
                    new["const"],
                )
        for keyword, noun in (("pattern", "pattern"), ("format", "format")):
            before, after = old.get(keyword), new.get(keyword)
            if before == after:
                continue
            if before is None:
                self.add(
                    path,
                    pointer,
                    keyword,
                    f"{keyword}_added",
                    "major",
                    f"a {noun} was added ({_show(after)}): values that do not match are now rejected",
                    None,
                    after,
                )
            elif after is None:
                self.add(
                    path,
                    pointer,
                    keyword,
                    f"{keyword}_removed",
                    "minor",
                    f"the {noun} {_show(before)} was removed: more values are accepted",
                    before,
                    None,
                )
            else:
                self.add(
                    path,
                    pointer,
                    keyword,
                    f"{keyword}_changed",
                    "major",
                    f"{noun} {_show(before)} -> {_show(after)}: the new one cannot be proven to accept every "
                    "value the old one did",
                    before,
                    after,
                )

    def enum(self, before: Any, after: Any, path: str, pointer: str) -> None:
        if before is None:
            self.add(
                path,
                pointer,
                "enum",
                "enum_added",
                "major",
                f"the value is now restricted to {_show(after)}",
                None,
                after,
            )
            return
        if after is None:
            self.add(
                path,
                pointer,
                "enum",
                "enum_removed",
                "minor",
                "the value is no longer restricted to a list",
                before,
                None,
            )
            return
        old_set = {_canon(value): value for value in before}
        new_set = {_canon(value): value for value in after}
        added = [new_set[key] for key in new_set if key not in old_set]
        removed = [old_set[key] for key in old_set if key not in new_set]
        if removed and added:
            self.add(
                path,
                pointer,
                "enum",
                "enum_changed",
                "major",
                f"removed {_show(removed)} and added {_show(added)}: "
                "events using a removed value are rejected",
                before,
                after,
            )
        elif removed:
            self.add(
                path,
                pointer,
                "enum",
                "enum_narrowed",
                "major",
                f"removed {_show(removed)}: events using it are now rejected",
                before,
                after,
            )
        elif added:
            self.add(
                path,
                pointer,
                "enum",
                "enum_widened",
                "minor",
                f"added {_show(added)}: every old value is still accepted "
                "(consumers should expect new values)",
                before,
                after,
            )

    def bounds(self, old: dict[str, Any], new: dict[str, Any], path: str, pointer: str) -> None:
        for keyword, lower in _BOUNDS.items():
            before, after = old.get(keyword), new.get(keyword)
            if before == after:
                continue
            numeric = all(
                value is None or (isinstance(value, int | float) and not isinstance(value, bool))
                for value in (before, after)
            )
            if not numeric:  # e.g. draft-04 boolean exclusiveMinimum
                self.add(
                    path,
                    pointer,
                    keyword,
                    "keyword_changed",
                    "major",
                    f"`{keyword}` changed ({_show(before)} -> {_show(after)}): treated as breaking",
                    before,
                    after,
                )
            elif before is None:
                self.add(
                    path,
                    pointer,
                    keyword,
                    "bound_added",
                    "major",
                    f"new bound {keyword}={_show(after)}: values outside it are now rejected",
                    None,
                    after,
                )
            elif after is None:
                self.add(
                    path,
                    pointer,
                    keyword,
                    "bound_removed",
                    "minor",
                    f"bound {keyword}={_show(before)} removed: more values are accepted",
                    before,
                    None,
                )
            elif (after > before) == lower:
                self.add(
                    path,
                    pointer,
                    keyword,
                    "bound_tightened",
                    "major",
                    f"{keyword} {_show(before)} -> {_show(after)}: values valid before are now rejected",
                    before,
                    after,
                )
            else:
                self.add(
                    path,
                    pointer,
                    keyword,
                    "bound_loosened",
                    "minor",
                    f"{keyword} {_show(before)} -> {_show(after)}: every old value is still accepted",
                    before,
                    after,
                )
        before, after = old.get("multipleOf"), new.get("multipleOf")
        if before != after:
            if before is None:
                self.add(
                    path,
                    pointer,
                    "multipleOf",
                    "bound_added",
                    "major",
                    f"values must now be multiples of {_show(after)}",
                    None,
                    after,
                )
            elif after is None:
                self.add(
                    path,
                    pointer,
                    "multipleOf",
                    "bound_removed",
                    "minor",
                    f"values no longer have to be multiples of {_show(before)}",
                    before,
                    None,
                )
            else:
                try:
                    divides = (_fraction(before) / _fraction(after)).denominator == 1
                except (ValueError, ZeroDivisionError):
                    divides = False
                kind, bump, how = (
                    ("bound_loosened", "minor", "every old multiple still is one")
                    if divides
                    else ("bound_tightened", "major", "some old multiples are now rejected")
                )
                self.add(
                    path,
                    pointer,
                    "multipleOf",
                    kind,
                    bump,
                    f"multipleOf {before} -> {after}: {how}",
                    before,
                    after,
                )
        if bool(old.get("uniqueItems")) != bool(new.get("uniqueItems")):
            if new.get("uniqueItems"):
                self.add(
                    path,
                    pointer,
                    "uniqueItems",
                    "bound_added",
                    "major",
                    "items must now be unique: arrays with duplicates are rejected",
                    old.get("uniqueItems"),
                    True,
                )
            else:
                self.add(
                    path,
                    pointer,
                    "uniqueItems",
                    "bound_removed",
                    "minor",
                    "items no longer have to be unique",
                    True,
                    new.get("uniqueItems"),
                )

    # ---------------------------------------------------------------------------------- objects

    def objects(self, old: dict[str, Any], new: dict[str, Any], path: str, pointer: str) -> None:
        old_props: Mapping[str, Any] = old.get("properties") or {}
        new_props: Mapping[str, Any] = new.get("properties") or {}
        old_req, new_req = set(old.get("required") or ()), set(new.get("required") or ())
        removed = [name for name in old_props if name not in new_props]
        added = [name for name in new_props if name not in old_props]
        renamed: dict[str, str] = {}
        for gone in removed:
            for fresh in added:
                if (
                    fresh not in renamed.values()
                    and _canon(_strip(old_props[gone])) == _canon(_strip(new_props[fresh]))
                    and (gone in old_req) == (fresh in new_req)
                ):
                    renamed[gone] = fresh
                    break
        for gone, fresh in renamed.items():
            self.add(
                _child_path(path, fresh),
                _pointer(pointer, "properties", fresh),
                "",
                "property_renamed",
                "major",
                f"`{gone}` was renamed to `{fresh}` (same schema): readers of `{gone}` and writers "
                "of the old name break",
                gone,
                fresh,
            )
        for gone in removed:
            if gone in renamed:
                continue
            required = " (it was required)" if gone in old_req else ""
            self.add(
                _child_path(path, gone),
                _pointer(pointer, "properties", gone),
                "",
                "property_removed",
                "major",
                f"property `{gone}` was removed{required}: consumers reading it break",
                old_props[gone],
                None,
            )
        for fresh in added:
            if fresh in renamed.values():
                continue
            if fresh in new_req:
                self.add(
                    _child_path(path, fresh),
                    _pointer(pointer, "properties", fresh),
                    "",
                    "property_added_required",
                    "major",
                    f"required property `{fresh}` was added: events without it are now rejected",
                    None,
                    new_props[fresh],
                )
            else:
                self.add(
                    _child_path(path, fresh),
                    _pointer(pointer, "properties", fresh),
                    "",
                    "property_added",
                    "minor",
                    f"optional property `{fresh}` was added: every old event is still valid",
                    None,
                    new_props[fresh],
                )
        for name in old_props:
            if name in new_props:
                self.diff(
                    old_props[name],
                    new_props[name],
                    _child_path(path, name),
                    _pointer(pointer, "properties", name),
                )
        skip = set(added) | set(removed)
        for name in sorted(new_req - old_req - skip):
            self.add(
                _child_path(path, name),
                pointer,
                "required",
                "required_added",
                "major",
                f"`{name}` became required: events without it are now rejected",
                False,
                True,
            )
        for name in sorted(old_req - new_req - skip):
            self.add(
                _child_path(path, name),
                pointer,
                "required",
                "required_removed",
                "minor",
                f"`{name}` is no longer required: every old event is still valid (consumers must cope "
                "with its absence)",
                True,
                False,
            )
        self.additional(old, new, path, pointer)

    def additional(self, old: dict[str, Any], new: dict[str, Any], path: str, pointer: str) -> None:
        before, after = old.get("additionalProperties", True), new.get("additionalProperties", True)
        if _canon(before) == _canon(after):
            return
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            self.diff(before, after, f"{path}.*", _pointer(pointer, "additionalProperties"))
        elif after is True or (before is False and after is not False):
            self.add(
                path,
                pointer,
                "additionalProperties",
                "additional_properties_loosened",
                "minor",
                "undeclared properties are accepted more freely than before",
                before,
                after,
            )
        else:
            self.add(
                path,
                pointer,
                "additionalProperties",
                "additional_properties_tightened",
                "major",
                "undeclared properties are now rejected or constrained: events carrying extra fields break",
                before,
                after,
            )

    # ---------------------------------------------------------------------------------- arrays

    def arrays(self, old: dict[str, Any], new: dict[str, Any], path: str, pointer: str) -> None:
        before, after = old.get("items", _MISSING), new.get("items", _MISSING)
        if before is _MISSING and after is _MISSING:
            return
        if before is _MISSING:
            if after in (True, {}):
                return
            self.add(
                f"{path}[*]",
                pointer,
                "items",
                "items_added",
                "major",
                "array items are now constrained: arrays valid before may be rejected",
                None,
                after,
            )
        elif after is _MISSING:
            if before in (True, {}):
                return
            self.add(
                f"{path}[*]",
                pointer,
                "items",
                "items_removed",
                "minor",
                "array items are no longer constrained",
                before,
                None,
            )
        elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
            for index, (one, two) in enumerate(zip(before, after, strict=True)):
                self.diff(one, two, f"{path}[{index}]", _pointer(pointer, "items", index))
        elif isinstance(before, list) or isinstance(after, list):
            if _canon(before) != _canon(after):
                self.add(
                    f"{path}[*]",
                    pointer,
                    "items",
                    "keyword_changed",
                    "major",
                    "tuple `items` changed shape: treated as breaking",
                    before,
                    after,
                )
        else:
            self.diff(before, after, f"{path}[*]", _pointer(pointer, "items"))

    # ---------------------------------------------------------------------------------- combinators

    def combinators(self, old: dict[str, Any], new: dict[str, Any], path: str, pointer: str) -> None:
        growth: tuple[tuple[str, Bump], ...] = (("anyOf", "minor"), ("allOf", "major"))
        for keyword, grows in growth:
            before, after = old.get(keyword), new.get(keyword)
            if _canon(before) == _canon(after):
                continue
            if (
                isinstance(before, list)
                and isinstance(after, list)
                and len(before) == len(after)
                and all(
                    _canon(_strip(one)) == _canon(_strip(two)) for one, two in zip(before, after, strict=True)
                )
            ):
                for index, (one, two) in enumerate(zip(before, after, strict=True)):
                    self.diff(one, two, path, _pointer(pointer, keyword, index))
                continue
            old_set = {_canon(_strip(item)) for item in before or []}
            new_set = {_canon(_strip(item)) for item in after or []}
            if before and after and old_set < new_set:
                bump: Bump = grows
                why = (
                    "a branch was added: more values are accepted"
                    if keyword == "anyOf"
                    else "a sub-schema was added: every value must also satisfy it"
                )
                self.add(path, pointer, keyword, f"{keyword}_extended", bump, why, before, after)
            elif before and after and new_set < old_set:
                bump = "major" if keyword == "anyOf" else "minor"
                why = (
                    "a branch was removed: values only it accepted are rejected"
                    if keyword == "anyOf"
                    else "a sub-schema was removed: fewer constraints apply"
                )
                self.add(path, pointer, keyword, f"{keyword}_reduced", bump, why, before, after)
            else:
                self.add(
                    path,
                    pointer,
                    keyword,
                    "keyword_changed",
                    "major",
                    f"`{keyword}` changed and cannot be proven compatible: treated as breaking",
                    before,
                    after,
                )


# ------------------------------------------------------------------------------------------ entry points


def diff_schemas(old: Mapping[str, Any] | bool, new: Mapping[str, Any] | bool) -> SchemaDiff:
    """Classify every change from schema ``old`` to schema ``new`` (both as decoded JSON).

    >>> base = {"type": "object", "properties": {"a": {"type": "string"}}}
    >>> diff_schemas(base, {**base, "required": ["a"]}).bump
    'major'
    """
    differ = _Differ()
    differ.diff(_resolve_refs(old, old), _resolve_refs(new, new), "$", "")
    title = new.get("title") if isinstance(new, Mapping) else None
    return SchemaDiff(differ.changes, title if isinstance(title, str) else None)


def diff_schema_files(old: str | Path, new: str | Path) -> SchemaDiff:
    """:func:`diff_schemas` of two schema files."""
    return diff_schemas(load_schema_file(old), load_schema_file(new))


def _schema_files(root: Path) -> dict[str, Path]:
    return {
        path.relative_to(root).as_posix(): path for path in sorted(root.rglob("*.json")) if path.is_file()
    }


def diff_schema_dirs(old: str | Path, new: str | Path) -> SchemaDiff:
    """Compare two schema folders file by file (matched by relative path); added/removed files count too."""
    old_files, new_files = _schema_files(Path(old)), _schema_files(Path(new))
    changes: list[Change] = []
    for name in sorted(set(old_files) | set(new_files)):
        if name not in new_files:
            changes.append(
                Change(
                    "$",
                    "schema_removed",
                    "major",
                    "the schema file was removed: its producers and consumers lose their contract",
                    file=name,
                )
            )
        elif name not in old_files:
            changes.append(
                Change(
                    "$", "schema_added", "minor", "a new schema file (new event type or version)", file=name
                )
            )
        else:
            result = diff_schema_files(old_files[name], new_files[name])
            changes.extend(
                Change(c.path, c.kind, c.bump, c.why, c.keyword, c.schema_path, c.old, c.new, name)
                for c in result.changes
            )
    return SchemaDiff(changes)


def diff_paths(old: str | Path, new: str | Path) -> SchemaDiff:
    """Two schema files, or two schema folders."""
    old_path, new_path = Path(old), Path(new)
    for path in (old_path, new_path):
        if not path.exists():
            raise ValueError(f"{path} does not exist")
    if old_path.is_dir() != new_path.is_dir():
        raise ValueError(
            f"compare two files or two folders, not a {'folder' if old_path.is_dir() else 'file'} "
            f"with a {'folder' if new_path.is_dir() else 'file'}"
        )
    if old_path.is_dir():
        return diff_schema_dirs(old_path, new_path)
    return diff_schema_files(old_path, new_path)
