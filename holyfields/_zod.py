"""Render the catalog as Zod schemas (runtime validation in TypeScript), one constant per object model.

The same type model as the TypeScript interfaces (:mod:`holyfields._typescript`), so the two cannot
disagree; the constraints the interfaces only document (patterns, lengths, bounds, item counts) are enforced.
``format`` and ``uniqueItems`` are not: where the schemas care about a format, a ``pattern`` says the same
in a portable way.
"""

from __future__ import annotations

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
    PrimitiveType,
    TypeRef,
    UnionType,
)
from holyfields._render import header_lines, json_literal, ts_comment

_STRING_BOUNDS = (("minLength", "min"), ("maxLength", "max"))
_NUMBER_BOUNDS = (
    ("minimum", "gte"),
    ("maximum", "lte"),
    ("exclusiveMinimum", "gt"),
    ("exclusiveMaximum", "lt"),
)


def _schema_name(model: str) -> str:
    return f"{model}Schema"


def _checks(schema: Mapping[str, Any], bounds: tuple[tuple[str, str], ...]) -> str:
    return "".join(
        f".{method}({json_literal(schema[key])})"
        for key, method in bounds
        if isinstance(schema.get(key), int | float) and not isinstance(schema.get(key), bool)
    )


def _zod(ref: TypeRef) -> str:
    if isinstance(ref, AnyType):
        return "z.unknown()"
    if isinstance(ref, ModelRef):
        return _schema_name(ref.name)
    if isinstance(ref, LiteralType):
        if not ref.values:
            return "z.never()"
        if all(isinstance(value, str) for value in ref.values):
            return f"z.enum([{', '.join(json_literal(v) for v in ref.values)}])"
        options = [f"z.literal({json_literal(value)})" for value in ref.values]
        return options[0] if len(options) == 1 else f"z.union([{', '.join(options)}])"
    if isinstance(ref, UnionType):
        options = list(dict.fromkeys(_zod(option) for option in ref.options))
        return options[0] if len(options) == 1 else f"z.union([{', '.join(options)}])"
    if isinstance(ref, MapType):
        return f"z.record(z.string(), {_zod(ref.value)})"
    if isinstance(ref, ArrayType):
        counts = _checks(ref.schema, (("minItems", "min"), ("maxItems", "max")))
        return f"z.array({_zod(ref.item)}){counts}"
    assert isinstance(ref, PrimitiveType)
    schema = ref.schema
    if ref.kind == "string":
        text = "z.string()" + _checks(schema, _STRING_BOUNDS)
        if isinstance(schema.get("pattern"), str):
            text += f".regex(new RegExp({json_literal(schema['pattern'])}))"
        return text
    if ref.kind in ("integer", "number"):
        extra = ""
        if isinstance(schema.get("multipleOf"), int | float):
            extra = f".multipleOf({json_literal(schema['multipleOf'])})"
        if ref.kind == "integer":
            # any integral number: z.int() also demands the safe-integer range, which JSON Schema does not
            extra += '.refine(Number.isInteger, { message: "expected an integer" })'
        return "z.number()" + _checks(schema, _NUMBER_BOUNDS) + extra
    return {"boolean": "z.boolean()", "null": "z.null()"}[ref.kind]


def _object(model: ObjectModel) -> list[str]:
    fields = []
    for prop in model.properties:
        value = _zod(prop.type) + ("" if prop.required else ".optional()")
        fields.append(f"  {json_literal(prop.name)}: {value},")
    if model.additional is True:
        factory, tail = "z.looseObject", ""
    elif model.additional is False:
        factory, tail = "z.strictObject", ""
    else:
        factory, tail = "z.object", f".catchall({_zod(model.additional)})"
    doc = [model.description.strip()] if model.description else []
    return [
        *ts_comment([*doc, f"Zod schema of `{model.name}`."], ""),
        f"export const {_schema_name(model.name)} = {factory}({{",
        *fields,
        f"}}){tail};",
    ]


def render_zod(catalog: Catalog) -> str:
    """The text of ``contracts/generated/typescript/events.zod.ts`` for ``catalog``."""
    doc = [
        "Zod schemas of the 33GOD events: the envelope and one schema per payload (runtime validation).",
        "",
        *header_lines(catalog.schemas),
        "",
        "Needs the npm package `zod` (version 4) where it is compiled; the types of the same models are in",
        "`events.ts`. `PAYLOAD_SCHEMAS` maps each event type to the schema of its payload.",
    ]
    out = [
        *ts_comment(doc, ""),
        'import { z } from "zod";',
        "",
        f'export const SCHEMA_SHA256 = "{catalog.schemas.sha256}";',
    ]
    for model in catalog.models.values():  # children before parents
        out.extend(["", *_object(model)])
    out.extend(["", "/** The payload schema of each event type. */", "export const PAYLOAD_SCHEMAS = {"])
    out.extend(
        f"  {json_literal(event_type)}: {_schema_name(model)},"
        for event_type, model in catalog.payloads.items()
    )
    out.append("} as const;")
    return "\n".join(out) + "\n"
