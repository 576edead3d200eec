"""Operating the dead-letter queue: list, show and replay dead letters without ever losing one (SPEC §2, §7).

Reading never consumes: :func:`list_dead_letters` and :func:`find_dead_letter` take the messages with
``basic.get`` *without* acknowledging them and give them back when their channel closes (RabbitMQ puts them
back at their place in the queue). Only the messages present when a scan starts are looked at, so a dead
letter that arrives meanwhile (for instance a replayed one that failed again) is not seen twice.

:func:`replay` republishes each chosen dead letter to the main exchange, with its original body (the same
bytes) and properties, under its original routing key, and acknowledges it in the DLQ only after the broker
confirmed the republish (publisher confirms, ``mandatory``). A crash at any point leaves every message in the
DLQ, or republished, or both (then the consumer's idempotence on ``event_id`` absorbs the duplicate); never
neither. The headers the dead-lettering added (``x-dlq-*``, ``x-original-*``, ``x-death``...) are dropped
and ``x-dlq-replays`` counts the replays, so a message that keeps failing is easy to spot.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions

from harness._broker_cli import add_broker_options, broker_settings
from harness.ledger import DeadLetter
from holyfields.topology import Topology

__all__ = [
    "DLQ_HEADERS",
    "Letter",
    "ReplayResult",
    "add_arguments",
    "find_dead_letter",
    "list_dead_letters",
    "replay",
    "replay_properties",
    "run",
]

#: headers added by dead-lettering (consumer or broker); a replay drops them
DLQ_HEADERS = frozenset(
    {
        "x-dlq-reason",
        "x-dlq-detail",
        "x-dlq-consumer",
        "x-original-exchange",
        "x-original-routing-key",
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
REPLAYS_HEADER = "x-dlq-replays"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Letter:
    """One dead letter as the DLQ holds it (body and properties untouched)."""

    letter: DeadLetter
    properties: Any  # pika.BasicProperties
    delivery_tag: int = 0

    @property
    def id(self) -> str:
        """The event id (from the body), else the AMQP message id, else ``"-"``."""
        return self.letter.event_id or self.letter.message_id or "-"

    @property
    def reason(self) -> str:
        return self.letter.reason

    @property
    def detail(self) -> str:
        return self.letter.detail

    @property
    def headers(self) -> dict[str, Any]:
        return self.letter.headers

    @property
    def body(self) -> bytes:
        return self.letter.body

    @property
    def event_type(self) -> str | None:
        try:
            value = json.loads(self.body)
        except ValueError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("event_type"), str):
            return value["event_type"]
        return None

    @property
    def routing_key(self) -> str | None:
        """Where the message was first published: ``x-original-routing-key`` (the consumer's record), the
        broker's ``x-death`` (unless it came through the default exchange, where the key was a queue name),
        else its event type (SPEC §2: routing key = event type)."""
        original = self.headers.get("x-original-routing-key")
        if original:
            return _text(original)
        for death in self.headers.get("x-death") or []:
            keys = death.get("routing-keys") or []
            if keys and _text(death.get("exchange") or ""):
                return _text(keys[0])
        return self.event_type

    @property
    def dead_lettered_at(self) -> float | None:
        """Seconds since the epoch: the broker's ``x-death`` time, else the message's ``timestamp``."""
        for death in self.headers.get("x-death") or []:
            when = death.get("time")
            if isinstance(when, datetime):
                return when.replace(tzinfo=when.tzinfo or UTC).timestamp()
            if isinstance(when, int | float):
                return float(when)
        stamp = getattr(self.properties, "timestamp", None)
        return float(stamp) if stamp else None

    def age(self, now: float | None = None) -> float | None:
        at = self.dead_lettered_at
        return None if at is None else max(0.0, (now or time.time()) - at)

    def matches(
        self, reason: str | None = None, event_type: str | None = None, ids: set[str] | None = None
    ) -> bool:
        if reason and self.reason != reason:
            return False
        if event_type and self.event_type != event_type:
            return False
        return not ids or bool({self.letter.event_id, self.letter.message_id} & ids)

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        """JSON-ready summary (``harness dlq list --json``)."""
        age = self.age(now)
        return {
            "id": self.id,
            "event_id": self.letter.event_id,
            "message_id": self.letter.message_id,
            "event_type": self.event_type,
            "reason": self.reason,
            "detail": self.detail,
            "routing_key": self.routing_key,
            "age_seconds": None if age is None else round(age, 1),
            "replays": int(self.headers.get(REPLAYS_HEADER) or 0),
        }


def _open(amqp_url: str) -> Any:
    try:
        return pika.BlockingConnection(pika.URLParameters(amqp_url))
    except pika.exceptions.AMQPError as exc:
        host = amqp_url.split("@")[-1]
        raise ValueError(f"cannot connect to the broker at {host}: {exc!r}") from None


def _depth(connection: Any, queue: str) -> int:
    channel = connection.channel()
    try:
        return channel.queue_declare(queue, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            raise ValueError(
                f"no queue {queue!r} on this broker: give the DLQ's name in the profile's [broker] dlq "
                "(--profile) or HARNESS_DLQ"
            ) from None
        raise
    finally:
        if channel.is_open:
            channel.close()


@contextmanager
def _scan(connection: Any, queue: str) -> Iterator[tuple[Any, Iterator[Letter]]]:
    """(channel, letters): every message in ``queue`` now, unacknowledged; the rest goes back on close."""
    depth = _depth(connection, queue)
    channel = connection.channel()

    def letters() -> Iterator[Letter]:
        for _ in range(depth):
            method, props, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                return
            yield Letter(DeadLetter.from_message(method, props, body), props, method.delivery_tag)

    try:
        yield channel, letters()
    finally:
        if channel.is_open:
            channel.close()  # unacknowledged messages return to the queue


def list_dead_letters(
    amqp_url: str,
    topology: Topology,
    *,
    reason: str | None = None,
    event_type: str | None = None,
    limit: int = 100,
) -> list[Letter]:
    """The first ``limit`` dead letters matching the filters, oldest first; the DLQ is left as it was."""
    connection = _open(amqp_url)
    try:
        found: list[Letter] = []
        with _scan(connection, topology.dlq) as (_channel, letters):
            for letter in letters:
                if letter.matches(reason, event_type):
                    found.append(letter)
                    if len(found) >= limit:
                        break
        return found
    finally:
        if connection.is_open:
            connection.close()


def find_dead_letter(amqp_url: str, topology: Topology, letter_id: str) -> Letter | None:
    """The dead letter whose event id or message id is ``letter_id``; the DLQ is left as it was."""
    connection = _open(amqp_url)
    try:
        with _scan(connection, topology.dlq) as (_channel, letters):
            for letter in letters:
                if letter.matches(ids={letter_id}):
                    return letter
        return None
    finally:
        if connection.is_open:
            connection.close()


def replay_properties(letter: Letter) -> Any:
    """The original properties for the republish: dead-lettering headers dropped, the replay counted."""
    props = letter.properties
    headers = {k: v for k, v in (props.headers or {}).items() if k not in DLQ_HEADERS}
    headers[REPLAYS_HEADER] = int((props.headers or {}).get(REPLAYS_HEADER) or 0) + 1
    return pika.BasicProperties(
        content_type=props.content_type,
        content_encoding=props.content_encoding,
        headers=headers,
        delivery_mode=props.delivery_mode or 2,
        priority=props.priority,
        correlation_id=props.correlation_id,
        reply_to=props.reply_to,
        message_id=props.message_id,
        timestamp=props.timestamp,
        type=props.type,
        app_id=props.app_id,
    )


@dataclass
class ReplayResult:
    """What a replay did: ids replayed (confirmed, then removed from the DLQ), kept, and why."""

    replayed: list[str] = field(default_factory=list)
    #: id -> why it stayed in the DLQ (unroutable, refused by the broker, no routing key)
    failed: dict[str, str] = field(default_factory=dict)
    matched: int = 0
    scanned: int = 0
    dry_run: bool = False
    #: the broker connection broke mid-way: what is not in ``replayed`` is still in the DLQ
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "replayed": len(self.replayed),
            "failed": self.failed,
            "matched": self.matched,
            "scanned": self.scanned,
            "dry_run": self.dry_run,
        }


def replay(
    amqp_url: str,
    topology: Topology,
    *,
    reason: str | None = None,
    ids: set[str] | None = None,
    event_type: str | None = None,
    dry_run: bool = False,
    rate: float | None = None,
    on_letter: Callable[[Letter, str], None] | None = None,
    on_confirmed: Callable[[Letter], None] | None = None,
) -> ReplayResult:
    """Republish the matching dead letters to the main exchange; each leaves the DLQ after its confirm.

    ``rate`` caps republishes per second (a consumer just fixed should not be flooded); ``on_letter`` is
    called with each matching letter and what happened (``"replayed"``, ``"would replay"``, or why not);
    ``on_confirmed`` with each letter whose republish the broker confirmed, before it is removed from the
    DLQ (the moment a crash leaves it in both places).
    """
    result = ReplayResult(dry_run=dry_run)
    connection = _open(amqp_url)
    try:
        publisher = connection.channel()
        publisher.confirm_delivery()
        pace = _Pace(rate)
        with _scan(connection, topology.dlq) as (channel, letters):
            for letter in letters:
                result.scanned += 1
                if not letter.matches(reason, event_type, ids):
                    continue  # stays unacknowledged: back in the DLQ when the scan closes
                result.matched += 1
                routing_key = letter.routing_key
                if routing_key is None:
                    result.failed[letter.id] = "no routing key: neither x-original-routing-key nor event_type"
                elif dry_run:
                    _tell(on_letter, letter, "would replay")
                else:
                    pace.wait()
                    problem = _republish(publisher, channel, topology, letter, routing_key, on_confirmed)
                    if problem is None:
                        result.replayed.append(letter.id)
                        _tell(on_letter, letter, "replayed")
                    else:
                        result.failed[letter.id] = problem
                if letter.id in result.failed:
                    _tell(on_letter, letter, result.failed[letter.id])
    except pika.exceptions.AMQPError as exc:
        # unacknowledged letters return to the DLQ when the connection is gone: nothing is lost
        result.error = f"the broker connection broke ({exc!r}); every letter not replayed is still in the DLQ"
    finally:
        if connection.is_open:
            connection.close()
    return result


class _Pace:
    """At most ``rate`` republishes per second (None: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if self.interval:
            time.sleep(max(0.0, self.next_at - time.monotonic()))
            self.next_at = max(self.next_at + self.interval, time.monotonic())


def _republish(
    publisher: Any,
    channel: Any,
    topology: Topology,
    letter: Letter,
    routing_key: str,
    on_confirmed: Callable[[Letter], None] | None,
) -> str | None:
    """Publish (confirmed, mandatory), then ack the letter in the DLQ; None when done, else why not."""
    try:
        publisher.basic_publish(
            topology.exchange, routing_key, letter.body, replay_properties(letter), mandatory=True
        )
    except pika.exceptions.UnroutableError:
        return f"unroutable on {topology.exchange!r} with key {routing_key!r}"
    except pika.exceptions.NackError:
        return "the broker refused the republish (nack)"
    if on_confirmed is not None:
        on_confirmed(letter)
    channel.basic_ack(letter.delivery_tag)  # only now: the republish is confirmed
    return None


def _tell(callback: Callable[[Letter, str], None] | None, letter: Letter, what: str) -> None:
    if callback is not None:
        callback(letter, what)


# ------------------------------------------------------------------------------------------ command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Fill the ``harness dlq`` parser with ``list``, ``show`` and ``replay``."""
    actions = parser.add_subparsers(dest="dlq_action", required=True, metavar="{list,show,replay}")
    listing = actions.add_parser(
        "list", help="the dead letters (reason, detail, event id, type, age); the DLQ is left as it was"
    )
    show = actions.add_parser("show", help="one dead letter: properties, headers and body")
    replaying = actions.add_parser(
        "replay",
        help="republish dead letters to the main exchange; each leaves the DLQ after the broker's confirm",
    )
    for child in (listing, show, replaying):
        add_broker_options(child)
    for child in (listing, replaying):
        child.add_argument("--reason", help="only this x-dlq-reason (x-death:expired etc. for the broker's)")
        child.add_argument("--event-type", help="only this event type")
    listing.add_argument("--limit", type=int, default=100, help="at most N (default 100)")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    show.add_argument("id", help="event id (or AMQP message id) of the dead letter")
    replaying.add_argument("--ids", nargs="+", metavar="ID", help="only these event ids (or message ids)")
    replaying.add_argument(
        "--dry-run", action="store_true", help="say what would be replayed, change nothing"
    )
    replaying.add_argument("--rate", type=float, default=None, help="at most N republishes per second")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


_SHOWN_PROPERTIES = (
    "content_type",
    "content_encoding",
    "delivery_mode",
    "message_id",
    "timestamp",
    "correlation_id",
    "type",
    "app_id",
)


def _list(args: argparse.Namespace, url: str, topology: Topology) -> int:
    if args.limit < 1:
        print("harness dlq list: --limit must be at least 1", file=sys.stderr)
        return 2
    letters = list_dead_letters(
        url, topology, reason=args.reason, event_type=args.event_type, limit=args.limit
    )
    now = time.time()
    if args.json:
        print(json.dumps([letter.as_dict(now) for letter in letters], indent=2, ensure_ascii=False))
        return 0
    print(f"{'ID':36}  {'TYPE':38}  {'REASON':20}  {'AGE':>6}  DETAIL")
    for letter in letters:
        row = letter.as_dict(now)
        detail = " ".join(row["detail"].split())[:80]
        print(
            f"{row['id']:36}  {row['event_type'] or '-':38}  {row['reason']:20}  "
            f"{_age(row['age_seconds']):>6}  {detail}"
        )
    print(f"harness dlq list: {len(letters)} dead letter(s) in {topology.dlq!r} shown")
    return 0


def _show(args: argparse.Namespace, url: str, topology: Topology) -> int:
    letter = find_dead_letter(url, topology, args.id)
    if letter is None:
        print(
            f"harness dlq show: no dead letter with event id or message id {args.id!r} in {topology.dlq!r}",
            file=sys.stderr,
        )
        return 1
    props = letter.properties
    shown = {name: getattr(props, name) for name in _SHOWN_PROPERTIES if getattr(props, name) is not None}
    summary = {**letter.as_dict(), "properties": shown, "headers": letter.headers}
    print(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    try:
        body = json.dumps(json.loads(letter.body), indent=2, ensure_ascii=False)
    except ValueError:
        body = repr(letter.body)
    print(f"body ({len(letter.body)} bytes):\n{body}")
    return 0


def _replay(args: argparse.Namespace, url: str, topology: Topology) -> int:
    def progress(letter: Letter, what: str) -> None:
        print(f"{what}: {letter.id} ({letter.reason}) -> {letter.routing_key}", flush=True)

    result = replay(
        url,
        topology,
        reason=args.reason,
        event_type=args.event_type,
        ids=set(args.ids or ()),
        dry_run=args.dry_run,
        rate=args.rate,
        on_letter=progress,
    )
    verb = "would replay" if result.dry_run else "replayed"
    count = result.matched - len(result.failed) if result.dry_run else len(result.replayed)
    print(
        f"harness dlq replay: {verb} {count} of {result.matched} matching ({result.scanned} scanned) to "
        f"{topology.exchange!r}; {len(result.failed)} kept in {topology.dlq!r}"
    )
    if result.error:
        print(f"harness dlq replay: stopped: {result.error}", file=sys.stderr)
    return 1 if result.failed or result.error else 0


def run(args: argparse.Namespace) -> int:
    """``harness dlq list|show|replay``: 0 done, 1 not found / some kept, 2 bad input or no broker."""
    settings = broker_settings(args, f"dlq {args.dlq_action}")
    if settings is None:
        return 2
    action = {"list": _list, "show": _show, "replay": _replay}[args.dlq_action]
    try:
        return action(args, settings.amqp_url, settings.topology)
    except ValueError as exc:
        print(f"harness dlq {args.dlq_action}: {exc}", file=sys.stderr)
        return 2
    except pika.exceptions.AMQPError as exc:  # the connection broke while reading: nothing was consumed
        print(f"harness dlq {args.dlq_action}: the broker connection broke: {exc!r}", file=sys.stderr)
        return 2
