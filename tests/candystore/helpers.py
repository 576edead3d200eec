"""Helpers of the Candystore suite: an isolated deployment (topology + database + service) and its probes."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pika
import psycopg

from harness.backends import Backend, free_port, wait_until
from harness.services import ServiceProcess, service_env
from holyfields import make_envelope
from holyfields.topology import Topology


def dumps(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class DeadLetter:
    """A message read back from the DLQ."""

    body: bytes
    routing_key: str
    properties: pika.BasicProperties

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.properties.headers or {})

    @property
    def reason(self) -> str | None:
        return self.headers.get("x-dlq-reason")


@dataclass
class Deployment:
    """One isolated Candystore: its topology, database, service process and helpers to drive it."""

    backend: Backend
    topology: Topology
    database_url: str
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    service: ServiceProcess | None = None
    _connection: pika.BlockingConnection | None = None
    _channel: Any = None

    # --- service --------------------------------------------------------------------------------------
    def start(self, **extra_env: str) -> ServiceProcess:
        port = free_port()
        env = service_env("candystore", self.backend, port)
        env.update(self.topology.env())
        env["CANDYSTORE_DATABASE_URL"] = self.database_url
        env.setdefault("CANDYSTORE_LOG_LEVEL", "info")
        self.service = ServiceProcess(
            name="candystore",
            env=env,
            port=port,
            log=self.log_dir / f"candystore-{port}.log",
            extra_env={**self.extra_env, **extra_env},
        )
        self.service.start()  # returns once /readyz answers 200
        return self.service

    def ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    @property
    def url(self) -> str:
        assert self.service is not None, "the service is not running"
        return self.service.url

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.url + path, params=params or None, timeout=10)

    # --- broker ---------------------------------------------------------------------------------------
    @property
    def channel(self) -> Any:
        if self._channel is None or not self._channel.is_open:
            if self._connection is None or not self._connection.is_open:
                self._connection = pika.BlockingConnection(pika.URLParameters(self.backend.amqp_url))
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
        return self._channel

    def publish(
        self,
        body: bytes | dict[str, Any],
        *,
        routing_key: str | None = None,
        headers: dict[str, Any] | None = None,
        message_id: str | None = None,
        **props: Any,
    ) -> bytes:
        """Publish like Bloodbank does (SPEC §2: persistent, message_id, content type, confirm, mandatory)."""
        if isinstance(body, dict):
            routing_key = routing_key or body.get("event_type")
            message_id = message_id or body.get("event_id")
            body = dumps(body)
        properties = pika.BasicProperties(
            delivery_mode=2,
            content_type="application/json",
            message_id=message_id,
            timestamp=int(time.time()),
            headers=headers,
            **props,
        )
        try:
            self.channel.basic_publish(
                self.topology.exchange, routing_key or "unknown.thing.v1", body, properties, mandatory=True
            )
        except (pika.exceptions.AMQPConnectionError, pika.exceptions.ChannelWrongStateError):
            self.reconnect()  # e.g. after a broker restart; the publish was not confirmed, so send again
            self.channel.basic_publish(
                self.topology.exchange, routing_key or "unknown.thing.v1", body, properties, mandatory=True
            )
        return body

    def reconnect(self) -> None:
        """Drop the test's own broker connection (the next use opens a new one)."""
        self.close()
        self._connection = self._channel = None

    def dead_letters(self, count: int, timeout: float = 20.0) -> list[DeadLetter]:
        """Wait until ``count`` messages were taken from the DLQ (acknowledged) and return them."""
        found: list[DeadLetter] = []

        def take() -> bool:
            while len(found) < count:
                method, props, body = self.channel.basic_get(self.topology.dlq, auto_ack=True)
                if method is None:
                    return False
                found.append(DeadLetter(body, method.routing_key, props))
            return True

        wait_until(take, timeout=timeout, describe=f"{count} dead letters in {self.topology.dlq}")
        return found

    def queue_depth(self, name: str | None = None) -> int:
        return self.channel.queue_declare(name or self.topology.queue, passive=True).method.message_count

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.close()
            except pika.exceptions.AMQPError:
                pass

    # --- database -------------------------------------------------------------------------------------
    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def stored_count(self, event_ids: list[str] | None = None) -> int:
        if event_ids is None:
            return self.sql("SELECT count(*) FROM events")[0][0]
        return self.sql("SELECT count(*) FROM events WHERE event_id = ANY(%s::uuid[])", [event_ids])[0][0]

    def wait_stored(self, event_ids: list[str], timeout: float = 20.0) -> None:
        wait_until(
            lambda: self.stored_count(event_ids) == len(set(event_ids)),
            timeout=timeout,
            describe=f"{len(set(event_ids))} events stored",
        )

    def wait_drained(self, timeout: float = 20.0) -> None:
        """Until the Candystore queue is empty and nothing is unacknowledged."""

        def drained() -> bool:
            return self.queue_depth() == 0 and _unacked(self) == 0

        wait_until(drained, timeout=timeout, describe="candystore queue drained")


def _unacked(deployment: Deployment) -> int:
    text = httpx.get(deployment.url + "/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("candystore_messages_in_flight "):
            return int(float(line.split()[1]))
    return 0


def envelope(event_type: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid envelope (harness factory) with a fresh id."""
    overrides.setdefault("event_id", str(uuid.uuid4()))
    return make_envelope(event_type, **overrides)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
