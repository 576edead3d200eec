"""HMAC signing of exact body bytes, key ids and rotation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from reference_impl.bloodbank.signing import KEY_ID_HEADER, SIGNATURE_HEADER, Signer, SigningConfigError


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"event_id":"x","payload":{"caf\xc3\xa9":1}}'
    headers = Signer({"k1": b"secret"}).sign(body)
    expected = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert headers == {SIGNATURE_HEADER: f"sha256={expected}", KEY_ID_HEADER: "k1"}


def test_rotation_signs_with_the_active_key_and_verifies_all() -> None:
    old = Signer.from_spec("k1:old")
    rotated = Signer.from_spec("k1:old,k2:new", active_key_id="k2")
    body = b"{}"
    assert rotated.sign(body)[KEY_ID_HEADER] == "k2"
    assert rotated.verify(body, old.sign(body))  # events signed before the rotation still verify
    assert rotated.verify(body, rotated.sign(body))
    assert not old.verify(body, rotated.sign(body))  # k2 unknown to the old signer


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SIGNATURE_HEADER: "sha256=00", KEY_ID_HEADER: "k1"},
        {SIGNATURE_HEADER: Signer({"k1": b"s"}).sign(b"{}")[SIGNATURE_HEADER], KEY_ID_HEADER: "nope"},
    ],
)
def test_verify_rejects_missing_wrong_or_unknown(headers: dict[str, str]) -> None:
    assert not Signer({"k1": b"s"}).verify(b"{}", headers)


def test_verify_rejects_a_tampered_body() -> None:
    signer = Signer({"k1": b"s"})
    assert not signer.verify(b'{"a":2}', signer.sign(b'{"a":1}'))


def test_verify_accepts_bytes_headers_as_amqp_delivers_them() -> None:
    signer = Signer({"k1": b"s"})
    headers = {k: v.encode() for k, v in signer.sign(b"{}").items()}
    assert signer.verify(b"{}", headers)


@pytest.mark.parametrize(
    ("spec", "active", "message"),
    [
        ("k1", None, "not of the form id:secret"),
        ("k1:a,k1:b", None, "listed twice"),
        ("k1:a", "k9", "'k9' is not among the configured keys"),
        (":a", None, "empty id or secret"),
        (",", None, "no signing keys"),
    ],
)
def test_bad_key_specs_say_what_is_wrong(spec: str, active: str | None, message: str) -> None:
    with pytest.raises(SigningConfigError, match=message):
        Signer.from_spec(spec, active)
