"""What a delivered message is: classification (the permanent-failure checks), the row it becomes, and
whether a message with a stored event id is the same event (a redelivery or a client retry, ADR 0030)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from holyfields import JsonInvalid, Registry, dlq_reason, parse_json
from reference_impl.candystore.config import Settings
from reference_impl.candystore.signing import verify_signature
from reference_impl.candystore.storage import Row


def _strip_nul(value: Any) -> Any:
    """A copy without U+0000 (PostgreSQL's jsonb cannot hold it; the raw body keeps the original)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def event_time(envelope: dict[str, Any]) -> float | None:
    raw = envelope.get("timestamp")
    try:
        return datetime.fromisoformat(raw).timestamp() if isinstance(raw, str) else None
    except ValueError:
        return None


@dataclass(eq=False)
class Delivery:
    """One delivered message and what is known about it so far."""

    message: AbstractIncomingMessage
    envelope: dict[str, Any] | None = None
    event_id: str = ""
    reason: str | None = None
    detail: str = ""

    @property
    def body(self) -> bytes:
        return self.message.body

    @property
    def identity(self) -> bytes:
        """Key of the transient-attempt counter (the same body counts as the same message)."""
        return hashlib.sha1(self.message.body, usedforsecurity=False).digest()


def classify(d: Delivery, settings: Settings, schemas: Registry) -> None:
    """Set ``d.envelope`` or ``d.reason`` + ``d.detail``: signature (when keys are configured), JSON, the
    envelope and, when its type is known, the payload."""
    if settings.signing_keys:
        headers = d.message.headers or {}
        if settings.require_signatures or "x-signature" in headers:
            problem = verify_signature(d.body, headers, settings.signing_keys)
            if problem is not None:
                d.reason, d.detail = "signature_invalid", problem
                return
    try:
        envelope = parse_json(d.body)
    except JsonInvalid as exc:
        d.reason, d.detail = "json_invalid", str(exc)
        return
    if not schemas.is_valid(envelope, require_known_type=False):
        issues = schemas.validate(envelope, require_known_type=False)
        if issues:
            d.reason = dlq_reason(issues)
            d.detail = "; ".join(issue.message for issue in issues[:5])
            return
    assert isinstance(envelope, dict)
    d.envelope = envelope
    d.event_id = str(envelope["event_id"]).lower()


def row(d: Delivery) -> Row:
    """The row a valid delivery is stored as (the original bytes; jsonb without U+0000 when needed)."""
    jsonb_text = None
    if b"\\u0000" in d.body:
        jsonb_text = json.dumps(_strip_nul(d.envelope))
    return Row(d.event_id, d.body, d.message.routing_key or "", jsonb_text)


def same_event(d: Delivery, stored: bytes | None) -> bool:
    """Identical body, the same JSON document (a redelivery may be re-serialised), or the same document
    but for the fields the producer filled in for this message (``x-filled-fields``, ADR 0030)."""
    if stored is None:
        return False
    if stored == d.body:
        return True
    try:
        document = parse_json(stored)
    except JsonInvalid:
        return False
    if document == d.envelope:
        return True
    filled = filled_fields(d.message.headers)
    if not filled or not isinstance(document, dict) or d.envelope is None:
        return False
    return _without(document, filled) == _without(d.envelope, filled)


#: AMQP header naming the envelope fields the producer filled in, not the client (ADR 0030)
FILLED_HEADER = "x-filled-fields"
#: the only fields that header may exclude from the duplicate comparison
FILLABLE = frozenset({"timestamp", "version", "source", "trace_context"})


def filled_fields(headers: Mapping[str, Any] | None) -> frozenset[str]:
    """The :data:`FILLABLE` fields named by ``x-filled-fields`` (comma-separated); other names are ignored,
    so the header can never exclude ``payload`` or any other client field from the comparison."""
    value = (headers or {}).get(FILLED_HEADER)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return frozenset()
    return frozenset(name.strip() for name in value.split(",")) & FILLABLE


def _without(document: Mapping[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in names}
