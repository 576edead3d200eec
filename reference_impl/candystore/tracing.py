"""Store spans: one CONSUMER span per stored event of a sampled trace, a child of the publish span named
by the envelope's ``trace_context`` (Bloodbank's), exported over OTLP/HTTP when an endpoint is configured.

Unsampled events (``trace_flags`` 00, the default without a sampled ``traceparent``) cost nothing.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from reference_impl._otlp import OtlpJsonExporter


def _parent(envelope: dict[str, Any]) -> SpanContext | None:
    context = envelope.get("trace_context")
    if not isinstance(context, dict):
        return None
    try:
        flags = int(str(context.get("trace_flags", "00")), 16)
        trace_id, span_id = int(str(context["trace_id"]), 16), int(str(context["span_id"]), 16)
    except (KeyError, ValueError):
        return None
    if not flags & 1 or not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))


class StoreSpans:
    def __init__(self, endpoint: str = "", *, exporter: SpanExporter | None = None) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": "candystore"}))
        self.provider.add_span_processor(BatchSpanProcessor(exporter or OtlpJsonExporter(endpoint)))
        self.tracer = self.provider.get_tracer("reference_impl.candystore")

    def record(self, envelope: dict[str, Any], queue: str, start_ns: int, end_ns: int) -> None:
        """The span of one stored event: from the batch's insert to its commit."""
        parent = _parent(envelope)
        if parent is None:
            return
        event_type = str(envelope.get("event_type"))
        span = self.tracer.start_span(
            f"store {event_type}",
            context=trace.set_span_in_context(NonRecordingSpan(parent)),
            kind=SpanKind.CONSUMER,
            start_time=start_ns,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "messaging.destination.name": queue,
                "messaging.message.id": str(envelope.get("event_id")),
                "db.system.name": "postgresql",
            },
        )
        span.end(end_time=end_ns)

    def shutdown(self) -> None:
        self.provider.shutdown()
