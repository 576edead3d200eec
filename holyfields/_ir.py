"""The type model both code generators render: named object models and the types of their fields.

Only the part of JSON Schema the contracts use becomes a precise type: ``type`` (one or several), ``enum``,
``const``, ``properties``/``required``, ``additionalProperties``, ``items`` and the string, number and array
bounds. ``anyOf``/``oneOf`` become unions; anything else (``allOf``, ``$ref``, ``not``, ``if``) becomes "any
value" in the types and stays the business of the JSON Schema validator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from holyfields._loader import SchemaSet

__all__ = [
    "AnyType",
    "ArrayType",
    "Catalog",
    "LiteralType",
    "MapType",
    "ModelRef",
    "ObjectModel",
    "PrimitiveType",
    "Property",
    "TypeRef",
    "UnionType",
    "build_catalog",
    "pascal",
]

JSON_TYPES = ("string", "integer", "number", "boolean", "null", "array", "object")


@dataclass(frozen=True)
class AnyType:
    """Any JSON value (no usable ``type``)."""


@dataclass(frozen=True)
class PrimitiveType:
    """``string``, ``integer``, ``number``, ``boolean`` or ``null``; ``schema`` carries the constraints."""

    kind: str
    schema: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class LiteralType:
    """``enum`` / ``const``: one of these JSON scalars."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class ArrayType:
    """A JSON array of ``item``; ``schema`` carries ``minItems``/``maxItems``/``uniqueItems``."""

    item: TypeRef
    schema: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class MapType:
    """A JSON object without declared properties: string keys to ``value``."""

    value: TypeRef


@dataclass(frozen=True)
class ModelRef:
    """A JSON object with declared properties: the :class:`ObjectModel` called ``name``."""

    name: str


@dataclass(frozen=True)
class UnionType:
    """One of several types (``type: [...]``, ``anyOf``, ``oneOf``)."""

    options: tuple[TypeRef, ...]


TypeRef = AnyType | PrimitiveType | LiteralType | ArrayType | MapType | ModelRef | UnionType


@dataclass
class Property:
    """One declared property of an object model."""

    name: str
    type: TypeRef
    required: bool
    schema: Mapping[str, Any]

    @property
    def description(self) -> str | None:
        """The ``description`` of the property schema, if any."""
        text = self.schema.get("description")
        return text if isinstance(text, str) else None

    @property
    def nullable(self) -> bool:
        """Whether ``null`` is an accepted value."""
        return _admits_null(self.type)


@dataclass
class ObjectModel:
    """A JSON object with declared properties (becomes a pydantic model and a TypeScript interface)."""

    name: str
    schema_path: str
    schema: Mapping[str, Any]
    properties: list[Property]
    #: ``True``: unknown keys allowed (any value); ``False``: forbidden; a type: allowed with that type
    additional: bool | TypeRef = True

    @property
    def description(self) -> str | None:
        """The ``description`` of the object schema, if any."""
        text = self.schema.get("description")
        return text if isinstance(text, str) else None


@dataclass
class Catalog:
    """Every object model (children before parents), the envelope's and each event type's model name."""

    schemas: SchemaSet
    models: dict[str, ObjectModel]
    envelope: str
    payloads: dict[str, str]

    def model(self, name: str) -> ObjectModel:
        """The model called ``name``."""
        return self.models[name]


def pascal(text: str) -> str:
    """``fireflies.transcript.ready.v1`` -> ``FirefliesTranscriptReadyV1``; ``a_b`` -> ``AB``."""
    parts = [part for part in re.split(r"[^0-9A-Za-z]+", text) if part]
    name = "".join(part[:1].upper() + part[1:] for part in parts)
    if not name or name[0].isdigit():
        name = "T" + name
    return name


def _admits_null(ref: TypeRef) -> bool:
    if isinstance(ref, AnyType):
        return True
    if isinstance(ref, PrimitiveType):
        return ref.kind == "null"
    if isinstance(ref, LiteralType):
        return None in ref.values
    if isinstance(ref, UnionType):
        return any(_admits_null(option) for option in ref.options)
    return False


class _Builder:
    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        self.models: dict[str, ObjectModel] = {}

    def unique(self, name: str) -> str:
        candidate, counter = name, 2
        while candidate in self.models:
            candidate = f"{name}{counter}"
            counter += 1
        return candidate

    def object_model(self, name: str, schema: Mapping[str, Any], pointer: str) -> str:
        name = self.unique(name)
        self.models[name] = ObjectModel(name, pointer, schema, [])  # reserve the name before the children
        required = set(schema.get("required", ()))
        properties = []
        for prop, sub in (schema.get("properties") or {}).items():
            child = self.type_of(sub, name + pascal(prop), f"{pointer}/properties/{prop}")
            properties.append(
                Property(prop, child, prop in required, sub if isinstance(sub, Mapping) else {})
            )
        additional = schema.get("additionalProperties", True)
        extra: bool | TypeRef = (
            additional
            if isinstance(additional, bool)
            else self.type_of(additional, name + "Value", f"{pointer}/additionalProperties")
        )
        model = self.models.pop(name)
        model.properties, model.additional = properties, extra
        self.models[name] = model  # insertion order: children first
        return name

    def type_of(self, schema: Any, name: str, pointer: str) -> TypeRef:
        if schema is True or not isinstance(schema, Mapping):
            return AnyType()
        if "const" in schema:
            return LiteralType((schema["const"],))
        if "enum" in schema and all(
            value is None or isinstance(value, str | int | float | bool) for value in schema["enum"]
        ):
            return LiteralType(tuple(schema["enum"]))
        for keyword in ("anyOf", "oneOf"):
            if isinstance(schema.get(keyword), list):
                options = tuple(
                    self.type_of(
                        {**_inherited(schema), **option} if isinstance(option, Mapping) else option,
                        f"{name}{index + 1}",
                        f"{pointer}/{keyword}/{index}",
                    )
                    for index, option in enumerate(schema[keyword])
                )
                return options[0] if len(options) == 1 else UnionType(options)
        kind = schema.get("type")
        if kind is None and "properties" in schema:
            kind = "object"
        if isinstance(kind, list):
            options = tuple(
                self.type_of({**schema, "type": one}, name, pointer) for one in kind if one in JSON_TYPES
            )
            if not options:
                return AnyType()
            return options[0] if len(options) == 1 else UnionType(options)
        if kind in ("string", "integer", "number", "boolean", "null"):
            return PrimitiveType(kind, schema)
        if kind == "array":
            items = schema.get("items", True)
            item = (
                AnyType()
                if isinstance(items, list)
                else self.type_of(items, name + "Item", f"{pointer}/items")
            )
            return ArrayType(item, schema)
        if kind == "object":
            if schema.get("properties"):
                return ModelRef(self.object_model(name, schema, pointer))
            additional = schema.get("additionalProperties", True)
            value = (
                AnyType()
                if isinstance(additional, bool)
                else self.type_of(additional, name + "Value", f"{pointer}/additionalProperties")
            )
            return MapType(value)
        return AnyType()


def _inherited(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Keywords of a schema that its ``anyOf``/``oneOf`` branches share (``type``)."""
    return {key: schema[key] for key in ("type",) if key in schema}


def _title_name(schema: Mapping[str, Any], fallback: str) -> str:
    title = schema.get("title")
    return (
        pascal(title) if isinstance(title, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", title) else fallback
    )


def build_catalog(schemas: SchemaSet) -> Catalog:
    """The object models of the envelope and of every payload schema, named deterministically."""
    builder = _Builder(schemas)
    payloads: dict[str, str] = {}
    for event_type, schema in schemas.payloads.items():
        ref = builder.type_of(
            {**schema, "type": "object"} if "type" not in schema else schema,
            pascal(event_type),
            f"{event_type}#",
        )
        if not isinstance(ref, ModelRef):  # a payload without declared properties still gets a model
            name = builder.unique(pascal(event_type))
            builder.models[name] = ObjectModel(name, f"{event_type}#", schema, [])
            ref = ModelRef(name)
        payloads[event_type] = ref.name
    envelope_ref = builder.type_of(
        schemas.envelope, _title_name(schemas.envelope, "EventEnvelope"), "envelope#"
    )
    if not isinstance(envelope_ref, ModelRef):
        raise ValueError("the envelope schema declares no properties: nothing to generate")
    return Catalog(schemas, builder.models, envelope_ref.name, payloads)
