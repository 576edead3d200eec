"""``python -m harness.mutants.candystore DEFECT``: the reference Candystore with one consumer defect.

The reference service runs as it is; before it starts, one behaviour of its consumer is replaced from the
outside (the defect switches live here, never in ``reference_impl``):

- ``no-validation``: an envelope is stored as soon as it is JSON with an event_id (no schema validation);
- ``no-signatures``: signatures are never checked;
- ``no-dlq``: no dead-letter exchange is declared and a failed message is acknowledged and dropped;
- ``no-dlq-reason``: dead letters are published without the headers that say why;
- ``no-spans``: stored events get no store span (the publish span stays without a child).
"""

from __future__ import annotations

import json
import sys
from typing import Any

DEFECTS = ("no-validation", "no-signatures", "no-dlq", "no-dlq-reason", "no-spans")


def _no_validation(consumer_module: Any) -> None:
    original = consumer_module.classify

    def classify(d: Any, settings: Any, schemas: Any) -> None:
        original(d, settings, schemas)  # signatures and JSON are still checked; the schema verdict is ignored
        if d.reason in ("json_invalid", "signature_invalid") or d.envelope is not None:
            return
        try:
            envelope = json.loads(d.body)
        except ValueError:
            return
        if isinstance(envelope, dict) and isinstance(envelope.get("event_id"), str):
            d.reason, d.detail = None, ""
            d.envelope = envelope
            d.event_id = envelope["event_id"].lower()

    consumer_module.classify = classify


def _no_signatures(consumer_module: Any) -> None:
    from reference_impl.candystore import classify

    classify.verify_signature = lambda *args, **kwargs: None


def _no_dlq(consumer_module: Any) -> None:
    import aio_pika

    async def declare(self: Any) -> None:
        topo = self.topology
        self._connection = conn = await aio_pika.connect_robust(
            self.settings.amqp_url, reconnect_interval=self.settings.backoff_max, timeout=10
        )
        channel = await conn.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self.settings.prefetch)
        exchange = await channel.declare_exchange(topo.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(topo.queue, durable=True)
        await queue.bind(exchange, "#")
        self._dlx = None
        self._consumer_tag = await queue.consume(self._deliver)
        self._channel, self._queue = channel, queue

    async def dead_letter(self: Any, d: Any) -> bool:
        return True  # nothing published: the caller acknowledges it as dead-lettered, so it is lost

    consumer_module.Consumer._declare = declare
    consumer_module.Consumer._dead_letter = dead_letter


def _no_dlq_reason(consumer_module: Any) -> None:
    original = consumer_module.dead_letter_message

    def bare(message: Any, reason: str, detail: str) -> Any:
        letter = original(message, reason, detail)
        for name in ("x-dlq-reason", "x-dlq-detail"):
            letter.headers.pop(name, None)
        return letter

    consumer_module.dead_letter_message = bare


def _no_spans(consumer_module: Any) -> None:
    original = consumer_module.Consumer.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.spans = None

    consumer_module.Consumer.__init__ = init


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in DEFECTS:
        print(f"usage: python -m harness.mutants.candystore {{{','.join(DEFECTS)}}}", file=sys.stderr)
        return 2
    from reference_impl.candystore import consumer
    from reference_impl.candystore.__main__ import main as run

    switches = {
        "no-validation": _no_validation,
        "no-signatures": _no_signatures,
        "no-dlq": _no_dlq,
        "no-dlq-reason": _no_dlq_reason,
        "no-spans": _no_spans,
    }
    switches[args[0]](consumer)
    return run([])


if __name__ == "__main__":
    sys.exit(main())
