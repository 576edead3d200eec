"""HMAC-SHA256 event signing with key ids (SPEC §2).

The signature covers the exact body bytes that go on the wire. Several keys can be known at once so that a key
can rotate: the publisher signs with the *active* key, a verifier accepts every known key id.

>>> signer = Signer.from_spec("k1:old-secret,k2:new-secret", active_key_id="k2")
>>> headers = signer.sign(b'{"a":1}')
>>> headers["x-signature-key-id"], signer.verify(b'{"a":1}', headers)
('k2', True)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "x-signature"
KEY_ID_HEADER = "x-signature-key-id"
_PREFIX = "sha256="


class SigningConfigError(ValueError):
    """The signing keys given in the configuration cannot be used; the message says how to fix them."""


def signature(secret: bytes, body: bytes) -> str:
    """``sha256=<hex>``: the header value for ``body`` signed with ``secret``."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Signer:
    """Signs bodies with the active key and verifies them against every known key."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str | None = None) -> None:
        if not keys:
            raise SigningConfigError("no signing keys given")
        for key_id, secret in keys.items():
            if not key_id or not secret:
                raise SigningConfigError(f"signing key {key_id!r} has an empty id or secret")
        active = active_key_id or next(iter(keys))
        if active not in keys:
            raise SigningConfigError(
                f"active signing key id {active!r} is not among the configured keys ({', '.join(keys)})"
            )
        self.keys = dict(keys)
        self.active_key_id = active
        self._active_secret = self.keys[active]

    @classmethod
    def from_spec(cls, spec: str, active_key_id: str | None = None) -> Signer:
        """Build from ``"id1:secret1,id2:secret2"``; the active key defaults to the first one listed."""
        keys: dict[str, bytes] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            key_id, sep, secret = item.partition(":")
            if not sep:
                raise SigningConfigError(
                    f"signing key {item[:20]!r}… is not of the form id:secret (example: k1:s3cret,k2:n3w)"
                )
            if key_id.strip() in keys:
                raise SigningConfigError(f"signing key id {key_id.strip()!r} is listed twice")
            keys[key_id.strip()] = secret.encode()
        return cls(keys, active_key_id or None)

    def sign(self, body: bytes) -> dict[str, str]:
        """The headers that sign ``body`` with the active key."""
        return {SIGNATURE_HEADER: signature(self._active_secret, body), KEY_ID_HEADER: self.active_key_id}

    def verify(self, body: bytes, headers: Mapping[str, object]) -> bool:
        """True when ``headers`` carry a valid signature of ``body`` by any known key."""
        key_id = headers.get(KEY_ID_HEADER)
        given = headers.get(SIGNATURE_HEADER)
        if isinstance(key_id, bytes):
            key_id = key_id.decode(errors="replace")
        if isinstance(given, bytes):
            given = given.decode(errors="replace")
        if not isinstance(key_id, str) or not isinstance(given, str) or key_id not in self.keys:
            return False
        return hmac.compare_digest(signature(self.keys[key_id], body), given)
