"""Trace spans, verified (SPEC §3 tracing): for an event published under a sampled W3C ``traceparent``,
the publisher's span continues the caller's trace, the event's ``trace_context`` names that span, and the
store's span is its child, as received by the harness's OTLP/HTTP (JSON) receiver.

Against services started elsewhere this runs when ``--otlp-receiver HOST:PORT`` is given and their
exporters point at ``http://HOST:PORT`` (protocol http/json).
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from harness.config import Settings
from harness.launch import wait_until
from holyfields import make_envelope

pytestmark = [pytest.mark.correlation, pytest.mark.needs("publish", "read_by_id")]

#: OTLP span kinds
PRODUCER, CONSUMER = 4, 5


@pytest.fixture(scope="module")
def spans_receiver(harness_settings: Settings, otlp_receiver: Any) -> Any:
    if harness_settings.external_services and not harness_settings.otlp_receiver:
        pytest.skip(
            "spans of services started elsewhere are checked when --otlp-receiver HOST:PORT is given "
            "and their OTLP exporters send to http://HOST:PORT (http/json)"
        )
    return otlp_receiver


def _describe(spans: list[Any]) -> str:
    return (
        "\n".join(
            f"  {s.service or '?'}: {s.name!r} kind={s.kind} span={s.span_id} "
            f"parent={s.parent_span_id or '-'}"
            for s in spans
        )
        or "  (none)"
    )


def test_publish_and_store_spans_continue_the_callers_trace(
    bloodbank: Any, candystore: Any, spans_receiver: Any
) -> None:
    """Spans of a sampled trace missing, or not linked to the caller's traceparent"""
    trace_id, caller = secrets.token_hex(16), secrets.token_hex(8)
    envelope = make_envelope("github.pr.opened.v1")
    response = bloodbank.publish(envelope, headers={"traceparent": f"00-{trace_id}-{caller}-01"})
    assert bloodbank.accepted(response), f"publish answered {response.status_code}: {response.text[:300]}"
    stored = candystore.wait_stored(envelope["event_id"])
    context = stored.get("trace_context") or {}
    assert context.get("trace_id") == trace_id, (
        f"the stored trace_context {context} does not carry the caller's trace id {trace_id}"
    )

    spans: list[Any] = []
    publish: list[Any] = []
    store: list[Any] = []

    def linked() -> bool:
        nonlocal spans, publish, store
        spans = spans_receiver.trace(trace_id)
        publish = [s for s in spans if s.parent_span_id == caller]
        ids = {s.span_id for s in publish}
        store = [s for s in spans if s.parent_span_id in ids]
        return bool(publish and store)

    try:
        wait_until(linked, timeout=15, interval=0.1, describe="linked spans")
    except TimeoutError:
        pass
    rejected = spans_receiver.rejected
    assert spans, (
        f"no span of the sampled trace {trace_id} reached the OTLP receiver {spans_receiver.endpoint} "
        "within 15 s: is the exporter enabled and pointed at it?"
        + (f" It refused {len(rejected)} export(s): {rejected[-1]} (send http/json)" if rejected else "")
    )
    assert publish, (
        f"no span has the caller's span {caller} (from traceparent) as its parent: the publish does not "
        f"continue the caller's trace. Spans of the trace:\n{_describe(spans)}"
    )
    assert context.get("span_id") in {s.span_id for s in publish}, (
        f"the stored trace_context names span {context.get('span_id')}, not the publish span "
        f"({', '.join(s.span_id for s in publish)})"
    )
    assert store, (
        "no span is a child of the publish span: the consumer's store of the event is not traced in the "
        f"caller's trace. Spans of the trace:\n{_describe(spans)}"
    )
    assert any(s.kind == PRODUCER for s in publish), (
        f"the publish span is not a PRODUCER span:\n{_describe(publish)}"
    )
    assert any(s.kind == CONSUMER for s in store), (
        f"the store span is not a CONSUMER span:\n{_describe(store)}"
    )
