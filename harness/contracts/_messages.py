"""Bloodbank message verification black-box: publish through the HTTP API, read back what the broker got.

:class:`MessageCapture` binds an exclusive queue to the main exchange (``#``) and collects every message with
its routing key, properties and headers. :class:`BloodbankProducer` gives the Pact verifier one producer
function per message interaction: it POSTs the interaction's example event to the Bloodbank under test and
returns the message the capture queue received, so the contract covers serialisation, the routing key and the
broker properties (content type, message id, delivery mode, signature headers), not a Python object.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pika

from harness.backends import wait_until
from harness.contracts._results import Mismatch
from harness.probes import BloodbankClient, sign
from holyfields.topology import Topology

#: the parts of an example event a producer sends; Bloodbank fills event_id, timestamp, version
PUBLISHED_FIELDS = ("event_type", "payload", "source", "correlation_ids", "agent_context")


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


@dataclass(frozen=True)
class CapturedMessage:
    """One message as the broker delivered it to the capture queue."""

    body: bytes
    exchange: str
    routing_key: str
    content_type: str | None
    message_id: str | None
    delivery_mode: int | None
    headers: dict[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> str | None:
        try:
            value = json.loads(self.body).get("event_id")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None

    def metadata(self) -> dict[str, Any]:
        """The message metadata the pact describes (absent properties stay absent, so they are reported)."""
        data: dict[str, Any] = {"routing_key": self.routing_key}
        if self.message_id is not None:
            data["message_id"] = self.message_id
        if self.delivery_mode is not None:
            data["delivery_mode"] = self.delivery_mode
        for name, value in self.headers.items():
            if isinstance(value, bytes | str | int | float | bool):
                data[name] = _text(value)
        return data

    def pact_message(self) -> dict[str, Any]:
        """The value a Pact message producer returns."""
        return {"contents": self.body, "metadata": self.metadata(), "content_type": self.content_type}


class MessageCapture:
    """Every message published to ``topology.exchange`` while open (an exclusive queue bound with ``#``)."""

    def __init__(self, amqp_url: str, topology: Topology, binding: str = "#") -> None:
        self._url = amqp_url
        self.topology = topology
        self.binding = binding
        self._messages: list[CapturedMessage] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="message-capture", daemon=True)

    def start(self) -> MessageCapture:
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            raise RuntimeError(
                f"cannot bind a capture queue to exchange {self.topology.exchange!r}: {self._error!r} "
                "(wrong --amqp-url, or the exchange is named differently: HARNESS_EXCHANGE)"
            )
        return self

    def _run(self) -> None:
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self._url))
            channel = connection.channel()
            channel.exchange_declare(self.topology.exchange, "topic", passive=True)
            queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            channel.queue_bind(queue, self.topology.exchange, self.binding)
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                method, props, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    connection.process_data_events(0.05)
                    continue
                message = CapturedMessage(
                    body=body,
                    exchange=method.exchange,
                    routing_key=method.routing_key,
                    content_type=props.content_type,
                    message_id=props.message_id,
                    delivery_mode=props.delivery_mode,
                    headers=dict(props.headers or {}),
                )
                with self._lock:
                    self._messages.append(message)
        finally:
            if connection.is_open:
                connection.close()

    def find(self, event_id: str) -> CapturedMessage | None:
        with self._lock:
            return next((m for m in self._messages if event_id in (m.message_id, m.event_id)), None)

    def wait_for(self, event_id: str, timeout: float = 10.0) -> CapturedMessage | None:
        """The message of ``event_id`` (by message id or body), or None after ``timeout`` seconds."""
        try:
            wait_until(lambda: self.find(event_id) is not None, timeout=timeout, interval=0.02)
        except TimeoutError:
            return None
        return self.find(event_id)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> MessageCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def message_examples(interactions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Description -> example event body of every asynchronous message interaction of a pact."""
    examples = {}
    for interaction in interactions:
        if interaction.get("type") == "Asynchronous/Messages":
            content = interaction["contents"]["content"]
            examples[interaction["description"]] = (
                json.loads(content) if isinstance(content, str) else content
            )
    return examples


class BloodbankProducer:
    """Message producer functions for ``Verifier.message_handler``: publish via HTTP, return the capture."""

    def __init__(
        self, client: BloodbankClient, capture: MessageCapture, examples: Mapping[str, dict[str, Any]]
    ) -> None:
        self.client = client
        self.capture = capture
        self.examples = dict(examples)
        self.captured: dict[str, CapturedMessage] = {}
        self.problems: dict[str, list[Mismatch]] = {}

    def handlers(self) -> dict[str, Callable[..., dict[str, Any]]]:
        return {description: self._producer(description) for description in self.examples}

    def _producer(self, description: str) -> Callable[..., dict[str, Any]]:
        def produce(name: str = description, metadata: Any = None) -> dict[str, Any]:
            return self.produce(description)

        return produce

    def produce(self, description: str) -> dict[str, Any]:
        """Publish the example; never raises (a failure becomes a problem and an empty message)."""
        example = self.examples[description]
        event = {key: example[key] for key in PUBLISHED_FIELDS if key in example}
        began = time.monotonic()
        try:
            response = self.client.publish(event)
        except Exception as exc:
            return self._failed(description, "202 Accepted", f"no answer: {exc!r}", "POST /events failed")
        accepted = getattr(self.client, "accepted", lambda r: r.status_code == 202)
        if not accepted(response):
            return self._failed(
                description,
                "202 Accepted",
                f"{response.status_code} {response.text[:200]}",
                "POST /events refused",
            )
        try:
            event_id = response.json()["event_id"]
        except (ValueError, KeyError, TypeError):
            return self._failed(
                description, "202 body with event_id", response.text[:200], "no event_id in 202"
            )
        message = self.capture.wait_for(event_id, timeout=10.0)
        if message is None:
            return self._failed(
                description,
                f"a message on exchange {self.capture.topology.exchange!r}",
                f"nothing within {time.monotonic() - began:.0f} s",
                f"Bloodbank answered 202 for {event_id} but never published it",
            )
        self.captured[description] = message
        return message.pact_message()

    def _failed(self, description: str, expected: str, actual: str, why: str) -> dict[str, Any]:
        self.problems.setdefault(description, []).append(Mismatch.of("publish", expected, actual, why))
        return {"contents": b"{}", "metadata": {}, "content_type": "application/json"}

    def consistency_problems(self) -> dict[str, list[Mismatch]]:
        """Messages whose routing key is not their event_type, or whose message id is not their event_id."""
        problems: dict[str, list[Mismatch]] = {}
        for description, message in self.captured.items():
            try:
                body = json.loads(message.body)
            except ValueError:
                continue  # reported by the pact (body mismatch)
            found = []
            if message.routing_key != body.get("event_type"):
                found.append(
                    Mismatch.of(
                        "metadata.routing_key", body.get("event_type"), message.routing_key, "= event_type"
                    )
                )
            if message.message_id != body.get("event_id"):
                found.append(
                    Mismatch.of("metadata.message_id", body.get("event_id"), message.message_id, "= event_id")
                )
            if found:
                problems[description] = found
        return problems

    def signature_problems(self, keyring: Mapping[str, str]) -> dict[str, list[Mismatch]]:
        """Messages whose ``x-signature`` is not the HMAC-SHA256 of their body under the named key."""
        problems: dict[str, list[Mismatch]] = {}
        for description, message in self.captured.items():
            signature = _text(message.headers.get("x-signature"))
            key_id = _text(message.headers.get("x-signature-key-id"))
            if signature is None:
                continue  # reported by the pact (metadata key missing)
            secret = keyring.get(str(key_id))
            if secret is None:
                why = f"key id {key_id!r} is not one of the run's keys ({', '.join(keyring) or 'none'})"
                problems[description] = [
                    Mismatch.of("metadata.x-signature-key-id", "a known key id", key_id, why)
                ]
            elif sign(message.body, secret) != signature:
                problems[description] = [
                    Mismatch.of(
                        "metadata.x-signature",
                        f"HMAC-SHA256 of the body with key {key_id!r}",
                        signature,
                        "signature does not match the body (tampered, re-serialised, or wrong key)",
                    )
                ]
        return problems
