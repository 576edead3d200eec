"""Bloodbank's routes: the publish endpoints (plain Starlette routes that read the raw body themselves) and
the informational ones (health, readiness, metrics, schemas)."""

from __future__ import annotations

import difflib
from functools import partial
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.routing import Route

from reference_impl.bloodbank import models
from reference_impl.bloodbank.completion import complete, filled_fields, trace_parent
from reference_impl.bloodbank.publisher import PublishResult, RetriesExhausted, Unroutable
from reference_impl.bloodbank.service import Rejected, Service, json_kind, json_response


def add_publish_routes(app: FastAPI, service: Service) -> None:
    # Plain Starlette routes: FastAPI's request machinery would cost ~25 µs per request and buy nothing
    # here (their OpenAPI description is :mod:`reference_impl.bloodbank.docs`).
    app.router.routes.append(
        Route("/events", partial(publish_event, service), methods=["POST"], name="publish_event")
    )
    app.router.routes.append(
        Route("/events/batch", partial(publish_batch, service), methods=["POST"], name="publish_batch")
    )


async def publish_event(service: Service, request: Request) -> Response:
    """POST /events: one envelope, completed, validated, published (202 once the broker confirmed)."""
    config = service.config
    try:
        service.guard(request)
        data = await service.read_json(request, config.max_body_bytes, "BLOODBANK_MAX_BODY_BYTES")
        if not isinstance(data, dict):
            service.metrics.validation_failures.labels("not_an_object").inc()
            detail = f"body must be a JSON object (an event envelope), got {json_kind(data)}"
            if isinstance(data, list):
                detail += "; send arrays of events to POST /events/batch"
            return json_response(400, {"detail": detail})
        envelope = complete(data, service.source, parents=service.parents(request))
    except Rejected as rejected:
        return rejected.response
    issues = service.check(envelope)
    if issues:
        return json_response(422, {"detail": [issue.as_dict() for issue in issues]})
    try:
        result = await service.publisher.publish(
            envelope, validate=False, context=trace_parent(request.headers), filled=filled_fields(data)
        )
    except (Unroutable, RetriesExhausted) as exc:
        service.record_failure(exc, envelope["event_type"])
        return service.unavailable(exc)
    service.record(result)
    return json_response(
        202,
        {
            "event_id": result.event_id,
            "event_type": result.event_type,
            "routing_key": result.routing_key,
            "status": "published",
        },
    )


async def publish_batch(service: Service, request: Request) -> Response:
    """POST /events/batch: every item validated, the valid ones published pipelined, answered per item."""
    config = service.config
    try:
        service.guard(request)
        data = await service.read_json(request, config.max_batch_body_bytes, "BLOODBANK_MAX_BATCH_BODY_BYTES")
        if not isinstance(data, list):
            service.metrics.validation_failures.labels("not_an_object").inc()
            detail = f"body must be a JSON array of event envelopes, got {json_kind(data)}"
            return json_response(400, {"detail": detail})
        if len(data) > config.max_batch_items:
            service.metrics.validation_failures.labels("too_large").inc()
            detail = (
                f"batch of {len(data)} events exceeds the limit of {config.max_batch_items} "
                "(BLOODBANK_MAX_BATCH_ITEMS): split it"
            )
            return json_response(413, {"detail": detail})
        parents = service.parents(request)
    except Rejected as rejected:
        return rejected.response
    return await _publish_items(service, data, parents, request)


async def _publish_items(
    service: Service, items: list[Any], parents: list[str], request: Request
) -> Response:
    """Validate every item, publish the valid ones pipelined, answer per item."""
    results: list[dict[str, Any]] = []
    valid: list[dict[str, Any]] = []
    filled: list[tuple[str, ...]] = []
    positions: list[int] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            service.metrics.validation_failures.labels("not_an_object").inc()
            kind = json_kind(item)
            issue = {
                "path": "$",
                "message": f"$: item {index} is not an event envelope (a JSON object), got {kind}",
                "rule": "type",
            }
            results.append({"index": index, "status": "invalid", "detail": [issue]})
            continue
        envelope = complete(item, service.source, parents=parents)
        issues = service.check(envelope)
        if issues:
            given_id = item.get("event_id")
            results.append(
                {
                    "index": index,
                    "status": "invalid",
                    "event_id": given_id if isinstance(given_id, str) else None,
                    "event_type": item.get("event_type") if isinstance(item.get("event_type"), str) else None,
                    "detail": [issue.as_dict() for issue in issues],
                }
            )
            continue
        positions.append(len(results))
        results.append({})
        valid.append(envelope)
        filled.append(filled_fields(item))
    outcomes = (
        await service.publisher.publish_many(
            valid, validate=False, context=trace_parent(request.headers), filled=filled
        )
        if valid
        else []
    )
    published = failed = 0
    broker_down = 0
    for position, envelope, outcome in zip(positions, valid, outcomes, strict=True):
        entry: dict[str, Any] = {
            "index": position,
            "event_id": envelope["event_id"],
            "event_type": envelope["event_type"],
        }
        if isinstance(outcome, PublishResult):
            published += 1
            service.record(outcome)
            entry.update(status="published", routing_key=outcome.routing_key)
        else:
            failed += 1
            broker_down += isinstance(outcome, RetriesExhausted)
            service.record_failure(outcome, envelope["event_type"])
            entry.update(
                status="unroutable" if isinstance(outcome, Unroutable) else "failed", detail=str(outcome)
            )
        results[position] = entry
    invalid = len(items) - len(valid)
    body = {"results": results, "published": published, "invalid": invalid, "failed": failed}
    if published == len(items):
        return json_response(202, body)
    if not valid:
        return json_response(422, body)
    if published == 0 and broker_down == len(valid):
        return json_response(503, body, {"Retry-After": service.retry_after})
    return json_response(207, body)


def add_info_routes(app: FastAPI, service: Service) -> None:
    """Liveness, readiness, metrics and the schemas."""

    @app.get("/healthz", response_model=models.Health, summary="Liveness")
    async def healthz() -> Response:
        return json_response(200, {"status": "ok"})

    @app.get(
        "/readyz",
        response_model=models.Readiness,
        summary="Readiness: connected to the broker with the topology declared",
        responses={503: {"model": models.Readiness, "description": "Not connected to the broker"}},
    )
    async def readyz() -> Response:
        if service.publisher.ready:
            if not await service.publisher.blocked():
                return json_response(200, {"status": "ready", "broker": "up"})
            detail = "connected, but the broker blocks publishing (a memory or disk alarm): publishes get 503"
            return json_response(
                503,
                {"status": "not_ready", "broker": "up", "detail": detail},
                {"Retry-After": service.retry_after},
            )
        detail = service.publisher.last_error or "not connected to the broker yet"
        return json_response(
            503,
            {"status": "not_ready", "broker": "down", "detail": detail},
            {"Retry-After": service.retry_after},
        )

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        summary="Prometheus metrics",
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    @app.get(
        "/schemas", response_model=models.SchemaIndex, summary="Known event types and the envelope schema"
    )
    async def schemas() -> Response:
        return json_response(
            200,
            {"event_types": list(service.schemas.event_types), "envelope": service.schemas.envelope_schema},
        )

    @app.get(
        "/schemas/{event_type}",
        summary="The payload schema of one event type",
        response_model=dict[str, Any],
        responses={404: {"model": models.Problem, "description": "Unknown event type"}},
    )
    async def schema_of(event_type: str) -> Response:
        schema = service.schemas.payload_schema(event_type)
        if schema is None:
            close = difflib.get_close_matches(event_type, service.schemas.event_types, n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]!r}?" if close else "; GET /schemas lists the known types"
            return json_response(404, {"detail": f"unknown event type {event_type!r}{hint}"})
        return json_response(200, schema)
