"""A span exporter speaking OTLP/HTTP with the JSON encoding (``POST {endpoint}/v1/traces``).

The OpenTelemetry SDK ships the console exporter; the OTLP exporter packages need protobuf and gRPC. The
OTLP specification also defines a JSON encoding of the same messages over HTTP, which any collector
(OpenTelemetry Collector, Jaeger, Tempo) and the harness's own receiver accept: this is all it takes.
Ids are lowercase hex, times are nanoseconds as strings, enums are numbers (OTLP/JSON rules).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger("reference_impl.otlp")


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attributes: Any) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in dict(attributes or {}).items()]


def _span(span: ReadableSpan) -> dict[str, Any]:
    context = span.context
    assert context is not None
    body: dict[str, Any] = {
        "traceId": f"{context.trace_id:032x}",
        "spanId": f"{context.span_id:016x}",
        "name": span.name,
        "kind": span.kind.value + 1,  # OTLP: 1 internal, 2 server, 3 client, 4 producer, 5 consumer
        "startTimeUnixNano": str(span.start_time or 0),
        "endTimeUnixNano": str(span.end_time or 0),
        "attributes": _attributes(span.attributes),
        "status": {"code": span.status.status_code.value},  # 0 unset, 1 ok, 2 error
    }
    if span.parent is not None:
        body["parentSpanId"] = f"{span.parent.span_id:016x}"
    return body


def encode(spans: Sequence[ReadableSpan]) -> bytes:
    """An ``ExportTraceServiceRequest`` in OTLP/JSON."""
    by_resource: dict[int, tuple[Any, dict[str, list[dict[str, Any]]]]] = {}
    for span in spans:
        _, scopes = by_resource.setdefault(id(span.resource), (span.resource, defaultdict(list)))
        scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
        scopes[scope].append(_span(span))
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource.attributes)},
                "scopeSpans": [{"scope": {"name": name}, "spans": items} for name, items in scopes.items()],
            }
            for resource, scopes in by_resource.values()
        ]
    }
    return json.dumps(request, separators=(",", ":")).encode()


class OtlpJsonExporter(SpanExporter):
    """Export to ``endpoint`` (``http://host:4318``; ``/v1/traces`` is appended unless already there)."""

    def __init__(self, endpoint: str, timeout: float = 5.0) -> None:
        endpoint = endpoint.rstrip("/")
        self.url = endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"
        self.timeout = timeout

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        request = urllib.request.Request(  # noqa: S310 - the endpoint is the operator's configuration
            self.url, data=encode(spans), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                ok = 200 <= response.status < 300
        except (urllib.error.URLError, OSError) as exc:
            log.warning("OTLP export of %d span(s) to %s failed: %s", len(spans), self.url, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        return None
