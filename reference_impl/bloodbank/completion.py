"""Completion of partial envelopes (SPEC §3): the fields a caller may leave out, and where they come from.

A caller may send only ``event_type`` and ``payload``; Bloodbank fills ``event_id`` (new uuid4),
``timestamp`` (now, UTC), ``version`` (``1.0.0``), ``source`` (this service's host/app/type),
``correlation_ids`` (from the ``X-Parent-Event-Id`` headers, else ``[]``) and ``trace_context`` (the publish
span, a child of ``traceparent``).
Fields the caller gave are kept as they are; completion never repairs a wrong value (validation reports it).

Of these, ``timestamp``, ``version``, ``source`` and ``trace_context`` take a value Bloodbank chooses, which
differs from one attempt to the next; the message names the ones it filled in the AMQP header
``x-filled-fields`` (comma-separated), so that a consumer can tell a client's retry of the same envelope
from a conflicting body under the same ``event_id`` (ADR 0030). ``event_id`` (a new uuid cannot repeat) and
``correlation_ids`` (derived from the request) are never named.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from holyfields import ValidationIssue, utc_now

ENVELOPE_VERSION = "1.0.0"
UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
UUID_RE = re.compile(UUID_PATTERN + r"\Z")
#: the ``X-Parent-Event-Id`` values :func:`parent_ids` accepts (documented in the OpenAPI)
PARENT_HEADER_PATTERN = f"^[ \\t]*({UUID_PATTERN})?[ \\t]*(,[ \\t]*({UUID_PATTERN})?[ \\t]*)*$"
PARENT_HEADER = "X-Parent-Event-Id"
_PROPAGATOR = TraceContextTextMapPropagator()
#: AMQP header naming the envelope fields Bloodbank filled in (ADR 0030)
FILLED_HEADER = "x-filled-fields"
#: the fields that header may name, in the order it names them
FILLABLE = ("timestamp", "version", "source", "trace_context")


@dataclass(frozen=True)
class SourceDefaults:
    """The ``source`` given to events whose caller sent none."""

    host: str
    type: str = "manual"
    app: str = "bloodbank"

    def as_dict(self) -> dict[str, str]:
        return {"host": self.host, "type": self.type, "app": self.app}


class HeaderInvalid(ValueError):
    """A request header that feeds the envelope holds a bad value; ``issue`` says which and why."""

    def __init__(self, issue: ValidationIssue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def parent_ids(values: Iterable[str]) -> list[str]:
    """Event ids from ``X-Parent-Event-Id`` values (repeated and/or comma-separated), lower-cased.

    Each id must be a uuid in its 8-4-4-4-12 form (as in ``correlation_ids``); empty items are ignored.
    """
    ids: list[str] = []
    for value in values:
        for part in value.split(","):
            text = part.strip(" \t")
            if not text:
                continue
            if not UUID_RE.match(text):
                path = f"header:{PARENT_HEADER}"
                raise HeaderInvalid(
                    ValidationIssue(path, f"{path}: {text[:60]!r} is not a valid uuid", "format:uuid")
                )
            canonical = text.lower()
            if canonical not in ids:
                ids.append(canonical)
    return ids


def trace_parent(headers: Mapping[str, str]) -> Context | None:
    """The OpenTelemetry context of a W3C ``traceparent`` header; ``None`` when absent or malformed.

    A malformed ``traceparent`` is ignored, as the W3C recommendation says: the publish starts a new trace.
    """
    if "traceparent" not in headers:
        return None
    context = _PROPAGATOR.extract(headers)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def complete(
    data: Mapping[str, Any],
    source: SourceDefaults,
    *,
    parents: Iterable[str] = (),
    now: str | None = None,
) -> dict[str, Any]:
    """A copy of ``data`` with the absent envelope fields filled.

    An explicit ``null`` is not absent: it is left in place, so validation answers 422 for it (the schema
    types these fields as string, object or array), as for any other wrong value.
    """
    envelope = dict(data)
    if "event_id" not in envelope:
        envelope["event_id"] = str(uuid.uuid4())
    if "timestamp" not in envelope:
        envelope["timestamp"] = now or utc_now()
    if "version" not in envelope:
        envelope["version"] = ENVELOPE_VERSION
    if "source" not in envelope:
        envelope["source"] = source.as_dict()
    extra = list(parents)
    given = envelope.get("correlation_ids")
    if "correlation_ids" not in envelope:
        envelope["correlation_ids"] = extra
    elif extra and isinstance(given, list):
        envelope["correlation_ids"] = given + [parent for parent in extra if parent not in given]
    return envelope


def filled_fields(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The :data:`FILLABLE` fields :func:`complete` fills in for ``data`` (``trace_context`` excluded: the
    publisher fills that one and adds it to the header itself)."""
    return tuple(name for name in FILLABLE if name != "trace_context" and name not in data)


def filled_header(filled: Iterable[str]) -> str:
    """The ``x-filled-fields`` value for ``filled``: the :data:`FILLABLE` names in canonical order."""
    names = set(filled)
    return ",".join(name for name in FILLABLE if name in names)


def trace_context_of(span: trace.Span) -> dict[str, str]:
    """The ``trace_context`` value naming ``span`` (W3C lowercase hex)."""
    context = span.get_span_context()
    if context.is_valid:
        trace_id, span_id, flags = context.trace_id, context.span_id, int(context.trace_flags)
    else:  # no tracing SDK configured: still give consumers ids to correlate with
        trace_id, span_id, flags = random.getrandbits(128) or 1, random.getrandbits(64) or 1, 0
    return {"trace_id": f"{trace_id:032x}", "span_id": f"{span_id:016x}", "trace_flags": f"{flags:02x}"}


def with_trace_context(envelope: Mapping[str, Any], trace_context: Mapping[str, str]) -> Mapping[str, Any]:
    """The envelope with ``trace_context`` filled in when absent (the caller's value, even null, is kept)."""
    if "trace_context" in envelope:
        return envelope
    return {**envelope, "trace_context": dict(trace_context)}
