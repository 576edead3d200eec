"""Fixtures shared by the scenario suites: raw injection (signed when the run signs) and a settle barrier."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from harness.config import Settings
from harness.probes import RawPublisher
from scenarios import RAW_ROUTING_KEY


class Injector:
    """Publishes raw bodies into the main exchange as another producer would, signed with the run's
    active key unless told otherwise; returns the message id (unique per message)."""

    def __init__(self, publisher: RawPublisher, signing_key: tuple[str, str] | None) -> None:
        self.publisher = publisher
        self.signing_key = signing_key

    def __call__(
        self,
        body: bytes,
        routing_key: str = RAW_ROUTING_KEY,
        *,
        signed: bool = True,
        message_id: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        import pika.exceptions

        message_id = message_id or str(uuid.uuid4())
        exchange = self.publisher.topology.exchange
        try:
            self.publisher.publish(
                body,
                routing_key,
                message_id=message_id,
                signing_key=self.signing_key if signed else None,
                headers=headers,
            )
        except pika.exceptions.UnroutableError:
            raise AssertionError(
                f"message to exchange {exchange!r} with routing key {routing_key!r} is unroutable: "
                f"no queue bound (is the Candystore queue {self.publisher.topology.queue!r} declared?)"
            ) from None
        except pika.exceptions.AMQPError as exc:
            raise AssertionError(f"cannot publish to exchange {exchange!r}: {exc!r}") from None
        return message_id


@pytest.fixture(scope="session")
def inject(raw_publisher: RawPublisher, harness_settings: Settings, candystore_url: str) -> Injector:
    """``inject(body, routing_key=..., signed=True, message_id=None, headers=None)`` -> message id.

    Needs the Candystore under test to be up (it declares its queue on the main exchange).
    """
    return Injector(raw_publisher, harness_settings.signing_key)


@pytest.fixture
def settle(inject: Injector, dlq_tap: Any, candystore: Any) -> Callable[[], None]:
    """``settle()``: a barrier after which the messages injected before it have been handled.

    It injects one valid event and one bad body behind them and waits until the first is stored and the
    second dead-lettered (the queue is FIFO), so "this was NOT dead-lettered" can be asserted without
    sleeping.
    """
    from holyfields import make_envelope

    def barrier() -> None:
        good = make_envelope(
            "n8n.workflow.completed.v1",
            source={"host": "harness", "type": "system", "app": "harness-barrier"},
        )
        inject(json.dumps(good).encode(), good["event_type"], message_id=good["event_id"])
        bad_id = inject(f"harness barrier {uuid.uuid4()}".encode())
        candystore.wait_stored(good["event_id"], timeout=30)
        dlq_tap.wait_for(bad_id, timeout=30)

    return barrier
