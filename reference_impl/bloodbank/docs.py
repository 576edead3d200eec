"""The OpenAPI description of Bloodbank: the publish routes read the raw body themselves, so their request
bodies, headers, security and answers are documented here, on a router that is never mounted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi

from reference_impl.bloodbank import models
from reference_impl.bloodbank.completion import PARENT_HEADER_PATTERN
from reference_impl.bloodbank.limits import API_KEY_HEADER
from reference_impl.bloodbank.service import JSON, Service

_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "string"}}
}
_COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": models.Problem, "description": "The body is not JSON, or not of the expected shape"},
    401: {
        "model": models.Problem,
        "description": "X-API-Key missing or invalid (only when API keys are set)",
    },
    413: {"model": models.Problem, "description": "The body (or the batch) exceeds the configured limit"},
    429: {"model": models.Problem, "description": "Per-client rate limit exceeded", "headers": _RETRY_AFTER},
}
_SECURITY = [{}, {"ApiKeyAuth": []}]
_HEADER_PARAMS = [
    {
        "name": "X-Parent-Event-Id",
        "in": "header",
        "required": False,
        "description": "Parent event id(s), comma-separated or repeated; added to `correlation_ids`",
        "schema": {"type": "string", "pattern": PARENT_HEADER_PATTERN},
    },
    {
        "name": "traceparent",
        "in": "header",
        "required": False,
        "description": "W3C trace context; the publish span becomes its child and fills `trace_context`",
        "schema": {"type": "string"},
    },
]


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {JSON: {"schema": schema}}},
        "parameters": _HEADER_PARAMS,
        "security": _SECURITY,
    }


def documentation_router() -> APIRouter:
    """The publish routes as OpenAPI sees them (the handlers' names give the operation ids)."""
    docs = APIRouter()

    @docs.post(
        "/events",
        status_code=202,
        response_model=None,
        summary="Publish one event",
        responses={
            202: {
                "model": models.PublishAccepted,
                "description": "Published: the broker confirmed the event",
            },
            **_COMMON_ERRORS,
            422: {"model": models.ValidationProblem, "description": "Schema violations (all of them)"},
            503: {
                "model": models.Unavailable,
                "description": "Not published: broker unavailable after the retries, or unroutable",
                "headers": _RETRY_AFTER,
            },
        },
        openapi_extra=_body({"$ref": f"#/components/schemas/{models.INPUT_COMPONENT}"}),
    )
    async def publish_event(request: Request) -> Response:  # documentation only
        raise NotImplementedError

    @docs.post(
        "/events/batch",
        status_code=202,
        response_model=None,
        summary="Publish a batch of events (per-item results)",
        responses={
            202: {"model": models.BatchResult, "description": "Every item was published"},
            207: {"model": models.BatchResult, "description": "Mixed outcome: see each item's status"},
            **_COMMON_ERRORS,
            422: {
                "model": models.BatchResult | models.ValidationProblem,
                "description": "No item is valid (per-item violations), or a bad X-Parent-Event-Id header",
            },
            503: {
                "model": models.BatchResult,
                "description": "No valid item could be published: the broker stayed unavailable",
                "headers": _RETRY_AFTER,
            },
        },
        openapi_extra=_body(
            {
                "type": "array",
                "maxItems": 1000,
                "items": {"$ref": f"#/components/schemas/{models.INPUT_COMPONENT}"},
            }
        ),
    )
    async def publish_batch(request: Request) -> Response:  # documentation only
        raise NotImplementedError

    return docs


def install_openapi(app: FastAPI, service: Service) -> None:
    """``app.openapi()``: the documented publish routes, the app's own, the envelope input components."""
    docs = documentation_router()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=[*docs.routes, *app.routes],
            )
            components = spec.setdefault("components", {})
            components.setdefault("schemas", {}).update(
                models.envelope_input_components(service.schemas.envelope_schema, service.schemas.schemas())
            )
            components["securitySchemes"] = {
                "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
            }
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
