"""What a Candystore requires of every message it consumes (SPEC §2, §4), as a message handler.

The consumer test of the Candystore <- Bloodbank pact runs each message of the pact through
:func:`accept`; anything a conforming Candystore would dead-letter makes the test fail, so the pact can only
describe messages a Candystore can store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from harness.contracts import patterns
from holyfields import registry


class Rejected(ValueError):
    """The message would be dead-lettered; the message lists every reason."""


def accept(body: Any, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope of an acceptable message; :class:`Rejected` naming every problem otherwise."""
    raw = body if isinstance(body, bytes | str) else str(body)
    try:
        envelope = json.loads(raw)
    except ValueError as exc:
        raise Rejected(f"json_invalid: {exc}") from None
    problems = [f"{issue.path}: {issue.message}" for issue in registry().validate(envelope)]
    if metadata.get("contentType") != "application/json":
        problems.append(f"content type {metadata.get('contentType')!r}, not application/json")
    if metadata.get("routing_key") != envelope.get("event_type"):
        problems.append(f"routing key {metadata.get('routing_key')!r} is not the event_type")
    if metadata.get("message_id") != envelope.get("event_id"):
        problems.append(f"message_id {metadata.get('message_id')!r} is not the event_id")
    if metadata.get("delivery_mode") != 2:
        problems.append(f"delivery_mode {metadata.get('delivery_mode')!r}: not persistent")
    if not re.match(patterns.SIGNATURE, str(metadata.get("x-signature", ""))):
        problems.append(f"x-signature {metadata.get('x-signature')!r} is not sha256=<64 hex>")
    if not metadata.get("x-signature-key-id"):
        problems.append("no x-signature-key-id")
    if problems:
        raise Rejected("; ".join(problems))
    return envelope
