"""Completion of partial envelopes, parent headers and traceparent (no broker)."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry import trace

from holyfields import make_envelope, registry
from reference_impl.bloodbank.completion import (
    HeaderInvalid,
    SourceDefaults,
    complete,
    parent_ids,
    trace_context_of,
    trace_parent,
    with_trace_context,
)

SOURCE = SourceDefaults(host="bb-host", type="system", app="bloodbank")


def test_partial_envelope_is_completed_into_a_valid_one() -> None:
    partial = {
        "event_type": "github.pr.opened.v1",
        "payload": make_envelope("github.pr.opened.v1")["payload"],
    }
    envelope = complete(partial, SOURCE)
    assert registry().validate(envelope) == []
    assert uuid.UUID(envelope["event_id"]).version == 4
    assert envelope["version"] == "1.0.0"
    assert envelope["source"] == {"host": "bb-host", "type": "system", "app": "bloodbank"}
    assert envelope["correlation_ids"] == []
    assert envelope["timestamp"].endswith("Z")
    assert "trace_context" not in envelope  # filled by the publish span
    assert partial == {"event_type": "github.pr.opened.v1", "payload": partial["payload"]}  # not mutated


def test_given_fields_are_kept_even_when_wrong() -> None:
    given = make_envelope("github.pr.opened.v1", version="2.0.0", source={"host": "h", "type": "agent"})
    given["event_id"] = "not-a-uuid"
    envelope = complete(given, SOURCE)
    assert envelope == given


@pytest.mark.parametrize("field", ["event_id", "timestamp", "version", "source", "correlation_ids"])
def test_explicit_null_is_not_completed_so_validation_rejects_it(field: str) -> None:
    given = {**make_envelope("github.pr.opened.v1"), field: None}
    envelope = with_trace_context(
        complete(given, SOURCE), {"trace_id": "0" * 31 + "1", "span_id": "0" * 15 + "1"}
    )
    assert envelope[field] is None
    assert any(issue.path == f"$.{field}" for issue in registry().validate(envelope))


def test_explicit_null_trace_context_is_kept() -> None:
    envelope = with_trace_context({"trace_context": None}, {"trace_id": "a" * 32, "span_id": "b" * 16})
    assert envelope == {"trace_context": None}


def test_parent_headers_fill_or_extend_correlation_ids() -> None:
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    assert complete({"event_type": "x"}, SOURCE, parents=[a, b])["correlation_ids"] == [a, b]
    assert complete({"correlation_ids": [c, a]}, SOURCE, parents=[a, b])["correlation_ids"] == [c, a, b]


def test_parent_ids_accept_repeated_and_comma_separated_values() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert parent_ids([f"{a}, {b}", str(a).upper()]) == [str(a), str(b)]
    assert parent_ids([]) == []


def test_a_bad_parent_id_names_the_header() -> None:
    with pytest.raises(HeaderInvalid) as caught:
        parent_ids(["3f0c, not-a-uuid"])
    assert caught.value.issue.as_dict() == {
        "path": "header:X-Parent-Event-Id",
        "message": "header:X-Parent-Event-Id: '3f0c' is not a valid uuid",
        "rule": "format:uuid",
    }


def test_traceparent_is_parsed_and_a_malformed_one_ignored() -> None:
    context = trace_parent({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    assert context is not None
    span_context = trace.get_current_span(context).get_span_context()
    assert f"{span_context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_parent({"traceparent": "garbage"}) is None
    assert trace_parent({}) is None


def test_trace_context_comes_from_the_span_unless_given() -> None:
    span = trace.NonRecordingSpan(
        trace.SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=trace.TraceFlags(1))
    )
    filled = with_trace_context({"event_type": "x"}, trace_context_of(span))
    assert filled["trace_context"] == {
        "trace_id": f"{0xABC:032x}",
        "span_id": f"{0xDEF:016x}",
        "trace_flags": "01",
    }
    given = {"trace_context": {"trace_id": "1" * 32, "span_id": "2" * 16}}
    assert with_trace_context(given, trace_context_of(span)) is given


def test_without_a_tracing_sdk_ids_are_still_valid() -> None:
    envelope = with_trace_context(make_envelope(), trace_context_of(trace.INVALID_SPAN))
    assert registry().validate(envelope) == []
