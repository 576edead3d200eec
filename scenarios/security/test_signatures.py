"""Event signing (SPEC §2): unsigned and tampered messages dead-lettered, rotated keys accepted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.config import Settings
from harness.probes import sign
from holyfields import make_envelope
from scenarios import collect_dead_letters

pytestmark = pytest.mark.security


def _body(**overrides: Any) -> tuple[dict[str, Any], bytes]:
    envelope = make_envelope("agent.tool.invoked.v1", **overrides)
    return envelope, json.dumps(envelope).encode()


def test_unsigned_and_tampered_messages_are_dead_lettered(
    inject: Any, dlq_tap: Any, candystore: Any, signing_key: tuple[str, str]
) -> None:
    """Unsigned or tampered events accepted when signing is required (no signature_invalid dead letter)."""
    key_id, secret = signing_key
    variants: dict[str, tuple[dict[str, Any], bytes, dict[str, str]]] = {}

    envelope, body = _body()
    variants["unsigned"] = (envelope, body, {})
    envelope, body = _body()
    tampered = body.replace(b'"agent_name": "', b'"agent_name": "X', 1)
    assert tampered != body
    variants["body changed after signing"] = (
        envelope,
        tampered,
        {"x-signature": sign(body, secret), "x-signature-key-id": key_id},
    )
    envelope, body = _body()
    variants["signed with a wrong secret"] = (
        envelope,
        body,
        {"x-signature": sign(body, secret + "-wrong"), "x-signature-key-id": key_id},
    )
    envelope, body = _body()
    variants["unknown key id"] = (
        envelope,
        body,
        {"x-signature": sign(body, secret), "x-signature-key-id": key_id + "-unknown"},
    )
    envelope, body = _body()
    variants["malformed signature header"] = (
        envelope,
        body,
        {"x-signature": "sha256=not-hex", "x-signature-key-id": key_id},
    )
    envelope, body = _body()
    variants["signature of another algorithm"] = (
        envelope,
        body,
        {"x-signature": "md5=" + sign(body, secret).split("=", 1)[1][:32], "x-signature-key-id": key_id},
    )

    sent = {}
    for name, (envelope, body, headers) in variants.items():
        mid = inject(body, envelope["event_type"], signed=False, headers=headers)
        sent[mid] = (name, envelope, body)
    letters, missing = collect_dead_letters(dlq_tap, {mid: body for mid, (_, _, body) in sent.items()})
    problems = []
    for mid in sorted(missing):
        name, envelope, _ = sent[mid]
        stored = candystore.get_event(envelope["event_id"]).status_code == 200
        problems.append(f"{name}: {'accepted (stored)' if stored else 'never dead-lettered (lost)'}")
    for mid, letter in letters.items():
        name, envelope, body = sent[mid]
        if letter.reason != "signature_invalid":
            problems.append(f"{name}: dead-lettered as {letter.reason!r}, expected signature_invalid")
        if letter.body != body:
            problems.append(f"{name}: dead-lettered body is not the original bytes")
    assert not problems, "unsigned or tampered events accepted when signing is required:\n" + "\n".join(
        problems
    )


def test_event_signed_with_a_rotated_key_is_accepted(
    inject: Any, candystore: Any, harness_settings: Settings, signing_key: tuple[str, str]
) -> None:
    """Event signed with another configured (rotated) key rejected: key rotation unsupported."""
    keys = list(harness_settings.keyring.items())
    if len(keys) < 2:
        pytest.skip("the run has one signing key: give --signing-keys id:secret,id2:secret2 to test rotation")
    for key in keys:
        envelope, body = _body()
        inject(body, envelope["event_type"], signed=False, headers=_headers(body, key))
        try:
            candystore.wait_stored(envelope["event_id"], timeout=20)
        except AssertionError:
            raise AssertionError(
                f"event signed with configured key {key[0]!r} never stored: key rotation unsupported"
            ) from None


def _headers(body: bytes, key: tuple[str, str]) -> dict[str, str]:
    return {"x-signature": sign(body, key[1]), "x-signature-key-id": key[0]}
