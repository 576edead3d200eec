"""What Bloodbank's handlers share (:class:`Service`): configuration, publisher, schemas, metrics, the
request guards (rate limit, API key, body limits, parent header) and tracing; and the JSON answers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Request, Response
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

from holyfields import JsonInvalid, ValidationIssue, dlq_reason, parse_json, registry
from reference_impl._otlp import OtlpJsonExporter
from reference_impl.bloodbank.completion import HeaderInvalid, SourceDefaults, parent_ids
from reference_impl.bloodbank.config import BloodbankConfig
from reference_impl.bloodbank.limits import API_KEY_HEADER, ApiKeys, BodyTooLarge, RateLimiter, read_limited
from reference_impl.bloodbank.metrics import Metrics
from reference_impl.bloodbank.publisher import Publisher, PublishError, PublishResult, Unroutable

log = logging.getLogger("reference_impl.bloodbank")

JSON = "application/json"
_ISSUE_RULE_UNKNOWN = "unknown_event_type"


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def json_kind(value: object) -> str:
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
                raise Rejected(json_response(429, {"detail": detail}, {"Retry-After": after}))
        if not authorized:
            text = (
                f"{API_KEY_HEADER} header is missing" if not given else f"{API_KEY_HEADER} is not a valid key"
            )
            raise Rejected(
                json_response(
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
            raise Rejected(json_response(413, {"detail": f"{exc} (set by {variable})"})) from None
        try:
            return parse_json(body)
        except JsonInvalid as exc:
            self.metrics.validation_failures.labels("json_invalid").inc()
            raise Rejected(json_response(400, {"detail": str(exc)})) from None

    def parents(self, request: Request) -> list[str]:
        try:
            return parent_ids(request.headers.getlist("x-parent-event-id"))
        except HeaderInvalid as exc:
            self.metrics.validation_failures.labels("header_invalid").inc()
            raise Rejected(json_response(422, {"detail": [exc.issue.as_dict()]})) from None

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
        return json_response(503, body, {"Retry-After": self.retry_after})

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
    ``console`` records and prints every publish span; ``otlp`` sends the spans of sampled callers'
    traces to an OTLP/HTTP receiver (JSON encoding).
    """
    console = config.trace_export == "console"
    sampler = ParentBased(root=ALWAYS_ON if console else ALWAYS_OFF)
    provider = TracerProvider(sampler=sampler, resource=Resource.create({"service.name": "bloodbank"}))
    if console:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif config.trace_export == "otlp":
        provider.add_span_processor(BatchSpanProcessor(OtlpJsonExporter(config.otlp_endpoint)))
    return provider
