"""Black-box probes the suites use: HTTP clients of both services, a raw AMQP publisher, a dead-letter tap.

They talk only through HTTP and AMQP, with names from the run's :class:`~holyfields.topology.Topology`, so
every suite built on them runs unchanged against an external implementation.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pika

from harness.backends import wait_until
from harness.ledger import DeadLetter
from harness.profile import BloodbankSurface, CandystoreSurface
from holyfields.topology import Topology


def sign(body: bytes, secret: str) -> str:
    """The ``x-signature`` header value of SPEC §2: ``sha256=<hex HMAC-SHA256 of the exact body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(envelope: dict[str, Any]) -> bytes:
    """An envelope as the UTF-8 JSON body a producer sends."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def _send(client: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """``client.http.request``; a request that gets no answer goes to ``client.on_transport_error`` first."""
    try:
        return client.http.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        if client.on_transport_error is not None:
            try:
                request = exc.request
            except RuntimeError:  # httpx raised before the request was built
                request = None
            client.on_transport_error(exc, request)
        raise


class BloodbankClient:
    """HTTP client of a Bloodbank. A 429 is retried after ``Retry-After`` (bounded); others returned.

    Routes, accepted statuses and header names come from the target's profile (SPEC defaults without one).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retry_429_for: float = 30.0,
        surface: BloodbankSurface | None = None,
    ) -> None:
        self.surface = surface or BloodbankSurface()
        headers = {self.surface.api_key_header: api_key} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)
        self.retry_429_for = retry_429_for
        #: called with (exception, request) when a request gets no answer (see harness.watchdog)
        self.on_transport_error: Callable[[Exception, Any], None] | None = None

    def accepted(self, response: httpx.Response) -> bool:
        """True when ``response`` says "published" (a status the profile accepts; SPEC: 202)."""
        return response.status_code in self.surface.success

    @property
    def success_statuses(self) -> str:
        return " or ".join(str(s) for s in self.surface.success)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + self.retry_429_for
        while True:
            response = _send(self, method, path, **kwargs)
            if response.status_code != 429 or time.monotonic() >= deadline:
                return response
            time.sleep(min(float(response.headers.get("Retry-After", "1") or 1), 2.0))

    def publish(self, envelope: Any, *, headers: dict[str, str] | None = None) -> httpx.Response:
        """The publish route (``POST /events``) with a JSON body (a dict, or bytes/str sent as they are)."""
        route = self.surface.publish
        if isinstance(envelope, bytes | str):
            return self.request(
                route.method,
                route.path,
                content=envelope,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
        return self.request(route.method, route.path, json=envelope, headers=headers)

    def publish_batch(self, envelopes: list[Any]) -> httpx.Response:
        route = self.surface.batch
        return self.request(route.method, route.path, json=envelopes)

    def close(self) -> None:
        self.http.close()


class CandystoreClient:
    """HTTP client of a Candystore, with polling helpers (deadlines, never sleeps as synchronisation)."""

    def __init__(
        self, base_url: str, *, timeout: float = 30.0, surface: CandystoreSurface | None = None
    ) -> None:
        self.surface = surface or CandystoreSurface()
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
        #: called with (exception, request) when a request gets no answer (see harness.watchdog)
        self.on_transport_error: Callable[[Exception, Any], None] | None = None

    def get_event(self, event_id: str) -> httpx.Response:
        route = self.surface.by_id
        return _send(self, route.method, route.url(event_id=event_id))

    def list_events(self, **params: Any) -> httpx.Response:
        """The list route with SPEC-named query parameters (renamed to the target's names)."""
        route = self.surface.list
        return _send(self, route.method, route.path, params=self.surface.query(**params))

    def trace(self, event_id: str) -> httpx.Response:
        route = self.surface.trace
        return _send(self, route.method, route.url(event_id=event_id))

    def stream_url(self, **params: str) -> str:
        """The WebSocket URL of the stream route, SPEC-named query parameters renamed to the target's."""
        base = str(self.http.base_url).rstrip("/")
        base = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        query = self.surface.query(**params)
        return base + self.surface.stream.path + (("?" + urlencode(query)) if query else "")

    def wait_stored(self, event_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The stored event, once ``GET /events/{id}`` answers 200; AssertionError after ``timeout``."""
        found: dict[str, Any] = {}

        def stored() -> bool:
            response = self.get_event(event_id)
            if response.status_code == 200:
                found.update(response.json())
                return True
            return False

        try:
            wait_until(stored, timeout=timeout, interval=0.1, describe=f"event {event_id} stored")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: Candystore never returned it") from None
        return found

    def close(self) -> None:
        self.http.close()


class RawPublisher:
    """Publishes raw bodies to the main exchange (with confirms), as a producer other than Bloodbank would."""

    def __init__(self, amqp_url: str, topology: Topology) -> None:
        self.topology = topology
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def publish(
        self,
        body: bytes,
        routing_key: str,
        *,
        message_id: str | None = None,
        signing_key: tuple[str, str] | None = None,
        headers: dict[str, Any] | None = None,
        exchange: str | None = None,
        **properties: Any,
    ) -> None:
        """Publish ``body``; ``signing_key`` (id, secret) adds ``x-signature`` and ``x-signature-key-id``."""
        all_headers = dict(headers or {})
        if signing_key is not None:
            all_headers["x-signature"] = sign(body, signing_key[1])
            all_headers["x-signature-key-id"] = signing_key[0]
        props = pika.BasicProperties(
            content_type=properties.pop("content_type", "application/json"),
            delivery_mode=properties.pop("delivery_mode", 2),
            message_id=message_id or str(uuid.uuid4()),
            timestamp=properties.pop("timestamp", int(time.time())),
            headers=all_headers,
            **properties,
        )
        self.channel.basic_publish(
            exchange if exchange is not None else self.topology.exchange,
            routing_key,
            body,
            properties=props,
            mandatory=True,
        )

    def close(self) -> None:
        if self.connection.is_open:
            # a connection the broker dropped (a restart meanwhile) may still look open: nothing to close then
            with contextlib.suppress(pika.exceptions.AMQPError):
                self.connection.close()


class DeadLetterTap:
    """Sees every message dead-lettered while it is open, without consuming the DLQ itself.

    An exclusive queue is bound to the dead-letter exchange with ``#``; a background thread collects what
    arrives. Use :meth:`wait_for` to get the dead letter of one event.
    """

    def __init__(self, amqp_url: str, topology: Topology) -> None:
        self._url = amqp_url
        self.topology = topology
        self._letters: list[DeadLetter] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.gaps: list[str] = []  # connection losses survived (the tap reconnected)
        self._thread = threading.Thread(target=self._run, name="dlq-tap", daemon=True)

    def start(self) -> DeadLetterTap:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError(f"dead-letter tap not ready: {self._error!r}")
        if self._error is not None:
            raise RuntimeError(f"cannot tap dead-letter exchange {self.topology.dlx!r}: {self._error}")
        return self

    def _connect(self) -> tuple[Any, Any, str]:
        connection = pika.BlockingConnection(pika.URLParameters(self._url))
        channel = connection.channel()
        channel.exchange_declare(self.topology.dlx, "topic", passive=True)
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, self.topology.dlx, "#")
        return connection, channel, queue

    def _run(self) -> None:
        try:
            connection, channel, queue = self._connect()
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        while not self._stop.is_set():
            try:
                method, props, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    connection.process_data_events(0.05)
                    continue
            except pika.exceptions.AMQPError as exc:
                # The broker went away (a fault run restarts it): reconnect and tap again. Letters that
                # arrive while no tap queue exists stay in the durable DLQ (see drain_dead_letters).
                self.gaps.append(repr(exc))
                connection, channel, queue = self._reconnect()
                if connection is None:
                    return
                continue
            with self._lock:
                self._letters.append(DeadLetter.from_message(method, props, body))
        if connection.is_open:
            connection.close()

    def _reconnect(self) -> tuple[Any, Any, str]:
        while not self._stop.is_set():
            try:
                return self._connect()
            except pika.exceptions.AMQPError:
                self._stop.wait(0.5)  # the broker is still down: try again shortly
        return None, None, ""

    @property
    def letters(self) -> list[DeadLetter]:
        with self._lock:
            return list(self._letters)

    def wait_for(self, match: str | Callable[[DeadLetter], bool], timeout: float = 15.0) -> DeadLetter:
        """The first dead letter whose event id (or message id) is ``match``, or that ``match`` accepts."""

        def accepts(letter: DeadLetter) -> bool:
            if callable(match):
                return match(letter)
            return match in (letter.event_id, letter.message_id)

        found: list[DeadLetter] = []

        def arrived() -> bool:
            found.extend(letter for letter in self.letters if accepts(letter))
            return bool(found)

        try:
            wait_until(arrived, timeout=timeout, interval=0.05, describe="dead letter")
        except TimeoutError:
            raise AssertionError(
                f"no dead letter for {match if isinstance(match, str) else 'the condition'} "
                f"within {timeout:.0f} s "
                f"on {self.topology.dlx!r} (failed messages acknowledged and lost, or no DLQ?)"
            ) from None
        return found[0]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> DeadLetterTap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
