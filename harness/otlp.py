"""A small OTLP/HTTP trace receiver (JSON encoding): the services under test export their spans to it, and
the span checks read what arrived.

``POST /v1/traces`` with ``Content-Type: application/json`` (an ``ExportTraceServiceRequest`` in OTLP/JSON)
is accepted; protobuf is answered 415 with a message saying to switch the exporter to JSON
(``OTEL_EXPORTER_OTLP_PROTOCOL=http/json``), so a team sees why its spans are not counted.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.backends._base import StartStop

MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Span:
    service: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int  # OTLP: 1 internal, 2 server, 3 client, 4 producer, 5 consumer


def _service(resource: dict[str, Any]) -> str:
    for attribute in resource.get("attributes") or []:
        if attribute.get("key") == "service.name":
            return str((attribute.get("value") or {}).get("stringValue", ""))
    return ""


def parse(request: dict[str, Any]) -> list[Span]:
    """The spans of an OTLP/JSON ``ExportTraceServiceRequest`` (ids lowercased; missing parent = "")."""
    spans = []
    for resource_spans in request.get("resourceSpans") or []:
        service = _service(resource_spans.get("resource") or {})
        for scope_spans in resource_spans.get("scopeSpans") or []:
            for span in scope_spans.get("spans") or []:
                kind = span.get("kind", 0)
                spans.append(
                    Span(
                        service=service,
                        trace_id=str(span.get("traceId", "")).lower(),
                        span_id=str(span.get("spanId", "")).lower(),
                        parent_span_id=str(span.get("parentSpanId", "") or "").lower(),
                        name=str(span.get("name", "")),
                        kind=int(kind) if isinstance(kind, int | str) and str(kind).isdigit() else 0,
                    )
                )
    return spans


class OtlpReceiver(StartStop):
    """Listens on ``host:port`` (0 = a free port) until stopped; ``spans`` holds everything received."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.spans: list[Span] = []
        self.rejected: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """What an exporter is configured with (``/v1/traces`` is appended by OTLP exporters)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> OtlpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, text: str = "") -> None:
                body = json.dumps({"message": text} if text else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if self.path.split("?")[0] != "/v1/traces":
                    return self._answer(404, "OTLP traces are received on POST /v1/traces")
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return self._answer(413, f"export request over {MAX_BODY} bytes")
                body = self.rfile.read(length)
                kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if kind != "application/json":
                    receiver._reject(f"{kind or 'no content type'} ({length} bytes)")
                    return self._answer(
                        415,
                        f"this receiver reads OTLP/HTTP JSON, not {kind or 'an untyped body'}: set the "
                        "exporter's protocol to http/json (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)",
                    )
                try:
                    spans = parse(json.loads(body))
                except (ValueError, AttributeError, TypeError) as exc:
                    receiver._reject(f"unreadable JSON: {exc}")
                    return self._answer(400, f"not an OTLP/JSON ExportTraceServiceRequest: {exc}")
                with receiver._lock:
                    receiver.spans.extend(spans)
                return self._answer(200)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        self._thread.start()
        return self

    def _reject(self, why: str) -> None:
        with self._lock:
            self.rejected.append(why)

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id.lower()]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
