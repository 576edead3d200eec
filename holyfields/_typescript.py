"""Render the catalog as one TypeScript module: interfaces, literal unions and a union keyed by event type."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from typing import Any

from holyfields._ir import (
    AnyType,
    ArrayType,
    Catalog,
    LiteralType,
    MapType,
    ModelRef,
    ObjectModel,
    Property,
    TypeRef,
    UnionType,
)
from holyfields._render import header_lines, json_literal, ts_comment

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_SIMPLE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*|\"[^\"]*\"")
_TAGS = (
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "default",
)
_WIDTH = 100


def _type(ref: TypeRef) -> str:
    if isinstance(ref, AnyType):
        return "unknown"
    if isinstance(ref, ModelRef):
        return ref.name
    if isinstance(ref, LiteralType):
        return " | ".join(json_literal(value) for value in ref.values) or "never"
    if isinstance(ref, UnionType):
        return " | ".join(dict.fromkeys(_type(option) for option in ref.options))
    if isinstance(ref, MapType):
        return f"{{ [key: string]: {_type(ref.value)} }}"
    if isinstance(ref, ArrayType):
        item = _type(ref.item)
        return f"{item}[]" if _SIMPLE.fullmatch(item) else f"Array<{item}>"
    return {
        "integer": "number",
        "number": "number",
        "string": "string",
        "boolean": "boolean",
        "null": "null",
    }[ref.kind]


def _key(name: str) -> str:
    return name if _IDENTIFIER.fullmatch(name) else json_literal(name)


def _doc(description: str | None, schema: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    if description:
        for paragraph in description.strip().split("\n"):
            lines.extend(
                textwrap.wrap(paragraph, _WIDTH, break_long_words=False, break_on_hyphens=False) or [""]
            )
    sources = [schema]
    items = schema.get("items")
    if schema.get("type") == "array" and isinstance(items, Mapping):
        sources.append(items)
    for index, source in enumerate(sources):
        for tag in _TAGS:
            if tag in source:
                value = source[tag]
                shown = (
                    value if isinstance(value, str) and tag in ("format", "pattern") else json_literal(value)
                )
                name = tag if index == 0 else "item" + tag[0].upper() + tag[1:]
                lines.append(f"@{name} {shown}".rstrip())
    return lines


def _property(prop: Property, override: str | None = None) -> list[str]:
    mark = "" if prop.required else "?"
    return [
        *ts_comment(_doc(prop.description, prop.schema), "  "),
        f"  {_key(prop.name)}{mark}: {override or _type(prop.type)};",
    ]


def _interface(
    model: ObjectModel,
    *,
    head: str | None = None,
    overrides: Mapping[str, str] | None = None,
    description: str | None = None,
) -> list[str]:
    lines = [
        *ts_comment(_doc(description or model.description, {}), ""),
        f"export interface {head or model.name} {{",
    ]
    for prop in model.properties:
        lines.extend(_property(prop, (overrides or {}).get(prop.name)))
    if model.additional is True:
        lines.append("  /** Unknown keys are allowed (a minor version may add optional fields). */")
        lines.append("  [key: string]: unknown;")
    elif not isinstance(model.additional, bool):
        lines.append("  [key: string]: unknown;")
    lines.append("}")
    return lines


def render_typescript(catalog: Catalog) -> str:
    """The text of ``contracts/generated/typescript/events.ts`` for ``catalog``."""
    envelope = catalog.model(catalog.envelope)
    names = {prop.name for prop in envelope.properties}
    missing = [name for name in ("event_type", "payload") if name not in names]
    if missing:
        raise ValueError(f"the envelope schema declares no {', '.join(missing)} property: cannot type events")
    taken = set(catalog.models) | {"JsonObject", "EventType", "AnyEvent", "EventOf", "PayloadByEventType"}
    event_names: dict[str, str] = {}
    for event_type, model in catalog.payloads.items():
        candidate, counter = f"{model}Event", 2
        while candidate in taken:
            candidate, counter = f"{model}Event{counter}", counter + 1
        taken.add(candidate)
        event_names[event_type] = candidate

    doc = [
        "TypeScript types of the 33GOD events: the envelope and one interface per event type.",
        "",
        *header_lines(catalog.schemas),
        "",
        "`AnyEvent` is a union told apart by `event_type`: `switch (event.event_type)` narrows `payload`.",
    ]
    out = [
        *ts_comment(doc, ""),
        "",
        f'export const SCHEMA_SHA256 = "{catalog.schemas.sha256}";',
        "",
        "/** Any JSON object. */",
        "export type JsonObject = { [key: string]: unknown };",
    ]
    for model in catalog.models.values():
        if model.name == envelope.name:
            continue
        out.extend(["", *_interface(model)])
    out.extend(
        [
            "",
            *_interface(
                envelope,
                head=f"{envelope.name}<TType extends string = string, TPayload = JsonObject>",
                overrides={"event_type": "TType", "payload": "TPayload"},
                description=(envelope.description or "The event envelope.")
                + "\n`TType` and `TPayload` narrow it to one event type (see `AnyEvent`).",
            ),
        ]
    )
    event_types = list(catalog.payloads)
    out.extend(["", "/** Every event type of the schema folder, sorted. */", "export const EVENT_TYPES = ["])
    out.extend(f"  {json_literal(one)}," for one in event_types)
    out.extend(
        [
            "] as const;",
            "",
            "/** A known event type. */",
            "export type EventType = (typeof EVENT_TYPES)[number];",
            "",
            "/** The payload interface of each event type. */",
            "export interface PayloadByEventType {",
        ]
    )
    out.extend(f"  {json_literal(one)}: {catalog.payloads[one]};" for one in event_types)
    out.append("}")
    for one in event_types:
        out.extend(
            [
                "",
                f"/** Event type `{one}`: the envelope with its typed payload. */",
                f"export type {event_names[one]} = "
                f"{envelope.name}<{json_literal(one)}, {catalog.payloads[one]}>;",
            ]
        )
    out.extend(
        [
            "",
            "/** A typed event of any known type; `event_type` tells them apart. */",
            "export type AnyEvent =",
        ]
    )
    out.extend(
        f"  | {event_names[one]}" + (";" if index == len(event_types) - 1 else "")
        for index, one in enumerate(event_types)
    )
    out.extend(
        [
            "",
            "/** The event of type `T`. */",
            "export type EventOf<T extends EventType> = Extract<AnyEvent, { event_type: T }>;",
            "",
            "/** Whether `value` is a known event type. */",
            "export function isEventType(value: string): value is EventType {",
            "  return (EVENT_TYPES as readonly string[]).indexOf(value) !== -1;",
            "}",
        ]
    )
    return "\n".join(out) + "\n"
