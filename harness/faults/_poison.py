"""A poison storm: invalid messages published straight to the main exchange over AMQP, fast and in bulk.

    flood = PoisonFlood(amqp_url, topology, total=10_000, seconds=5.0, signing_key=("k1", "secret"))
    flood.start()          # a thread; publishes with pipelined confirms, paced over ``seconds``
    flood.join()
    flood.expected         # message id -> the x-dlq-reason the consumer must give it

Every message has its own ``message_id`` (and, where the body is an envelope, the same ``event_id``), so each
dead letter can be matched to the reason it must carry. The kinds are interleaved round-robin:

- ``json_invalid``: a body that is not JSON;
- ``envelope_invalid``: a JSON object that misses required envelope fields and has a malformed timestamp;
- ``payload_invalid``: a complete envelope whose payload misses its required fields;
- ``signature_invalid`` (only with a signing key, i.e. when the consumer requires signatures): a valid
  envelope with a signature of other bytes.

With a signing key every other kind is signed correctly, so it reaches the check it is meant for.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiormq
import orjson
from pamqp.commands import Basic

from harness.probes import sign
from holyfields import make_envelope
from holyfields.topology import Topology

KINDS = ("json_invalid", "envelope_invalid", "payload_invalid", "signature_invalid")


def poison_message(kind: str, message_id: str) -> tuple[bytes, str]:
    """Body and routing key of one poison message of ``kind`` (see the module docstring)."""
    if kind == "json_invalid":
        return f'{{"event_id": "{message_id}", not json'.encode(), "harness.poison.json.v1"
    if kind == "envelope_invalid":
        body = {"event_id": message_id, "event_type": "github.pr.opened.v1", "timestamp": "yesterday"}
        return orjson.dumps(body), "github.pr.opened.v1"
    envelope = make_envelope("github.pr.opened.v1", event_id=message_id)
    if kind == "payload_invalid":
        envelope["payload"] = {"title": "no repo, no number"}
    elif kind != "signature_invalid":
        raise ValueError(f"unknown poison kind {kind!r}: choose one of {', '.join(KINDS)}")
    return orjson.dumps(envelope), envelope["event_type"]


class PoisonFlood(threading.Thread):
    """Publish ``total`` poison messages over about ``seconds``, in chunks with pipelined confirms, at a
    steady rate (a flood that fell behind does not burst to catch up, it takes longer).

    The messages are built up front (in the constructor), so that during the storm the flood costs only the
    publishing.
    """

    def __init__(
        self,
        amqp_url: str,
        topology: Topology,
        *,
        total: int = 10_000,
        seconds: float = 5.0,
        chunk: int = 50,
        signing_key: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(name="poison-flood", daemon=True)
        self.url = amqp_url
        self.topology = topology
        self.total = total
        self.seconds = seconds
        self.chunk = chunk
        self.signing_key = signing_key
        self.kinds = KINDS if signing_key is not None else KINDS[:-1]
        #: message id -> the dead-letter reason it must get
        self.expected: dict[str, str] = {}
        self.confirmed = 0
        self.failure: BaseException | None = None
        self.messages = [self._message(index) for index in range(total)]

    def _message(self, index: int) -> tuple[bytes, str, Basic.Properties]:
        kind = self.kinds[index % len(self.kinds)]
        message_id = str(uuid.uuid4())
        body, routing_key = poison_message(kind, message_id)
        headers: dict[str, Any] = {}
        if self.signing_key is not None:
            key_id, secret = self.signing_key
            signed = body + b" " if kind == "signature_invalid" else body
            headers = {"x-signature": sign(signed, secret), "x-signature-key-id": key_id}
        self.expected[message_id] = kind
        properties = Basic.Properties(
            content_type="application/json",
            delivery_mode=2,
            message_id=message_id,
            timestamp=datetime.now(UTC).replace(microsecond=0),
            headers=headers,
        )
        return body, routing_key, properties

    async def _flood(self) -> None:
        connection = await aiormq.connect(self.url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            interval = self.seconds * self.chunk / self.total
            due = time.monotonic()
            sent = 0
            while sent < self.total:
                n = min(self.chunk, self.total - sent)
                messages = self.messages[sent : sent + n]
                await asyncio.gather(
                    *(
                        channel.basic_publish(
                            body,
                            exchange=self.topology.exchange,
                            routing_key=key,
                            properties=props,
                            mandatory=True,
                            timeout=30,
                        )
                        for body, key, props in messages
                    )
                )
                sent += n
                self.confirmed = sent
                # a steady rate: behind schedule (a busy machine), carry on from now instead of bursting
                due = max(due + interval, time.monotonic())
                await asyncio.sleep(due - time.monotonic())  # pacing of the flood
        finally:
            await connection.close()

    def run(self) -> None:
        try:
            asyncio.run(self._flood())
        except BaseException as exc:  # reported by the test through .failure
            self.failure = exc
