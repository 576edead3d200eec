"""Root-cause triage: what each check needs from the target, probed once per session.

A check declares what it needs with ``@pytest.mark.needs("trace", ...)``; the fixtures it uses add the
obvious needs (the ``bloodbank`` client needs "publish accepts a valid event", the ``dlq_tap`` needs "the DLQ
can be tapped", …). Each capability is probed once, when the first check needs it. A missing capability is
ONE finding that names what was observed and how to configure it (the check that found it fails with that
title); every later check that needs it is *blocked by* that finding: reported apart, neither failed nor
silently skipped. So a target whose publish route is elsewhere gets one finding, not forty.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from harness.backends import wait_until

#: the prefix of the skip reason of a blocked check (the report counts these apart)
BLOCKED = "blocked by: "

#: fixture a check uses -> what it needs of the target
FIXTURE_NEEDS: dict[str, tuple[str, ...]] = {
    "bloodbank": ("publish",),
    "bloodbank_url": ("publish",),
    "candystore": ("read_by_id",),
    "inject": ("inject",),
    "dlq_tap": ("dlq",),
    "settle": ("dlq", "read_by_id"),
    "signing_key": ("signing",),
}

#: capability -> what it means, as a check's prerequisite reads in a report
DESCRIPTIONS = {
    "publish": "Bloodbank accepts a valid event",
    "inject": "an event published to the exchange reaches Candystore's queue",
    "read_by_id": "Candystore returns a consumed event by id",
    "dlq": "the dead-letter exchange can be tapped",
    "signing": "the signing key is known",
    "batch": "Bloodbank has a batch route",
    "trace": "Candystore has a trace route",
    "list": "Candystore has a list route",
    "stream": "Candystore has a stream route",
}

PROBE_TYPE = "n8n.workflow.completed.v1"
PROBE_SOURCE = {"host": "harness", "type": "system", "app": "harness-probe"}


@dataclass
class Capability:
    """The verdict of one probe. ``title`` asserts only what was observed; ``detail`` says how to fix it."""

    name: str
    ok: bool
    title: str = ""
    detail: str = ""
    #: "error": a defect of the target; "warning": not configured / absent by the profile (not a defect)
    severity: str = "error"
    #: an event id the probe saw go through (for dependent probes)
    event_id: str = ""
    #: the report's finding for it, once reported (its "blocks" counts the checks it blocked)
    finding: dict[str, Any] | None = None

    @property
    def finding_id(self) -> str:
        return f"root:{self.name}"


def excerpt(response: httpx.Response, limit: int = 300) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")


class Capabilities:
    """The session's probed capabilities (lazy: a probe runs when a check first needs it)."""

    def __init__(self, fixture: Callable[[str], Any], settings: Any, report: Any) -> None:
        self._fixture = fixture
        self.settings = settings
        self.report = report
        self.known: dict[str, Capability] = {}

    def bind(self, fixture: Callable[[str], Any]) -> None:
        """Probes get fixtures through the request of the check that needs them."""
        self._fixture = fixture

    def get(self, name: str) -> Capability:
        if name not in self.known:
            probe = getattr(self, f"_probe_{name}", None)
            if probe is None:
                raise ValueError(f"unknown capability {name!r} (known: {', '.join(DESCRIPTIONS)})")
            self.known[name] = probe()
        return self.known[name]

    def lost(self, name: str, title: str, detail: str) -> Capability:
        """A capability that worked and stopped working (the watchdog): later checks are blocked by it."""
        capability = Capability(name, False, title, detail)
        self.known[name] = capability
        return capability

    # -- probes -------------------------------------------------------------------------------------------

    def _probe_publish(self) -> Capability:
        from holyfields import make_envelope

        client = self._fixture("bloodbank")
        route = client.surface.publish
        where = f"{route} on {client.http.base_url}"
        envelope = make_envelope(PROBE_TYPE, source=PROBE_SOURCE)
        try:
            response = client.publish(envelope)
        except httpx.HTTPError as exc:
            return Capability(
                "publish",
                False,
                f"Bloodbank does not answer {where}",
                f"{type(exc).__name__}: {exc}. Is the service running at that URL (--bloodbank-url)?",
            )
        if client.accepted(response):
            return Capability("publish", True, event_id=envelope["event_id"])
        status = response.status_code
        evidence = f"a valid event to {where} answered {status}: {excerpt(response)}"
        if status in (404, 405):
            return Capability(
                "publish",
                False,
                f"No publish route: {route} answered {status}",
                f"{evidence}\nIf the target publishes elsewhere, name the route in a profile "
                f'([bloodbank] publish = "POST /your/route", harness verify --profile FILE).',
            )
        if status in (401, 403):
            return Capability(
                "publish",
                False,
                f"Publish with the run's API key is refused ({status})",
                f"{evidence}\nGive a key the target accepts with --api-keys (HARNESS_API_KEYS), or the "
                f"header it reads it from as [bloodbank] api_key_header in a profile.",
            )
        if 200 <= status < 300:
            return Capability(
                "publish",
                False,
                f"Publish answers {status}, not {client.success_statuses}",
                f"{evidence}\nIf {status} means published for this target, say so in a profile "
                f"([bloodbank] success = [{status}]).",
            )
        title = f"A valid event is not accepted: {route} answered {status}"
        return Capability("publish", False, title, evidence)

    def _probe_inject(self) -> Capability:
        import pika.exceptions

        from harness.probes import encode
        from holyfields import make_envelope

        self._fixture("candystore_url")  # Candystore declares its queue; it must be up
        topology = self._fixture("topology")
        envelope = make_envelope(PROBE_TYPE, source=PROBE_SOURCE)
        try:
            self._publish_raw(encode(envelope), envelope["event_id"])
        except pika.exceptions.UnroutableError:
            return Capability(
                "inject",
                False,
                f"No queue is bound to exchange {topology.exchange!r}: published events reach no consumer",
                f"an event published to {topology.exchange!r} with routing key {PROBE_TYPE!r} was returned "
                f"unroutable. Is Candystore's queue {topology.queue!r} declared and bound? If the target "
                f"names them differently, set [broker] exchange / queue in a profile.",
            )
        except pika.exceptions.ChannelClosedByBroker as exc:
            return Capability(
                "inject",
                False,
                f"Exchange {topology.exchange!r} does not exist on the broker",
                f"{exc.reply_code} {exc.reply_text}. If the target's exchange is named differently, set "
                f"[broker] exchange in a profile (or HARNESS_EXCHANGE).",
            )
        except pika.exceptions.AMQPConnectionError as exc:
            return Capability("inject", False, "The broker refuses the harness's connection", repr(exc))
        except pika.exceptions.AMQPError as exc:
            return Capability("inject", False, f"Cannot publish to exchange {topology.exchange!r}", repr(exc))
        return Capability("inject", True, event_id=envelope["event_id"])

    def _publish_raw(self, body: bytes, message_id: str) -> None:
        """One message into the main exchange, as another producer would send it (signed when the run
        signs); pika's exceptions propagate."""
        from harness.probes import RawPublisher

        publisher = RawPublisher(self._fixture("amqp_url"), self._fixture("topology"))
        try:
            publisher.publish(body, PROBE_TYPE, message_id=message_id, signing_key=self.settings.signing_key)
        finally:
            try:
                publisher.close()
            except Exception:
                pass  # the channel was closed by the broker's answer: nothing left to close

    def _probe_read_by_id(self) -> Capability:
        client = self._fixture("candystore")
        route = client.surface.by_id
        if not route.present:
            return Capability(
                "read_by_id",
                False,
                "The profile names no read-by-id route: checks that read events back cannot run",
                'set [candystore] by_id = "GET /events/{event_id}" (or the target\'s route) in the profile',
                severity="warning",
            )
        publish = self.get("publish") if self._has("bloodbank_url") else None
        if publish is not None and publish.ok:
            event_id, way = publish.event_id, "published through Bloodbank"
        else:
            inject = self.get("inject")
            if not inject.ok:
                return inject  # the same root: checks that read back are blocked by it
            event_id, way = inject.event_id, "published to the exchange"
        answers: list[str] = []
        bodies: list[Any] = []

        def readable() -> bool:
            try:
                response = client.get_event(event_id)
            except httpx.HTTPError as exc:
                answers.append(type(exc).__name__)
                return False
            answers.append(str(response.status_code))
            if response.status_code == 200:
                try:
                    bodies.append(response.json())
                except ValueError:
                    bodies.append(response.text[:200])
                return True
            return False

        try:
            wait_until(readable, timeout=20, interval=0.2, describe=f"event {event_id} readable")
        except TimeoutError:
            seen = ", ".join(dict.fromkeys(answers)) or "nothing"
            return Capability(
                "read_by_id",
                False,
                f"Candystore never returned an event it was sent: {route.method} {route.path} answered "
                f"{seen} for 20 s",
                f"event {event_id} was {way}; {route.url(event_id=event_id)} on {client.http.base_url} "
                f"answered {seen}. If the target reads events elsewhere, set [candystore] by_id in a "
                f"profile.",
            )
        body = bodies[-1]
        if not isinstance(body, dict) or str(body.get("event_id", "")).lower() != event_id.lower():
            renamed = [k for k, v in body.items() if v == event_id] if isinstance(body, dict) else []
            how = f" (it is under {renamed[0]!r})" if renamed else ""
            return Capability(
                "read_by_id",
                False,
                f"Candystore returns a stored event without its event_id{how}",
                f"{route.url(event_id=event_id)} answered 200 with {json.dumps(body)[:300]}; SPEC §4: the "
                f"stored envelope comes back with every field, event_id included. Checks that read events "
                f"back by their id cannot run.",
            )
        return Capability("read_by_id", True, event_id=event_id)

    def _probe_dlq(self) -> Capability:
        """The dead-letter exchange exists AND a failed message reaches it (a DLQ declared by someone else
        but never used is no DLQ)."""
        import pika.exceptions

        from harness.probes import DeadLetterTap

        self._fixture("candystore_url")  # Candystore declares the dead-letter exchange
        topology = self._fixture("topology")
        amqp_url = self._fixture("amqp_url")
        tap = DeadLetterTap(amqp_url, topology)
        try:
            tap.start()
        except RuntimeError as exc:
            return Capability(
                "dlq",
                False,
                f"No DLQ: dead-letter exchange {topology.dlx!r} does not exist",
                f"{exc}. SPEC §2 routes failed messages to a dead-letter exchange; if the target's is named "
                f"differently, set [broker] dlx / dlq in a profile.",
            )
        try:
            inject = self.get("inject")
            if not inject.ok:
                return inject
            poison = f"harness dlq probe {uuid.uuid4()}".encode()
            message_id = str(uuid.uuid4())
            self._publish_raw(poison, message_id)
            try:
                tap.wait_for(message_id, timeout=15)
            except AssertionError:
                depth = self._queue_depth(amqp_url, topology.queue)
                if depth == 0:
                    title = (
                        f"Failed messages acknowledged and lost: a malformed message never reached the DLQ "
                        f"{topology.dlx!r} and is not in {topology.queue!r}"
                    )
                else:
                    title = (
                        f"Failed messages are not dead-lettered: a malformed message did not reach the DLQ "
                        f"{topology.dlx!r} within 15 s"
                    )
                return Capability(
                    "dlq",
                    False,
                    title,
                    f"a body that is not JSON was published to {topology.exchange!r} (message id "
                    f"{message_id}); nothing arrived on {topology.dlx!r}; {topology.queue!r} holds "
                    f"{'an unknown number of' if depth is None else depth} message(s). SPEC §4: a message "
                    f"that cannot be stored is dead-lettered with a reason, never acknowledged and dropped.",
                )
            except pika.exceptions.AMQPError as exc:
                return Capability("dlq", False, f"Cannot tap the DLQ {topology.dlx!r}", repr(exc))
        finally:
            tap.close()
        return Capability("dlq", True)

    @staticmethod
    def _queue_depth(amqp_url: str, queue: str) -> int | None:
        import pika

        try:
            connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        except pika.exceptions.AMQPError:
            return None
        try:
            return connection.channel().queue_declare(queue, passive=True).method.message_count
        except pika.exceptions.AMQPError:
            return None
        finally:
            if connection.is_open:
                connection.close()

    def _probe_signing(self) -> Capability:
        if self.settings.signing_key is not None:
            return Capability("signing", True)
        return Capability(
            "signing",
            False,
            "Signing key not given: signature checks cannot run",
            "give the key the target signs and verifies with: --signing-keys id:secret "
            "(HARNESS_SIGNING_KEYS)",
            severity="warning",
        )

    def _route_capability(self, name: str, route: Any, section: str) -> Capability:
        if route.present:
            return Capability(name, True)
        return Capability(
            name,
            False,
            f"The profile says the target has no {name} route: {name} checks not run",
            f"remove '{name} = \"\"' from [{section}] of the profile when the target has one",
            severity="warning",
        )

    def _probe_batch(self) -> Capability:
        return self._route_capability("batch", self.settings.surface.bloodbank.batch, "bloodbank")

    def _probe_stream(self) -> Capability:
        return self._route_capability("stream", self.settings.surface.candystore.stream, "candystore")

    def _probe_list(self) -> Capability:
        return self._route_capability("list", self.settings.surface.candystore.list, "candystore")

    def _probe_trace(self) -> Capability:
        found = self._route_capability("trace", self.settings.surface.candystore.trace, "candystore")
        if not found.ok:
            return found
        read = self.get("read_by_id")
        if not read.ok:
            return read
        client = self._fixture("candystore")
        route = client.surface.trace
        try:
            response = client.trace(read.event_id)
        except httpx.HTTPError as exc:
            return Capability("trace", False, f"Candystore does not answer {route}", repr(exc))
        if response.status_code in (404, 405) and "event_id" not in response.text:
            return Capability(
                "trace",
                False,
                f"No trace route: {route} answered {response.status_code} for a stored event",
                f"{route.url(event_id=read.event_id)}: {excerpt(response)}. If the target traces elsewhere, "
                f"set [candystore] trace in a profile.",
            )
        return Capability("trace", True)

    def _has(self, fixture: str) -> bool:
        try:
            self._fixture(fixture)
        except pytest.skip.Exception:
            return False
        return True


def needs_of(item: pytest.Item) -> list[str]:
    """What ``item`` needs: its ``needs`` markers plus what its fixtures imply, in a stable order."""
    names: list[str] = []
    for marker in item.iter_markers("needs"):
        names.extend(marker.args)
    for fixture in getattr(item, "fixturenames", ()):
        names.extend(FIXTURE_NEEDS.get(fixture, ()))
    order = list(DESCRIPTIONS)
    return sorted(dict.fromkeys(names), key=lambda n: order.index(n) if n in order else len(order))


def gate(names: list[str], capabilities: Capabilities) -> None:
    """Before a check (or a fixture several checks share): skip it as *blocked by* the finding of the first
    missing capability among ``names``; that finding is recorded once, when first seen. A run with a
    missing capability of severity "error" fails (see the plugin's ``pytest_sessionfinish``)."""
    for name in names:
        capability = capabilities.get(name)
        if capability.ok:
            continue
        if capability.finding is None:
            capability.finding = capabilities.report.add_finding(
                capability.finding_id,
                capability.title,
                capability.detail,
                severity=capability.severity,
                root=True,
            )
        pytest.skip(f"{BLOCKED}{capability.title}")


def require(request: pytest.FixtureRequest, *names: str) -> None:
    """For fixtures shared by several checks (module scope): block them all when a capability is missing."""
    capabilities = request.getfixturevalue("harness_capabilities")
    capabilities.bind(request.getfixturevalue)
    gate(list(names), capabilities)
