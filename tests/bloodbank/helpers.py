"""Helpers of the Bloodbank suite: tap queues read with deadlines, topology clean-up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions

from harness.backends import wait_until


def open_connection(amqp_url: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(amqp_url))


@dataclass
class Received:
    """One message as the broker delivered it."""

    routing_key: str
    exchange: str
    properties: pika.BasicProperties
    body: bytes

    @property
    def envelope(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.properties.headers or {})


class Tap:
    """A server-named exclusive queue bound to an exchange (declared here, topic and durable, if missing)."""

    def __init__(
        self,
        connection: pika.BlockingConnection,
        exchange: str,
        binding: str = "#",
        arguments: dict[str, Any] | None = None,
    ) -> None:
        self.connection = connection
        self.channel = connection.channel()
        self.channel.exchange_declare(exchange, "topic", durable=True)
        self.queue = self.channel.queue_declare("", exclusive=True, arguments=arguments).method.queue
        self.channel.queue_bind(self.queue, exchange, binding)

    def count(self) -> int:
        """Messages waiting (exact once the publisher had the broker's confirm)."""
        return self.channel.queue_declare(self.queue, passive=True).method.message_count

    def take(self, count: int = 1, timeout: float = 5.0) -> list[Received]:
        """Exactly ``count`` messages (acknowledged), waiting up to ``timeout`` seconds for them."""
        got: list[Received] = []

        def more() -> bool:
            while len(got) < count:
                method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
                if method is None:
                    return False
                got.append(Received(method.routing_key, method.exchange, properties, body))
            return True

        wait_until(more, timeout=timeout, interval=0.01, describe=f"{count} message(s) on the tap queue")
        return got

    def close(self) -> None:
        try:
            if self.connection.is_open:
                self.connection.close()
        except pika.exceptions.AMQPError:
            pass
