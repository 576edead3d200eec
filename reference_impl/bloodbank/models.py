"""Bodies of the HTTP API as pydantic models: they document the OpenAPI; the handlers build plain dicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PublishAccepted(BaseModel):
    """The broker confirmed the event."""

    event_id: str = Field(description="Id of the published event (generated when the request had none)")
    event_type: str
    routing_key: str = Field(description="Routing key used on the main exchange (= event_type)")
    status: Literal["published"]


class Issue(BaseModel):
    """One schema violation."""

    path: str = Field(
        description="JSONPath of the offending value, e.g. `$.payload.title`", examples=["$.event_id"]
    )
    message: str = Field(description="What is wrong, naming the path and the rule")
    rule: str = Field(
        description="The violated rule (JSON Schema keyword, `format:uuid`, `unknown_event_type`…)"
    )


class ValidationProblem(BaseModel):
    """Every violation of the envelope and its payload."""

    detail: list[Issue]


class Problem(BaseModel):
    """A request Bloodbank cannot handle; ``detail`` says why and what to do."""

    detail: str


class Unavailable(BaseModel):
    """The event was NOT published: the broker stayed unavailable after the retries, or returned it."""

    detail: str
    reason: Literal["broker_unavailable", "unroutable"]
    event_id: str | None = Field(
        default=None, description="Id of the event; publishing again with the same id is safe (deduplicated)"
    )


class BatchItem(BaseModel):
    """The outcome of one batch item."""

    index: int = Field(description="Position of the item in the request array")
    status: Literal["published", "invalid", "unroutable", "failed"]
    event_id: str | None = None
    event_type: str | None = None
    routing_key: str | None = Field(default=None, description="Set when published")
    detail: list[Issue] | str | None = Field(default=None, description="Violations (invalid) or the error")


class BatchResult(BaseModel):
    """Per-item results, in request order, and counts."""

    results: list[BatchItem]
    published: int
    invalid: int
    failed: int


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    broker: Literal["up", "down"]
    detail: str | None = None


class SchemaIndex(BaseModel):
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    event_types: list[str] = Field(description="Every known event type (= routing key)")
    envelope: dict[str, Any] = Field(description="The envelope JSON Schema (draft-07)")


#: envelope fields a caller may leave out (Bloodbank fills them); every other field is kept as given
FILLED_FIELDS = ("event_id", "timestamp", "version", "source", "correlation_ids", "trace_context")
INPUT_COMPONENT = "EventEnvelopeInput"


def envelope_input_components(
    envelope_schema: Mapping[str, Any], payload_schemas: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Request-body schemas of ``POST /events``, generated from the contract schemas (documentation only).

    One variant per known event type (``event_type`` constant, its payload schema inline), so that a body
    valid against the document is an event Bloodbank accepts, and the document follows every schema change.
    The handlers read the raw body themselves and answer 400/413/422 with precise messages.
    """
    envelope_properties = envelope_schema.get("properties", {})
    optional = {
        name: envelope_properties[name]
        for name in (*FILLED_FIELDS, "agent_context")
        if name in envelope_properties
    }
    components: dict[str, dict[str, Any]] = {}
    for event_type, payload in payload_schemas.items():
        components[f"{INPUT_COMPONENT}.{event_type}"] = {
            "title": event_type,
            "type": "object",
            "required": ["event_type", "payload"],
            "properties": {
                **optional,
                "event_type": {"type": "string", "const": event_type},
                "payload": {key: value for key, value in payload.items() if key not in ("$schema", "$id")},
            },
            "additionalProperties": True,
        }
    components[INPUT_COMPONENT] = {
        "description": (
            "A full or partial event envelope (contracts/schemas/core/event-envelope.v1.schema.json): "
            "`event_type` and `payload` are needed; Bloodbank fills "
            + ", ".join(f"`{name}`" for name in FILLED_FIELDS)
            + " when they are missing. The payload must match the schema of its event type "
            "(GET /schemas/{event_type}); unknown top-level fields are kept."
        ),
        "oneOf": [{"$ref": f"#/components/schemas/{INPUT_COMPONENT}.{t}"} for t in payload_schemas],
    }
    return components
