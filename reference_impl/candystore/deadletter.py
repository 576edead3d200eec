"""Dead-letter mechanics of SPEC §2: the original body, byte-identical, with the reason in headers."""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode

DETAIL_LIMIT = 1000


def dead_letter_message(original: AbstractIncomingMessage, reason: str, detail: str) -> aio_pika.Message:
    """The message to publish to the DLX for ``original``.

    Body and properties are the original's; headers gain ``x-dlq-reason``, ``x-dlq-detail`` (truncated to
    1,000 characters), ``x-dlq-consumer`` and where the message came from (``x-original-exchange``,
    ``x-original-routing-key``; the DLX routing key is ``dlq.candystore``). ``expiration`` is not copied (a
    dead letter must not expire in the DLQ) nor ``user_id`` (the broker checks it against our login).
    """
    m = original
    headers: dict[str, Any] = dict(m.headers or {})
    headers["x-dlq-reason"] = reason
    headers["x-dlq-detail"] = (detail or reason)[:DETAIL_LIMIT]
    headers["x-dlq-consumer"] = "candystore"
    headers["x-original-exchange"] = m.exchange or ""
    headers["x-original-routing-key"] = m.routing_key or ""
    return aio_pika.Message(
        m.body,
        headers=headers,
        content_type=m.content_type,
        content_encoding=m.content_encoding,
        delivery_mode=m.delivery_mode or DeliveryMode.PERSISTENT,
        priority=m.priority,
        correlation_id=m.correlation_id,
        reply_to=m.reply_to,
        message_id=m.message_id,
        timestamp=m.timestamp,
        type=m.type,
        app_id=m.app_id,
    )
