"""Locust users of a load run: the publishers, readers and stream watchers of a realistic mix.

Each kind reports to locust's statistics under its own name:

* ``HTTP publish`` — one envelope per ``POST /events`` (the target profile's publish route);
* ``HTTP batch`` — :data:`~harness.loadplan.BATCH_SIZE` envelopes per ``POST /events/batch``;
* ``AMQP publish (confirmed)`` — straight to the exchange with publisher confirms (pika; the time is the
  confirm latency);
* ``read: list by session`` / ``read: get by id`` / ``read: trace`` — Candybar-like readers of Candystore;
* ``stream: publish → seen`` — WebSocket watchers of the stream; the time is publish → seen on the stream.

Publishers and readers follow an open model: :class:`~load.pacing.ArrivalPacer` starts iterations at the
target rate whatever the answers take; late and dropped iterations are counted.

Usable on its own: ``locust -f load/locustfile.py --host http://127.0.0.1:8682`` with ``HARNESS_API_KEY``,
``HARNESS_LOAD_RATE`` (total publish events/s, default 50), ``HARNESS_LOAD_MIX`` (default ``http=100``) and,
for the other kinds, ``HARNESS_CANDYSTORE_URL``, ``HARNESS_AMQP_URL``, ``HARNESS_SIGNING_KEYS``,
``HARNESS_PROFILE``. ``harness load`` (load/runner.py) drives the same classes and also judges the run.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import Event
from locust import FastHttpUser, User, constant, events, task
from locust.exception import StopUser

from harness.loadplan import BATCH_SIZE, Mix, parse_mix
from harness.probes import encode, sign
from harness.profile import Profile
from holyfields import make_envelope, registry
from holyfields.topology import Topology
from load.pacing import ArrivalPacer

#: users of one kind at most (greenlets are cheap; each HTTP user holds its own connection)
MAX_USERS_PER_KIND = 400
#: share of published events that name an earlier accepted event as their parent
CHILD_SHARE = 0.2


@dataclass
class RunConfig:
    """What the users need to know about the target and the traffic."""

    bloodbank_url: str = ""
    candystore_url: str = ""
    amqp_url: str = ""
    api_key: str | None = None
    signing_keys: str = ""
    rate: float = 50.0
    mix: Mix = field(default_factory=lambda: parse_mix("http=100"))
    stream_watchers: int = 0
    profile: Profile = field(default_factory=Profile)
    topology: Topology = field(default_factory=Topology)
    #: True: pacers start with the test (standalone locust); False: the runner starts them
    autostart: bool = True

    @classmethod
    def from_env(cls, host: str | None = None) -> RunConfig:
        env = os.environ
        text = env.get("HARNESS_LOAD_RATE", "50")
        try:
            rate = float(text)
        except ValueError:
            rate = 0.0
        if rate <= 0:
            raise ValueError(f"HARNESS_LOAD_RATE must be a positive number of events/s, not {text!r}")
        profile = Profile.load(env["HARNESS_PROFILE"]) if env.get("HARNESS_PROFILE") else Profile()
        return cls(
            bloodbank_url=host or env.get("HARNESS_BLOODBANK_URL", ""),
            candystore_url=env.get("HARNESS_CANDYSTORE_URL", ""),
            amqp_url=env.get("HARNESS_AMQP_URL", ""),
            api_key=env.get("HARNESS_API_KEY") or None,
            signing_keys=env.get("HARNESS_SIGNING_KEYS", ""),
            rate=rate,
            mix=parse_mix(env.get("HARNESS_LOAD_MIX", "http=100")),
            stream_watchers=int(env.get("HARNESS_LOAD_STREAM_WATCHERS", "0")),
            profile=profile,
            topology=Topology.from_env(env, base=profile.broker),
        )

    @property
    def signing_key(self) -> tuple[str, str] | None:
        for item in self.signing_keys.split(","):
            kid, sep, secret = item.partition(":")
            if sep and kid.strip() and secret.strip():
                return kid.strip(), secret.strip()
        return None


class RunState:
    """Everything the users observed, for the runner's measurements after the run."""

    def __init__(self) -> None:
        self.run_id = str(uuid.uuid4())
        self.config = RunConfig()
        self.pacers: dict[str, ArrivalPacer] = {}
        self.started = Event()
        self.finished = Event()
        #: event_id -> wall time of the send, kind; every attempt
        self.sent: dict[str, tuple[float, str]] = {}
        #: event_id -> True when the producer was told it was published
        self.accepted: dict[str, bool] = {}
        #: child event_id -> the parent ids it was sent with
        self.parents: dict[str, list[str]] = {}
        #: event_id -> wall time first seen on the stream
        self.seen_on_stream: dict[str, float] = {}
        #: answers by kind and status (HTTP code, per-item batch status, "confirmed"/"nacked"/...)
        self.statuses: dict[str, dict[str, int]] = {}
        self.invalid_rejections = 0
        self.in_flight = 0
        self.watchers_connected = 0
        self.watch_sockets: list[Any] = []
        self._accepted_ids: list[str] = []

    def configure(self, config: RunConfig) -> None:
        self.config = config
        self.pacers = {
            kind: ArrivalPacer(rate)
            for kind, rate in config.mix.iteration_rates(config.rate).items()
            if rate > 0
        }

    def start(self, duration: float | None = None, at: float | None = None) -> None:
        """Open every pacer's schedule at ``at`` (monotonic clock; default now)."""
        at = time.monotonic() if at is None else at
        for pacer in self.pacers.values():
            pacer.start(duration=duration, at=at)
        self.started.set()

    def stop(self) -> None:
        for pacer in self.pacers.values():
            pacer.stop()

    def finish(self) -> None:
        """Release the idle users and close the stream watchers' connections."""
        self.finished.set()
        for ws in self.watch_sockets:
            ws.close()

    def records(self) -> dict[str, Any]:
        """What this process observed, JSON-able (a distributed run merges those of its workers)."""
        return {
            "sent": {e: list(v) for e, v in self.sent.items()},
            "accepted": [e for e, ok in self.accepted.items() if ok],
            "parents": self.parents,
            "seen": self.seen_on_stream,
            "statuses": self.statuses,
            "invalid": self.invalid_rejections,
            "schedule": {kind: pacer.stats.as_dict() for kind, pacer in self.pacers.items()},
            "in_flight": self.in_flight,
        }

    def count(self, kind: str, status: str, n: int = 1) -> None:
        by_kind = self.statuses.setdefault(kind, {})
        by_kind[status] = by_kind.get(status, 0) + n

    def envelope(self, kind: str) -> dict[str, Any]:
        """A valid envelope of a random type, tagged with this run's session; some have a parent."""
        envelope = make_envelope(
            random.choice(_TYPES),
            agent_context={"type": "custom", "name": "harness-load", "session_id": self.run_id},
        )
        if self._accepted_ids and random.random() < CHILD_SHARE:
            parent = random.choice(self._accepted_ids[-1000:])
            envelope["correlation_ids"] = [parent]
            self.parents[envelope["event_id"]] = [parent]
        self.sent[envelope["event_id"]] = (time.time(), kind)
        self.accepted.setdefault(envelope["event_id"], False)
        return envelope

    def published(self, event_id: str) -> None:
        self.accepted[event_id] = True
        self._accepted_ids.append(event_id)

    def accepted_older_than(self, seconds: float) -> str | None:
        """A random accepted event sent at least ``seconds`` ago (a reader's target), or None."""
        cutoff = time.time() - seconds
        candidates = [e for e in self._accepted_ids[-2000:] if self.sent[e][0] <= cutoff]
        return random.choice(candidates) if candidates else None


STATE = RunState()
_TYPES = registry().event_types


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kwargs: Any) -> None:
    if STATE.config.autostart:  # standalone `locust -f`: configure from the environment, start at once
        STATE.configure(RunConfig.from_env(environment.host))
        _apply_hosts(STATE.config)
        STATE.start()


def _apply_hosts(config: RunConfig) -> None:
    for cls in (HttpPublisher, BatchPublisher):
        cls.host = config.bloodbank_url or cls.host
    Reader.host = config.candystore_url or Reader.host


class _Paced:
    """The open-model loop: wait for this kind's next slot, then run one iteration."""

    kind = ""

    def next_slot(self) -> None:
        STATE.started.wait()
        pacer = STATE.pacers.get(self.kind)
        slot = pacer.take() if pacer is not None else None
        if slot is None:  # the schedule is over (or this kind has no share): idle until the run ends
            STATE.finished.wait()
            raise StopUser()
        delay = slot - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)


class _HttpProducer(_Paced, FastHttpUser):
    """Headers and routes of the HTTP publishers."""

    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        surface = STATE.config.profile.bloodbank
        self.route, self.success = surface.publish, surface.success
        key = STATE.config.api_key
        self.headers = {surface.api_key_header: key, "Content-Type": "application/json"} if key else {}
        self.headers.setdefault("Content-Type", "application/json")


class HttpPublisher(_HttpProducer):
    """One envelope per request to the profile's publish route."""

    kind = "http"
    fixed_count = 0  # weighted in a plain locust run; harness load sets the counts (user_classes)

    @task
    def publish(self) -> None:
        self.next_slot()
        envelope = STATE.envelope(self.kind)
        STATE.in_flight += 1
        try:
            with self.client.request(
                self.route.method,
                self.route.url(),
                data=encode(envelope),
                headers=self.headers,
                catch_response=True,
                name="HTTP publish",
            ) as response:
                code = response.status_code
                STATE.count(self.kind, str(code))
                if code in self.success:
                    STATE.published(envelope["event_id"])
                    response.success()
                else:
                    STATE.invalid_rejections += code in (400, 422)
                    response.failure(f"{code}: {(response.text or '')[:200]}")
        finally:
            STATE.in_flight -= 1


class BatchPublisher(_HttpProducer):
    """:data:`~harness.loadplan.BATCH_SIZE` envelopes per request to the profile's batch route."""

    kind = "batch"
    fixed_count = 0

    @task
    def publish_batch(self) -> None:
        self.next_slot()
        batch = [STATE.envelope(self.kind) for _ in range(BATCH_SIZE)]
        route = STATE.config.profile.bloodbank.batch
        STATE.in_flight += 1
        try:
            with self.client.request(
                route.method,
                route.url(),
                data=json.dumps(batch).encode(),
                headers=self.headers,
                catch_response=True,
                name="HTTP batch",
            ) as response:
                code = response.status_code
                results = []
                try:
                    results = (response.json() or {}).get("results", []) if response.text else []
                except ValueError:
                    pass
                for item in results:
                    status = str(item.get("status"))
                    STATE.count(self.kind, status)
                    if status == "published" and item.get("event_id"):
                        STATE.published(item["event_id"])
                    STATE.invalid_rejections += status == "invalid"
                if not results:
                    STATE.count(self.kind, str(code), BATCH_SIZE)
                if code in self.success and len(results) == BATCH_SIZE:
                    response.success()
                else:
                    response.failure(f"{code}: {(response.text or '')[:200]}")
        finally:
            STATE.in_flight -= 1


class AmqpPublisher(_Paced, User):
    """Publishes straight to the exchange with publisher confirms; reports the confirm latency."""

    kind = "amqp"
    wait_time = constant(0)
    fixed_count = 0

    connection: Any = None

    def _connect(self) -> None:
        import pika

        self.connection = pika.BlockingConnection(pika.URLParameters(STATE.config.amqp_url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def on_start(self) -> None:
        if STATE.config.amqp_url:  # connected before the schedule opens (standalone: at the first slot)
            self._connect()

    def on_stop(self) -> None:
        if self.connection is not None and self.connection.is_open:
            self.connection.close()

    @task
    def publish(self) -> None:
        import pika

        self.next_slot()
        if self.connection is None or not self.connection.is_open:
            try:
                self._connect()
            except pika.exceptions.AMQPError as exc:  # the broker is away (a fault): this slot fails
                STATE.count(self.kind, "not connected")
                self._report(0.0, 0, exc)
                return
        envelope = STATE.envelope(self.kind)
        body = encode(envelope)
        headers: dict[str, Any] = {}
        key = STATE.config.signing_key
        if key:
            surface = STATE.config.profile.bloodbank
            headers = {surface.signature_header: sign(body, key[1]), surface.signature_key_header: key[0]}
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=envelope["event_id"],
            timestamp=int(time.time()),
            headers=headers,
        )
        started = time.perf_counter()
        error: Exception | None = None
        STATE.in_flight += 1
        try:
            self.channel.basic_publish(
                STATE.config.topology.exchange,
                envelope["event_type"],
                body,
                properties=properties,
                mandatory=True,
            )
            STATE.count(self.kind, "confirmed")
            STATE.published(envelope["event_id"])
        except pika.exceptions.UnroutableError as exc:
            error = exc
            STATE.count(self.kind, "unroutable")
        except pika.exceptions.NackError as exc:
            error = exc
            STATE.count(self.kind, "nacked")
        except pika.exceptions.AMQPError as exc:
            error = exc
            STATE.count(self.kind, type(exc).__name__)
        finally:
            STATE.in_flight -= 1
        self._report((time.perf_counter() - started) * 1000, len(body), error)

    def _report(self, milliseconds: float, length: int, error: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="AMQP",
            name="AMQP publish (confirmed)",
            response_time=milliseconds,
            response_length=length,
            exception=error,
            context={},
        )


class Reader(_Paced, FastHttpUser):
    """Candybar-like reads of this run's events: list by session, get by id, trace."""

    kind = "query"
    wait_time = constant(0)
    fixed_count = 0

    @task
    def read(self) -> None:
        self.next_slot()
        surface = STATE.config.profile.candystore
        choice = random.random()
        if choice < 0.4:
            params = surface.query(session_id=STATE.run_id, limit=20)
            self.client.request(
                surface.list.method, surface.list.url(), params=params, name="read: list by session"
            )
            return
        event_id = STATE.accepted_older_than(3.0)
        if event_id is None:
            return
        route, name = (surface.by_id, "read: get by id") if choice < 0.75 else (surface.trace, "read: trace")
        self.client.request(route.method, route.url(event_id=event_id), name=name)


class StreamWatcher(User):
    """Watches Candystore's WebSocket stream; reports publish → seen for this run's events."""

    wait_time = constant(0)
    fixed_count = 0

    def _reconnect(self, websocket: Any, url: str) -> Any:
        """Connect again, retrying (bounded back-off) while Candystore is away; StopUser when the run ends."""
        delay = 0.1
        while not STATE.finished.is_set():
            try:
                ws = websocket.create_connection(url, timeout=None)
            except (websocket.WebSocketException, OSError):
                gevent.sleep(delay)  # retry back-off while the service restarts
                delay = min(1.0, delay * 2)
                continue
            STATE.watch_sockets.append(ws)
            return ws
        raise StopUser()

    @task
    def watch(self) -> None:
        import websocket

        config = STATE.config
        if not config.candystore_url or not config.profile.candystore.stream.present:
            STATE.finished.wait()
            raise StopUser()
        base = config.candystore_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        cursor: str | None = None
        url = base + config.profile.candystore.stream.url()
        ws = websocket.create_connection(url, timeout=None)
        STATE.watch_sockets.append(ws)
        STATE.watchers_connected += 1
        try:
            while True:
                try:
                    text = ws.recv()
                except (websocket.WebSocketException, OSError):
                    if STATE.finished.is_set():  # closed by the runner at the end
                        raise StopUser() from None
                    # closed by the server (e.g. 1013 too slow, or a fault): resume after the last event seen
                    ws = self._reconnect(websocket, f"{url}?after={cursor}" if cursor else url)
                    continue
                if not text:
                    continue
                now = time.time()
                try:
                    event = json.loads(text)
                except ValueError:
                    continue
                cursor = event.get("stored_at") or cursor
                event_id = event.get("event_id")
                context = event.get("agent_context")
                if not isinstance(context, dict) or context.get("session_id") != STATE.run_id:
                    continue  # not this run's (the stream carries every stored event)
                if event_id in STATE.seen_on_stream:  # another watcher saw it first
                    continue
                STATE.seen_on_stream[event_id] = now
                sent = STATE.sent.get(event_id)
                if sent is None:  # published by another worker: measured when the records merge
                    continue
                self.environment.events.request.fire(
                    request_type="WS",
                    name="stream: publish → seen",
                    response_time=max(0.0, (now - sent[0]) * 1000),
                    response_length=len(text),
                    exception=None,
                    context={},
                )
        finally:
            STATE.watchers_connected -= 1
            ws.close()


def user_classes(config: RunConfig) -> list[type[User]]:
    """The user classes of ``config``'s mix, each with enough users for its arrival rate."""
    rates = config.mix.iteration_rates(config.rate)
    classes: list[type[User]] = []
    for cls in (HttpPublisher, BatchPublisher, AmqpPublisher, Reader):
        rate = rates.get(cls.kind, 0.0)
        if rate <= 0:
            continue
        # enough free users for answers of up to the pacer's drop limit (1 s) at this rate: slower answers
        # show up as dropped iterations, not as a lower rate
        cls.fixed_count = min(MAX_USERS_PER_KIND, max(2, math.ceil(rate * 1.0) + 2))
        classes.append(cls)
    if config.stream_watchers:
        StreamWatcher.fixed_count = config.stream_watchers
        classes.append(StreamWatcher)
    _apply_hosts(config)
    return classes
