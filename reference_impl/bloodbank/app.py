"""The Bloodbank HTTP service (SPEC §3): validated, confirmed publishing of events over HTTP.

>>> app = create_app(BloodbankConfig.from_env())   # doctest: +SKIP

Handlers read the raw body themselves (instead of a pydantic model) so that each client error gets its own
precise answer: 400 not JSON / wrong shape, 413 too large, 422 with every schema violation. A publish is
answered 202 only after the broker confirmed it; once confirmed, nothing can turn the answer into an error.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from starlette.routing import Route

from holyfields import JsonInvalid, ValidationIssue, dlq_reason, parse_json, registry
from reference_impl._headers import HeaderLimit
from reference_impl.bloodbank import models
from reference_impl.bloodbank.completion import (
    PARENT_HEADER_PATTERN,
    HeaderInvalid,
    SourceDefaults,
    complete,
    filled_fields,
    parent_ids,
    trace_parent,
)
from reference_impl.bloodbank.config import BloodbankConfig
from reference_impl.bloodbank.limits import API_KEY_HEADER, ApiKeys, BodyTooLarge, RateLimiter, read_limited
from reference_impl.bloodbank.metrics import Metrics
from reference_impl.bloodbank.publisher import (
    BrokerUnavailable,
    Publisher,
    PublishError,
    PublishResult,
    RetriesExhausted,
    Unroutable,
)

log = logging.getLogger("reference_impl.bloodbank")

API_VERSION = "1.0.0"
JSON = "application/json"
_ISSUE_RULE_UNKNOWN = "unknown_event_type"


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def _json_kind(value: object) -> str:
    """The JSON name of a parsed value's type (for messages: "array", not "list")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def _failure_reason(issues: list[ValidationIssue]) -> str:
    if any(issue.rule == _ISSUE_RULE_UNKNOWN for issue in issues):
        return _ISSUE_RULE_UNKNOWN
    return dlq_reason(issues)


class Rejected(Exception):
    """A request answered with an error before anything was published."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class Service:
    """What the handlers share: configuration, publisher, schemas, metrics, guards and tracing."""

    def __init__(self, config: BloodbankConfig, *, tracer_provider: TracerProvider | None = None) -> None:
        self.config = config
        self.schemas = registry()
        self.tracer_provider = tracer_provider or _tracer_provider(config)
        self.publisher = Publisher(
            config.amqp_url,
            config.topology,
            signer=config.signer,
            retry=config.retry,
            confirm_timeout=config.confirm_timeout,
            connect_timeout=config.connect_timeout,
            reconnect_interval=config.reconnect_interval,
            on_retry=self._on_retry,
            tracer=self.tracer_provider.get_tracer("reference_impl.bloodbank"),
        )
        self.metrics = Metrics(self.schemas.event_types, broker_up=lambda: self.publisher.ready)
        self.api_keys = ApiKeys(config.api_keys)
        self.limiter = RateLimiter(config.rate_limit, config.effective_burst)
        self.source = SourceDefaults(config.source_host, config.source_type, config.source_app)
        self.retry_after = str(config.retry_after_seconds)

    def _on_retry(self, event_id: str, attempt: int, error: BaseException, delay: float) -> None:
        self.metrics.retries.inc()

    # --- request steps (each raises Rejected with the answer) -----------------------------------------
    def guard(self, request: Request) -> None:
        """Rate limit (429), then API key (401): key guessing is throttled too.

        The client is its API key when it gave a valid one, else its address.
        """
        given = request.headers.get(API_KEY_HEADER)
        authorized = self.api_keys.accepts(given)
        if self.limiter.enabled:
            if self.api_keys.enabled and authorized and given:
                client = given
            else:
                client = request.client.host if request.client else "-"
            wait = self.limiter.acquire(client)
            if wait > 0:
                after = RateLimiter.retry_after(wait)
                detail = (
                    f"rate limit exceeded: {self.limiter.rate:g} requests/s per client "
                    f"(burst {self.limiter.burst}); retry after {after} s"
                )
                raise Rejected(_json(429, {"detail": detail}, {"Retry-After": after}))
        if not authorized:
            text = (
                f"{API_KEY_HEADER} header is missing" if not given else f"{API_KEY_HEADER} is not a valid key"
            )
            raise Rejected(
                _json(
                    401,
                    {"detail": f"{text}: this Bloodbank requires an API key"},
                    {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'},
                )
            )

    async def read_json(self, request: Request, limit: int, variable: str) -> object:
        """The parsed body: 413 over ``limit``, 400 when not JSON."""
        try:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) <= limit:
                body = await request.body()  # the server never reads past Content-Length
            else:
                body = await read_limited(declared, request.stream(), limit)
        except BodyTooLarge as exc:
            self.metrics.validation_failures.labels("too_large").inc()
            raise Rejected(_json(413, {"detail": f"{exc} (set by {variable})"})) from None
        try:
            return parse_json(body)
        except JsonInvalid as exc:
            self.metrics.validation_failures.labels("json_invalid").inc()
            raise Rejected(_json(400, {"detail": str(exc)})) from None

    def parents(self, request: Request) -> list[str]:
        try:
            return parent_ids(request.headers.getlist("x-parent-event-id"))
        except HeaderInvalid as exc:
            self.metrics.validation_failures.labels("header_invalid").inc()
            raise Rejected(_json(422, {"detail": [exc.issue.as_dict()]})) from None

    def check(self, envelope: dict[str, Any]) -> list[ValidationIssue]:
        """Every violation of the completed envelope (``[]`` when valid); counts failures by reason."""
        if self.schemas.is_valid(envelope):
            return []
        issues = self.schemas.validate(envelope)
        if issues:
            self.metrics.validation_failures.labels(_failure_reason(issues)).inc()
        return issues

    def unavailable(self, exc: PublishError) -> Response:
        body = {"detail": str(exc), "reason": exc.reason, "event_id": exc.event_id}
        return _json(503, body, {"Retry-After": self.retry_after})

    def record(self, result: PublishResult) -> None:
        """Metrics of a confirmed publish; never raises (the event is out, the answer must be 202)."""
        try:
            self.metrics.count_published(result.event_type)
            self.metrics.latency.observe(result.seconds)
        except Exception:  # the broker confirmed: bookkeeping must not turn that into an error
            log.exception("metrics of published event %s not recorded", result.event_id)

    def record_failure(self, exc: PublishError, event_type: str) -> None:
        status = "unroutable" if isinstance(exc, Unroutable) else "failed"
        self.metrics.published.labels(event_type, status).inc()


def _tracer_provider(config: BloodbankConfig) -> TracerProvider:
    """Spans are recorded when something receives them: an exporter, or a caller whose trace is sampled.

    Without an exporter, root spans are not recorded (that would cost CPU for nothing) but still get real
    trace and span ids, which go into ``trace_context``; a sampled ``traceparent`` is still honoured.
    """
    exporting = config.trace_export == "console"
    sampler = ParentBased(root=ALWAYS_ON if exporting else ALWAYS_OFF)
    provider = TracerProvider(sampler=sampler, resource=Resource.create({"service.name": "bloodbank"}))
    if exporting:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider


# --- OpenAPI documentation of the raw-body endpoints ----------------------------------------------------
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


def create_app(
    config: BloodbankConfig | None = None, *, tracer_provider: TracerProvider | None = None
) -> FastAPI:
    """The FastAPI application; it connects to the broker on startup (and keeps reconnecting)."""
    config = config or BloodbankConfig.from_env()
    service = Service(config, tracer_provider=tracer_provider)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await service.publisher.connect()
        except BrokerUnavailable as exc:
            log.warning("starting without the broker (not ready; reconnecting in the background): %s", exc)
        try:
            yield
        finally:
            await service.publisher.close()
            if tracer_provider is None:
                service.tracer_provider.shutdown()

    app = FastAPI(
        title="Bloodbank",
        version=API_VERSION,
        description=(
            "Event bus front door of the 33GOD pipeline: validates event envelopes against the Holyfields "
            "schemas and publishes them to RabbitMQ with publisher confirms. 202 means the broker confirmed."
        ),
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(HeaderLimit, max_bytes=config.max_header_bytes, setting="BLOODBANK_MAX_HEADER_BYTES")
    # The publish endpoints read the raw body themselves, so they are plain Starlette routes: FastAPI's
    # request machinery would cost ~25 µs per request and buy nothing here. `docs` only describes them
    # for the OpenAPI document; it is never mounted.
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
    async def publish_event(request: Request) -> Response:
        try:
            service.guard(request)
            data = await service.read_json(request, config.max_body_bytes, "BLOODBANK_MAX_BODY_BYTES")
            if not isinstance(data, dict):
                service.metrics.validation_failures.labels("not_an_object").inc()
                detail = f"body must be a JSON object (an event envelope), got {_json_kind(data)}"
                if isinstance(data, list):
                    detail += "; send arrays of events to POST /events/batch"
                return _json(400, {"detail": detail})
            envelope = complete(data, service.source, parents=service.parents(request))
        except Rejected as rejected:
            return rejected.response
        issues = service.check(envelope)
        if issues:
            return _json(422, {"detail": [issue.as_dict() for issue in issues]})
        try:
            result = await service.publisher.publish(
                envelope, validate=False, context=trace_parent(request.headers), filled=filled_fields(data)
            )
        except (Unroutable, RetriesExhausted) as exc:
            service.record_failure(exc, envelope["event_type"])
            return service.unavailable(exc)
        service.record(result)
        return _json(
            202,
            {
                "event_id": result.event_id,
                "event_type": result.event_type,
                "routing_key": result.routing_key,
                "status": "published",
            },
        )

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
    async def publish_batch(request: Request) -> Response:
        try:
            service.guard(request)
            data = await service.read_json(
                request, config.max_batch_body_bytes, "BLOODBANK_MAX_BATCH_BODY_BYTES"
            )
            if not isinstance(data, list):
                service.metrics.validation_failures.labels("not_an_object").inc()
                detail = f"body must be a JSON array of event envelopes, got {_json_kind(data)}"
                return _json(400, {"detail": detail})
            if len(data) > config.max_batch_items:
                service.metrics.validation_failures.labels("too_large").inc()
                detail = (
                    f"batch of {len(data)} events exceeds the limit of {config.max_batch_items} "
                    "(BLOODBANK_MAX_BATCH_ITEMS): split it"
                )
                return _json(413, {"detail": detail})
            parents = service.parents(request)
        except Rejected as rejected:
            return rejected.response
        return await _publish_items(service, data, parents, request)

    app.router.routes.append(Route("/events", publish_event, methods=["POST"], name="publish_event"))
    app.router.routes.append(Route("/events/batch", publish_batch, methods=["POST"], name="publish_batch"))

    @app.get("/healthz", response_model=models.Health, summary="Liveness")
    async def healthz() -> Response:
        return _json(200, {"status": "ok"})

    @app.get(
        "/readyz",
        response_model=models.Readiness,
        summary="Readiness: connected to the broker with the topology declared",
        responses={503: {"model": models.Readiness, "description": "Not connected to the broker"}},
    )
    async def readyz() -> Response:
        if service.publisher.ready:
            if not await service.publisher.blocked():
                return _json(200, {"status": "ready", "broker": "up"})
            detail = "connected, but the broker blocks publishing (a memory or disk alarm): publishes get 503"
            return _json(
                503,
                {"status": "not_ready", "broker": "up", "detail": detail},
                {"Retry-After": service.retry_after},
            )
        detail = service.publisher.last_error or "not connected to the broker yet"
        return _json(
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
        return _json(
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
            return _json(404, {"detail": f"unknown event type {event_type!r}{hint}"})
        return _json(200, schema)

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
    return app


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
            kind = _json_kind(item)
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
        return _json(202, body)
    if not valid:
        return _json(422, body)
    if published == 0 and broker_down == len(valid):
        return _json(503, body, {"Retry-After": service.retry_after})
    return _json(207, body)
