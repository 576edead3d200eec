"""Render the catalog as one Python module of pydantic v2 models."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter

from holyfields._ir import (
    AnyType,
    ArrayType,
    Catalog,
    LiteralType,
    MapType,
    ModelRef,
    ObjectModel,
    PrimitiveType,
    Property,
    TypeRef,
    UnionType,
)
from holyfields._render import (
    header_lines,
    py_docstring,
    py_identifier,
    py_literal,
    py_string,
    py_string_lines,
)

#: attribute names a field may not take on a pydantic model
_RESERVED = frozenset(dir(BaseModel)) | {"model_config", "Any", "Annotated", "Literal", "Field"}

_NUMBER_BOUNDS = (
    ("minimum", "ge"),
    ("maximum", "le"),
    ("exclusiveMinimum", "gt"),
    ("exclusiveMaximum", "lt"),
    ("multipleOf", "multiple_of"),
)

_WIDTH = 110

_FORMAT_CHECKS = {"uuid": "_check_uuid", "date-time": "_check_date_time", "uri": "_check_uri"}

_HELPERS = {
    "_check_uuid": '''
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _check_uuid(value: str) -> str:
    """``format: uuid``: the canonical 8-4-4-4-12 hex form."""
    if not _UUID.fullmatch(value):
        raise ValueError(f"{value!r} is not a uuid")
    return value
''',
    "_check_date_time": '''
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\\.[0-9]+)?"
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"
)


def _check_date_time(value: str) -> str:
    """``format: date-time``: an RFC 3339 date-time with a timezone, on a real calendar day."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    offset_hour, offset_minute = (int(part or 0) for part in match.groups()[6:])
    if not (
        1 <= month <= 12
        and 1 <= day <= calendar.monthrange(year, month)[1]
        and hour <= 23
        and minute <= 59
        and second <= 60
        and offset_hour <= 23
        and offset_minute <= 59
    ):
        raise ValueError(f"{value!r} is not a valid RFC 3339 date-time")
    return value
''',
    "_check_uri": '''
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\\-]*:(?:[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


def _check_uri(value: str) -> str:
    """``format: uri``: an absolute RFC 3986 URI (a scheme, then only URI characters)."""
    if not _URI.fullmatch(value):
        raise ValueError(f"{value!r} is not a URI")
    return value
''',
    "_check_unique": '''
def _check_unique(value: list[Any]) -> list[Any]:
    """``uniqueItems: true``."""
    seen: list[Any] = []
    for item in value:
        if item in seen:
            raise ValueError(f"duplicate item {item!r}")
        seen.append(item)
    return value
''',
}

_PRELUDE = '''


class _Model(BaseModel):
    """Base of every model: unknown keys are kept, values are not coerced (``"1"`` is not an integer)."""

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)

    #: optional fields whose schema accepts ``null``; every other optional field must be omitted, not null
    _nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _reject_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls._nullable:
            raise ValueError("null is not allowed here: omit the field instead")
        return value
'''


class _PythonRenderer:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.helpers: set[str] = set()
        self.patterns: dict[str, str] = {}
        self.uses_union = False

    # ------------------------------------------------------------------------------------------ types

    def pattern_constant(self, pattern: str, schema: Mapping[str, Any], hint: str) -> str:
        if pattern in self.patterns:
            return self.patterns[pattern]
        try:
            TypeAdapter(Annotated[str, Field(pattern=pattern)])
        except Exception as exc:  # the pydantic regex engine rejects it (look-around, back-references)
            raise ValueError(f"pattern {pattern!r} ({hint}) is not supported by pydantic: {exc}") from None
        fmt = schema.get("format")
        base = (
            re.sub(r"[^A-Z0-9]+", "_", str(fmt).upper())
            if isinstance(fmt, str)
            else re.sub(r"[^A-Z0-9]+", "_", hint.upper())
        )
        name, counter = f"{base.strip('_')}_PATTERN", 2
        while name in self.patterns.values():
            name = f"{base.strip('_')}_PATTERN_{counter}"
            counter += 1
        self.patterns[pattern] = name
        return name

    def type_expr(self, ref: TypeRef, hint: str) -> str:
        if isinstance(ref, AnyType):
            return "Any"
        if isinstance(ref, ModelRef):
            return ref.name
        if isinstance(ref, LiteralType):
            if all(value is None or isinstance(value, str | int | bool) for value in ref.values):
                return "Literal[" + ", ".join(py_literal(value) for value in ref.values) + "]"
            return "Any"
        if isinstance(ref, UnionType):
            return " | ".join(self.type_expr(option, hint) for option in ref.options)
        if isinstance(ref, MapType):
            return f"dict[str, {self.type_expr(ref.value, hint)}]"
        if isinstance(ref, ArrayType):
            args = _args((("minItems", "min_length"), ("maxItems", "max_length")), ref.schema)
            inner = f"list[{self.type_expr(ref.item, hint)}]"
            extras = [f"Field({', '.join(args)})"] if args else []
            if ref.schema.get("uniqueItems") is True:
                self.helpers.add("_check_unique")
                extras.append("AfterValidator(_check_unique)")
            return f"Annotated[{inner}, {', '.join(extras)}]" if extras else inner
        return self.primitive(ref, hint)

    def primitive(self, ref: PrimitiveType, hint: str) -> str:
        schema = ref.schema
        if ref.kind == "null":
            return "None"
        if ref.kind == "boolean":
            return "bool"
        if ref.kind in ("integer", "number"):
            base = "int" if ref.kind == "integer" else "float"
            args = _args(_NUMBER_BOUNDS, schema)
            return f"Annotated[{base}, Field({', '.join(args)})]" if args else base
        args = _args((("minLength", "min_length"), ("maxLength", "max_length")), schema)
        if isinstance(schema.get("pattern"), str):
            args.append(f"pattern={self.pattern_constant(schema['pattern'], schema, hint)}")
        extras = [f"Field({', '.join(args)})"] if args else []
        check = _FORMAT_CHECKS.get(str(schema.get("format")))
        if check:
            self.helpers.add(check)
            extras.append(f"AfterValidator({check})")
        return f"Annotated[str, {', '.join(extras)}]" if extras else "str"

    # ----------------------------------------------------------------------------------------- models

    def field_line(self, prop: Property) -> tuple[list[str], bool]:
        """The class-body line of one field and whether the field is an optional nullable one."""
        name = py_identifier(prop.name, _RESERVED)
        expr = self.type_expr(prop.type, prop.name)
        kwargs: list[str] = []
        nullable = False
        if not prop.required:
            if "default" in prop.schema:
                kwargs.append(f"default={py_literal(prop.schema['default'])}")
            else:
                kwargs.append("default=None")
                nullable = prop.nullable
                if not nullable:
                    expr = f"{expr} | None"
        if name != prop.name:
            kwargs.append(f"alias={py_string(prop.name)}")
        if prop.description:
            kwargs.append(f"description={py_string(prop.description)}")
        head = f"    {name}: {expr}"
        if len(head) > _WIDTH and expr.startswith("Literal[") and isinstance(prop.type, LiteralType):
            values = [f"        {py_literal(value)}," for value in prop.type.values]
            suffix = expr[expr.rindex("]") + 1 :]
            head = "\n".join([f"    {name}: Literal[", *values, f"    ]{suffix}"])
        if kwargs == ["default=None"]:
            return [f"{head} = None"], nullable
        if not kwargs:
            return [head], nullable
        line = f"{head} = Field({', '.join(kwargs)})"
        if len(line.rsplit("\n", 1)[-1]) <= _WIDTH:
            return [line], nullable
        lines = [f"{head} = Field("]
        for kwarg in kwargs:
            if kwarg.startswith("description="):
                parts = py_string_lines(prop.description or "", " " * 12, _WIDTH)
                if len(parts) > 1:
                    lines.extend(
                        ["        description=(", *(f"            {part}" for part in parts), "        ),"]
                    )
                    continue
            lines.append(f"        {kwarg},")
        lines.append("    )")
        return lines, nullable

    def model_class(
        self,
        model: ObjectModel,
        *,
        name: str | None = None,
        base: str = "_Model",
        properties: list[Property] | None = None,
        doc: str | None = None,
    ) -> list[str]:
        lines = [f"class {name or model.name}({base}):"]
        lines.append(py_docstring(doc or model.description or f"The ``{model.schema_path}`` object.", "    "))
        lines.append("")
        if model.additional is False:
            lines.append('    model_config = ConfigDict(extra="forbid")')
        elif not isinstance(model.additional, bool):
            extra = self.type_expr(model.additional, "value")
            lines.append(f"    __pydantic_extra__: dict[str, {extra}] = Field(init=False)")
        nullable: list[str] = []
        for prop in model.properties if properties is None else properties:
            field_lines, is_nullable = self.field_line(prop)
            lines.extend(field_lines)
            if is_nullable:
                nullable.append(py_identifier(prop.name, _RESERVED))
        if nullable:
            names = ", ".join(py_string(one) for one in nullable)
            lines.append(f"    _nullable: ClassVar[frozenset[str]] = frozenset({{{names}}})")
        if lines[-1] == "":
            lines.pop()
        return lines

    # ----------------------------------------------------------------------------------------- module

    def render(self) -> str:
        catalog = self.catalog
        envelope = catalog.model(catalog.envelope)
        by_name = {prop.name: prop for prop in envelope.properties}
        missing = [name for name in ("event_type", "payload") if name not in by_name]
        if missing:
            raise ValueError(
                f"the envelope schema declares no {', '.join(missing)} property: cannot type events"
            )
        taken = set(catalog.models)
        base_name = _fresh(f"{envelope.name}Base", taken)
        event_names = {
            event_type: _fresh(f"{model}Event", taken) for event_type, model in catalog.payloads.items()
        }

        blocks: list[list[str]] = [
            self.model_class(model) for model in catalog.models.values() if model.name != envelope.name
        ]
        common = [prop for prop in envelope.properties if prop.name not in ("event_type", "payload")]
        blocks.append(
            self.model_class(
                envelope,
                name=base_name,
                properties=common,
                doc=(envelope.description or "The event envelope.")
                + f"\n\nThe fields every event shares; :class:`{envelope.name}` adds an untyped payload, the "
                "``*Event`` classes a typed one.",
            )
        )
        blocks.append(
            self.model_class(
                envelope,
                base=base_name,
                properties=[by_name["event_type"], by_name["payload"]],
                doc="Any event, of any type (also one this module does not know), with an untyped payload.",
            )
        )
        for event_type, model_name in catalog.payloads.items():
            blocks.append(
                [
                    f"class {event_names[event_type]}({base_name}):",
                    f'    """Event type ``{event_type}``: the envelope with its typed payload."""',
                    "",
                    f"    event_type: Literal[{py_string(event_type)}]",
                    f"    payload: {model_name}",
                ]
            )

        event_types = list(catalog.payloads)
        tail = [
            "#: every event type of the schema folder, sorted",
            "EVENT_TYPES: tuple[str, ...] = (",
            *(f"    {py_string(one)}," for one in event_types),
            ")",
            "",
            "EventType = Literal[",
            *(f"    {py_string(one)}," for one in event_types),
            "]",
            "",
            "#: a typed event of any known type, told apart by ``event_type``",
            "AnyEvent = Annotated[",
            "    (",
            *(f"        {'| ' if index else ''}{event_names[one]}" for index, one in enumerate(event_types)),
            "    ),",
            '    Field(discriminator="event_type"),',
            "]",
            "",
            "#: event type -> payload model",
            "PAYLOAD_MODELS: dict[str, type[_Model]] = {",
            *(f"    {py_string(one)}: {catalog.payloads[one]}," for one in event_types),
            "}",
            "",
            "#: event type -> typed event model",
            f"EVENT_MODELS: dict[str, type[{base_name}]] = {{",
            *(f"    {py_string(one)}: {event_names[one]}," for one in event_types),
            "}",
            "",
            "_ANY_EVENT: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)",
            "",
            "",
            "def parse_event(data: Any) -> AnyEvent:",
            '    """Validate a decoded envelope (a dict) into its typed event model."""',
            "    return _ANY_EVENT.validate_python(data)",
            "",
            "",
            "def parse_event_json(data: str | bytes) -> AnyEvent:",
            '    """Validate a JSON envelope (str or bytes) into its typed event model."""',
            "    return _ANY_EVENT.validate_json(data)",
        ]
        exports = sorted(
            [model.name for model in catalog.models.values()]
            + [base_name, *event_names.values()]
            + [
                "AnyEvent",
                "EVENT_MODELS",
                "EVENT_TYPES",
                "EventType",
                "PAYLOAD_MODELS",
                "SCHEMA_FILES",
                "SCHEMA_SHA256",
                "parse_event",
                "parse_event_json",
            ],
            key=lambda name: (0 if name.isupper() else 1 if name[0].isupper() else 2, name),
        )

        schemas = catalog.schemas
        doc = [
            "Pydantic v2 models of the 33GOD events: the envelope and one model per event type.",
            "",
            *header_lines(schemas),
            "",
            "Validate with ``parse_event(data)`` (typed by ``event_type``) or",
            "``EventEnvelope.model_validate(data)`` (any type, untyped payload);",
            '``model_dump(mode="json", by_alias=True, exclude_unset=True)`` gives the event back.',
        ]
        stdlib = [
            *(["import calendar"] if "_check_date_time" in self.helpers else []),
            *(["import re"] if self.helpers - {"_check_unique"} else []),
        ]
        pydantic_names = sorted(
            [
                "BaseModel",
                "ConfigDict",
                "Field",
                "TypeAdapter",
                "ValidationInfo",
                "field_validator",
                *(["AfterValidator"] if self.helpers else []),
            ]
        )
        out = [
            '"""' + doc[0],
            *doc[1:],
            '"""',
            "",
            *stdlib,
            "from typing import Annotated, Any, ClassVar, Literal",
            "",
            "from pydantic import (",
            *(f"    {name}," for name in pydantic_names),
            ")",
            "",
            f"SCHEMA_SHA256 = {py_string(schemas.sha256)}",
            "SCHEMA_FILES: tuple[str, ...] = (",
            *(f"    {py_string(one)}," for one in sorted(schemas.files)),
            ")",
            "",
            "__all__ = [",
            *(f"    {py_string(one)}," for one in exports),
            "]",
        ]
        for name in sorted(self.helpers):
            out.extend(["", "", *_HELPERS[name].strip("\n").split("\n")])
        if self.patterns:
            out.extend(["", ""])
            for pattern, name in self.patterns.items():
                parts = py_string_lines(pattern, "    ", _WIDTH)
                if len(parts) == 1 and len(name) + len(parts[0]) + 3 <= _WIDTH:
                    out.append(f"{name} = {parts[0]}")
                else:
                    out.extend([f"{name} = (", *(f"    {part}" for part in parts), ")"])
        out.extend(_PRELUDE.rstrip("\n").split("\n"))
        for block in blocks:
            out.extend(["", "", *block])
        out.extend(["", "", *tail])
        return "\n".join(out) + "\n"


def _args(mapping: tuple[tuple[str, str], ...], schema: Mapping[str, Any]) -> list[str]:
    return [
        f"{target}={json.dumps(schema[source])}"
        for source, target in mapping
        if isinstance(schema.get(source), int | float) and not isinstance(schema.get(source), bool)
    ]


def _fresh(name: str, taken: set[str]) -> str:
    candidate, counter = name, 2
    while candidate in taken:
        candidate = f"{name}{counter}"
        counter += 1
    taken.add(candidate)
    return candidate


def render_python(catalog: Catalog) -> str:
    """The text of ``contracts/generated/python/events.py`` for ``catalog``."""
    return _PythonRenderer(catalog).render()
