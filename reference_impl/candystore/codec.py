"""The wire form of a stored event: the body exactly as published, plus ``stored_at``."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """``2024-05-01T12:00:00.123456Z`` (UTC, microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_event(body: bytes, stored_at: datetime) -> bytes:
    """The published JSON object with ``"stored_at"`` appended as its last member.

    The body was validated as a JSON object at ingest, so splicing keeps every byte of what was published
    (field order, number spelling, unknown fields) instead of re-serialising a parsed copy.

    >>> encode_event(b'{"a": 1.0}\\n', datetime(2024, 1, 2, tzinfo=UTC))
    b'{"a": 1.0,"stored_at":"2024-01-02T00:00:00.000000Z"}'
    """
    trimmed = body.rstrip()
    if not trimmed.endswith(b"}"):
        raise ValueError("stored body is not a JSON object")
    inner = trimmed[:-1].rstrip()
    separator = b"" if inner.endswith(b"{") else b","
    return inner + separator + b'"stored_at":"' + rfc3339(stored_at).encode() + b'"}'
