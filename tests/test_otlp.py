"""The OTLP/JSON exporter of the reference services and the harness's receiver, end to end over HTTP."""

from __future__ import annotations

import httpx
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from harness.otlp import OtlpReceiver
from reference_impl._otlp import OtlpJsonExporter
from reference_impl.candystore.tracing import _parent


def test_exported_spans_arrive_with_their_ids_parents_kinds_and_service() -> None:
    with OtlpReceiver() as receiver:
        provider = TracerProvider(resource=Resource.create({"service.name": "bloodbank"}))
        provider.add_span_processor(SimpleSpanProcessor(OtlpJsonExporter(receiver.endpoint)))
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("publish x", kind=trace.SpanKind.PRODUCER) as parent:
            child = tracer.start_span("store x", kind=trace.SpanKind.CONSUMER)
            child.end()
        provider.shutdown()
        ids = parent.get_span_context()
        spans = receiver.trace(f"{ids.trace_id:032x}")
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {"publish x", "store x"}, spans
    assert by_name["store x"].parent_span_id == f"{ids.span_id:016x}"
    assert (by_name["publish x"].kind, by_name["store x"].kind) == (4, 5)
    assert {s.service for s in spans} == {"bloodbank"}


def test_protobuf_exports_are_refused_with_the_fix_and_counted() -> None:
    with OtlpReceiver() as receiver:
        answer = httpx.post(
            receiver.endpoint + "/v1/traces",
            content=b"\x0a\x00",
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert answer.status_code == 415
        assert "OTEL_EXPORTER_OTLP_PROTOCOL=http/json" in answer.json()["message"]
        assert receiver.rejected and not receiver.spans


def test_only_sampled_trace_contexts_get_a_store_span() -> None:
    sampled = {"trace_id": "ab" * 16, "span_id": "cd" * 8, "trace_flags": "01"}
    assert _parent({"trace_context": sampled}) is not None
    assert _parent({"trace_context": {**sampled, "trace_flags": "00"}}) is None
    assert _parent({"trace_context": {**sampled, "span_id": "not hex"}}) is None
    assert _parent({}) is None
