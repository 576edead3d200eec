"""Event signatures (SPEC §2): ``x-signature: sha256=<hex>`` = HMAC-SHA256 of the exact body bytes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any


def verify_signature(body: bytes, headers: dict[str, Any], keys: dict[str, bytes]) -> str | None:
    """Check ``x-signature: sha256=<hex>`` (HMAC-SHA256 of the body) with ``x-signature-key-id``.

    Returns None when valid, else why not. Without a key id every configured key is tried.
    """
    signature = _header_text(headers.get("x-signature"))
    if not signature:
        return "missing x-signature header"
    scheme, _, digest = signature.partition("=")
    if scheme.strip().lower() != "sha256" or not digest:
        return "x-signature must look like 'sha256=<hex>'"
    key_id = _header_text(headers.get("x-signature-key-id"))
    if key_id:
        if key_id not in keys:
            return f"unknown x-signature-key-id {key_id[:64]!r}"
        candidates: Iterable[bytes] = [keys[key_id]]
    else:
        candidates = keys.values()
    given = digest.strip().lower()
    for secret in candidates:
        if hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).hexdigest(), given):
            return None
    return "signature does not match the body" + ("" if key_id else " for any configured key")


def _header_text(value: object) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None
