"""Signed events (SPEC §2): with signatures required, unsigned or tampered messages are dead-lettered."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from .helpers import Deployment, dumps, envelope

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.dlq]

KEYS = {"k-old": b"old secret", "k-new": b"new secret"}


def sign(body: bytes, key_id: str, secret: bytes | None = None) -> dict[str, str]:
    digest = hmac.new(secret or KEYS[key_id], body, hashlib.sha256).hexdigest()
    return {"x-signature": f"sha256={digest}", "x-signature-key-id": key_id}


@pytest.fixture(scope="module")
def signed(deployment_factory) -> Deployment:
    return deployment_factory(
        CANDYSTORE_REQUIRE_SIGNATURES="true",
        CANDYSTORE_SIGNING_KEYS=",".join(f"{k}:{v.decode()}" for k, v in KEYS.items()),
    )


def test_events_signed_with_any_configured_key_are_stored(signed: Deployment) -> None:
    events = [envelope("github.pr.opened.v1") for _ in range(3)]
    for event, key_id in zip(events, ["k-old", "k-new", "k-new"], strict=True):
        body = dumps(event)
        signed.publish(
            body, routing_key=event["event_type"], message_id=event["event_id"], headers=sign(body, key_id)
        )
    signed.wait_stored([e["event_id"] for e in events])


@pytest.mark.parametrize("case", ["unsigned", "tampered", "unknown key id", "wrong secret", "malformed"])
def test_bad_signatures_are_dead_lettered(signed: Deployment, case: str) -> None:
    event = envelope("github.pr.opened.v1")
    body = dumps(event)
    headers: dict[str, str] | None = sign(body, "k-new")
    if case == "unsigned":
        headers = None
    elif case == "tampered":
        body = body.replace(b'"title":"', b'"title":"X')
        assert body != dumps(event)
    elif case == "unknown key id":
        headers = sign(body, "k-gone", b"new secret")
    elif case == "wrong secret":
        headers = sign(body, "k-new", b"guessed")
    else:
        headers = {"x-signature": "md5:abc", "x-signature-key-id": "k-new"}
    signed.publish(body, routing_key=event["event_type"], message_id=event["event_id"], headers=headers)
    (dead,) = signed.dead_letters(1)
    assert (dead.body, dead.reason) == (body, "signature_invalid")
    assert dead.headers["x-dlq-detail"]
    assert signed.stored_count([event["event_id"]]) == 0


def test_optional_mode_checks_signatures_that_are_present(deployment_factory) -> None:
    dep: Deployment = deployment_factory(CANDYSTORE_SIGNING_KEYS="k1:s1")
    unsigned = envelope("github.pr.opened.v1")
    dep.publish(unsigned)
    forged = envelope("github.pr.opened.v1")
    body = dumps(forged)
    dep.publish(body, routing_key=forged["event_type"], headers=sign(body, "k1", b"wrong"))
    (dead,) = dep.dead_letters(1)
    assert (dead.body, dead.reason) == (body, "signature_invalid")
    dep.wait_stored([unsigned["event_id"]])
