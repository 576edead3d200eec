"""Live topology conformance: does a running broker really have the objects of SPEC §2?

A queue declared without its dead-letter arguments silently loses the DLQ guarantee, and nothing else would
notice. :func:`check_topology` compares a broker with the expected topology, object by object:

* with the **management HTTP API** (given, or found beside the AMQP port and proven to be the same node):
  exchanges (type, durable, auto-delete, internal), queues (durable, auto-delete, exclusive, queue type,
  every argument, unexpected ones too) and bindings (source, destination, routing key);
* with **AMQP alone**: a passive declare says whether each object exists; a re-declare with the expected
  properties says whether they are equivalent, and RabbitMQ's refusal names the first argument that differs
  with its current value, so the declare is repeated with that value until every difference the broker
  compares is found. Bindings cannot be listed over AMQP: a probe message (expiring at once, never stored)
  published ``mandatory`` to the dead-letter exchange shows that dead letters are routed somewhere; the
  main exchange's binding is reported as not checked.

``harness topology check --amqp-url URL [--management-url URL] [--profile FILE]`` prints one line per
object and exits 1 on any difference (see :func:`run`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pika
import pika.exceptions

from harness._broker_cli import add_broker_options, broker_settings
from holyfields.topology import Topology

Status = Literal["ok", "missing", "differs", "unchecked"]

__all__ = [
    "Expected",
    "Finding",
    "TopologyReport",
    "add_arguments",
    "check_topology",
    "expected_objects",
    "run",
]

#: how many differences of one queue the AMQP-only check follows before giving up
_MAX_ROUNDS = 16
_ABSENT = "absent"


@dataclass(frozen=True)
class Expected:
    """One object of the expected topology."""

    kind: Literal["exchange", "queue", "binding"]
    name: str
    properties: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


def expected_objects(topology: Topology) -> list[Expected]:
    """The objects of SPEC §2 under the names of ``topology``."""
    topic = {"type": "topic", "durable": True, "auto_delete": False, "internal": False}
    queue = {"durable": True, "auto_delete": False, "exclusive": False, "type": "classic"}
    return [
        Expected("exchange", topology.exchange, dict(topic)),
        Expected("exchange", topology.dlx, dict(topic)),
        Expected("queue", topology.queue, {**queue, "arguments": topology.queue_arguments()}),
        Expected("queue", topology.dlq, {**queue, "arguments": {}}),
        Expected(
            "binding",
            f"{topology.exchange} -> {topology.queue} '#'",
            {"source": topology.exchange, "destination": topology.queue, "routing_key": "#"},
        ),
        Expected(
            "binding",
            f"{topology.dlx} -> {topology.dlq} '#'",
            {"source": topology.dlx, "destination": topology.dlq, "routing_key": "#"},
        ),
    ]


@dataclass
class Finding:
    """What the broker has for one expected object."""

    expected: Expected
    status: Status
    detail: str = ""
    #: (property or argument, expected, actual); ``"absent"`` when one side does not have it
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)

    def line(self) -> str:
        text = self.detail
        if self.differences:
            text = "; ".join(
                f"{what}: expected {_show(want)}, actual {_show(got)}" for what, want, got in self.differences
            ) + (f" ({self.detail})" if self.detail else "")
        return f"  {self.status:9} {self.expected.label}" + (f": {text}" if text else "")


def _show(value: Any) -> str:
    return value if value == _ABSENT else repr(value)


@dataclass
class TopologyReport:
    """Every finding, how the broker was asked, and what could not be checked that way."""

    target: str
    mode: Literal["management", "amqp"]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.status in ("missing", "differs") for f in self.findings)

    def count(self, status: Status) -> int:
        return sum(1 for f in self.findings if f.status == status)

    def render(self) -> str:
        how = "management HTTP API" if self.mode == "management" else "AMQP only"
        lines = [f"harness topology check: {self.target} ({how})"]
        lines += [finding.line() for finding in self.findings]
        lines += [f"  note: {note}" for note in self.notes]
        counts = ", ".join(f"{self.count(s)} {s}" for s in ("ok", "differs", "missing", "unchecked"))
        lines.append(f"harness topology check: {counts}: {'OK' if self.ok else 'the broker differs'}")
        return "\n".join(lines)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{host}{port}"))


# ------------------------------------------------------------------------------------ management API


class _Management:
    """The few management API calls the check needs, with the AMQP URL's credentials by default."""

    def __init__(self, url: str, params: pika.URLParameters, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"management URL {url!r} is not an http(s) URL (e.g. http://127.0.0.1:15672)")
        auth = (parts.username or params.credentials.username, parts.password or params.credentials.password)
        port = f":{parts.port}" if parts.port else ""
        base = urlunsplit(parts._replace(netloc=f"{parts.hostname}{port}")).rstrip("/")
        self.http = httpx.Client(base_url=base, auth=auth, timeout=timeout)
        self.vhost = quote(params.virtual_host, safe="")

    def get(self, path: str) -> Any | None:
        response = self.http.get(path)
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise ValueError(
                f"the management API refused the credentials ({response.status_code}): give them in "
                "--management-url http://user:password@host:port or use a user with the monitoring tag"
            )
        response.raise_for_status()
        return response.json()

    def serves(self, amqp_port: int) -> bool:
        """True when this API belongs to the node listening on ``amqp_port`` (not some other broker)."""
        overview = self.get("/api/overview") or {}
        ports = {listener.get("port") for listener in overview.get("listeners", [])}
        return amqp_port in ports

    def close(self) -> None:
        self.http.close()


def _name(value: str) -> str:
    return quote(value, safe="")


def _compare(want: dict[str, Any], got: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    differences = []
    for key, value in want.items():
        if key == "arguments":
            continue
        if got.get(key, _ABSENT) != value:
            differences.append((key, value, got.get(key, _ABSENT)))
    if "arguments" in want:
        have = dict(got.get("arguments") or {})
        if "type" in want and have.get("x-queue-type") == want["type"]:
            del have["x-queue-type"]  # the queue type is compared as `type`; declaring it is no difference
        for key in sorted(set(want["arguments"]) | set(have)):
            expected, actual = want["arguments"].get(key, _ABSENT), have.get(key, _ABSENT)
            if expected != actual:
                differences.append((f"argument {key}", expected, actual))
    return differences


def _check_management(api: _Management, objects: list[Expected]) -> list[Finding]:
    findings = []
    for obj in objects:
        if obj.kind == "binding":
            props = obj.properties
            path = f"/api/bindings/{api.vhost}/e/{_name(props['source'])}/q/{_name(props['destination'])}"
            bindings = api.get(path) or []
            keys = sorted(b.get("routing_key", "") for b in bindings)
            if props["routing_key"] in keys:
                findings.append(Finding(obj, "ok"))
            elif keys:
                findings.append(
                    Finding(obj, "differs", differences=[("routing key", props["routing_key"], keys)])
                )
            else:
                findings.append(Finding(obj, "missing", "no binding between them"))
            continue
        got = api.get(f"/api/{obj.kind}s/{api.vhost}/{_name(obj.name)}")
        if got is None:
            findings.append(Finding(obj, "missing", f"no {obj.kind} of that name in the vhost"))
            continue
        differences = _compare(obj.properties, got)
        findings.append(Finding(obj, "differs" if differences else "ok", differences=differences))
    return findings


# ------------------------------------------------------------------------------------------ AMQP only

# RabbitMQ: "inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received the value '1' of type
# 'signedint' but current is none" / "... received 'true' but current is 'false'"
_INEQUIVALENT = re.compile(
    r"inequivalent arg '(?P<arg>[^']+)' for .*?: received (?P<received>.+?) but current is (?P<current>.+)$"
)
_VALUE = re.compile(r"^the value '(?P<value>.*)' of type '(?P<type>[^']+)'$")
_INTEGER_TYPES = {"long", "signedint", "short", "byte", "unsignedbyte", "unsignedshort", "unsignedint"}


def _parse_value(text: str, sent: Any = None) -> Any:
    """An argument value as RabbitMQ words it in a precondition failure (``none`` -> absent).

    Without a type (``'5'``, when both sides have the argument) the type of the value ``sent`` is used.
    """
    text = text.strip()
    if text == "none":
        return _ABSENT
    match = _VALUE.match(text)
    if match:
        value, kind = match["value"], match["type"]
        if kind in _INTEGER_TYPES:
            try:
                return int(value)
            except ValueError:
                return value
        if kind == "bool":
            return value == "true"
        return value
    stripped = text.strip("'")
    if stripped in ("true", "false"):
        return stripped == "true"
    if isinstance(sent, int) and not isinstance(sent, bool):
        try:
            return int(stripped)
        except ValueError:
            pass
    return stripped


def _channel(connection: Any) -> Any:
    return connection.channel()


def _exists(connection: Any, kind: str, name: str) -> bool:
    channel = _channel(connection)
    try:
        if kind == "exchange":
            channel.exchange_declare(name, passive=True)
        else:
            channel.queue_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            return False
        if exc.reply_code == 405:  # RESOURCE_LOCKED: an exclusive queue of another connection exists
            return True
        raise
    if channel.is_open:
        channel.close()
    return True


def _declare(connection: Any, obj: Expected, declared: dict[str, Any]) -> str | None:
    """Declare with ``declared``; None when equivalent, else the broker's precondition-failure text."""
    channel = _channel(connection)
    try:
        if obj.kind == "exchange":
            channel.exchange_declare(
                obj.name,
                declared["type"],
                durable=declared["durable"],
                auto_delete=declared["auto_delete"],
                internal=declared["internal"],
            )
        else:
            channel.queue_declare(
                obj.name,
                durable=declared["durable"],
                auto_delete=declared["auto_delete"],
                exclusive=declared["exclusive"],
                arguments=declared["arguments"],
            )
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code in (405, 406):  # RESOURCE_LOCKED (exclusive elsewhere) / PRECONDITION_FAILED
            return str(exc.reply_text)
        raise
    if channel.is_open:
        channel.close()
    return None


def _check_declared(connection: Any, obj: Expected) -> Finding:
    """Re-declare with the expected properties, then with each value the broker names, until equivalent."""
    declared = {k: (dict(v) if isinstance(v, dict) else v) for k, v in obj.properties.items()}
    if obj.kind == "queue":
        del declared["type"]  # the queue type is the x-queue-type argument over AMQP
    differences: list[tuple[str, Any, Any]] = []
    for _ in range(_MAX_ROUNDS):
        refusal = _declare(connection, obj, declared)
        if refusal is None:
            detail = ""
            if obj.kind == "queue":
                detail = "arguments the broker compares on declare; the others need the management API"
            return Finding(obj, "differs" if differences else "ok", detail, differences)
        match = _INEQUIVALENT.search(refusal)
        if not match:
            return Finding(
                obj, "differs", f"the broker refused the expected declaration: {refusal}", differences
            )
        arg = match["arg"]
        sent = declared.get(arg) if arg in declared else declared.get("arguments", {}).get(arg)
        current = _parse_value(match["current"], sent)
        if any(what in (arg, f"argument {arg}") and got == current for what, _, got in differences):
            return Finding(obj, "differs", f"the broker keeps refusing {arg}: {refusal}", differences)
        if arg in declared and arg != "arguments":
            differences.append((arg, obj.properties.get(arg, declared[arg]), current))
            declared[arg] = current
            continue
        expected = obj.properties.get("arguments", {}).get(arg, _ABSENT)
        differences.append((f"argument {arg}", expected, current))
        if current == _ABSENT:
            declared["arguments"].pop(arg, None)
        else:
            declared["arguments"][arg] = current
    return Finding(obj, "differs", f"more than {_MAX_ROUNDS} differences; stopped", differences)


def _probe_dead_letter_routing(connection: Any, topology: Topology, obj: Expected) -> Finding:
    """Publish an at-once-expiring message ``mandatory`` to the DLX: is anything bound for dead letters?"""
    channel = _channel(connection)
    channel.confirm_delivery()
    try:
        channel.basic_publish(
            topology.dlx,
            topology.dlq_routing_key,
            b"{}",
            pika.BasicProperties(
                expiration="0",
                message_id=f"harness-topology-probe-{uuid.uuid4()}",
                headers={"x-harness-probe": "topology"},
            ),
            mandatory=True,
        )
    except pika.exceptions.UnroutableError:
        return Finding(
            obj,
            "missing",
            f"a probe published to {topology.dlx!r} with routing key {topology.dlq_routing_key!r} was "
            "unroutable: dead letters are dropped",
        )
    finally:
        if channel.is_open:
            channel.close()
    return Finding(
        obj,
        "ok",
        f"a probe to {topology.dlx!r} with routing key {topology.dlq_routing_key!r} was routed; which queue "
        "received it cannot be told over AMQP",
    )


def _check_amqp(connection: Any, topology: Topology, objects: list[Expected]) -> list[Finding]:
    findings = []
    present = set()
    for obj in objects:
        if obj.kind == "binding":
            continue
        try:
            if not _exists(connection, obj.kind, obj.name):
                findings.append(
                    Finding(obj, "missing", f"a passive declare found no {obj.kind} of that name")
                )
                continue
            present.add(obj.name)
            findings.append(_check_declared(connection, obj))
        except pika.exceptions.ChannelClosedByBroker as exc:  # e.g. ACCESS_REFUSED for this user
            findings.append(
                Finding(obj, "unchecked", f"the broker refused: {exc.reply_code} {exc.reply_text}")
            )
    for obj in objects:
        if obj.kind != "binding":
            continue
        if obj.properties["source"] not in present:
            findings.append(Finding(obj, "missing", f"exchange {obj.properties['source']!r} is missing"))
        elif obj.properties["source"] == topology.dlx:
            findings.append(_probe_dead_letter_routing(connection, topology, obj))
        else:
            findings.append(
                Finding(
                    obj,
                    "unchecked",
                    "AMQP cannot list bindings, and a probe through the main exchange would reach the "
                    "consumer; give --management-url",
                )
            )
    return findings


# ------------------------------------------------------------------------------------------ entry point


def _guess_management(amqp: pika.URLParameters) -> str:
    return f"http://{amqp.host}:15672"


def check_topology(
    amqp_url: str, topology: Topology | None = None, management_url: str | None = None
) -> TopologyReport:
    """Compare the broker at ``amqp_url`` with ``topology`` (SPEC names by default).

    ``management_url``: the management HTTP API; without it, the API on port 15672 of the AMQP host is
    tried and used only when it answers for the same node (its AMQP listener is ``amqp_url``'s port).
    """
    topology = topology or Topology()
    params = pika.URLParameters(amqp_url)
    objects = expected_objects(topology)
    notes: list[str] = []
    api = None
    candidate = management_url or _guess_management(params)
    try:
        api = _Management(candidate, params, timeout=10.0 if management_url else 2.0)
        if not api.serves(params.port):
            raise ValueError(f"the management API at {_redact(candidate)} serves another node")
    except (httpx.HTTPError, ValueError) as exc:
        if api is not None:
            api.close()
            api = None
        if management_url:
            raise ValueError(f"management API {_redact(management_url)}: {exc}") from None
        notes.append(
            f"no management API at {_redact(candidate)} ({type(exc).__name__}: {exc}); checked over AMQP "
            "alone: queue arguments the broker does not compare on declare, and the main exchange's "
            "binding, need --management-url"
        )
    target = _redact(amqp_url)
    if api is not None:
        try:
            report = TopologyReport(target, "management", _check_management(api, objects), notes)
        except httpx.HTTPError as exc:
            raise ValueError(f"management API {_redact(candidate)} failed: {exc!r}") from None
        finally:
            api.close()
        report.notes.append(f"management API: {_redact(candidate)}")
        return report
    try:
        connection = pika.BlockingConnection(params)
    except pika.exceptions.AMQPError as exc:
        raise ValueError(f"cannot connect to {target}: {exc!r}") from None
    try:
        return TopologyReport(target, "amqp", _check_amqp(connection, topology, objects), notes)
    finally:
        if connection.is_open:
            connection.close()


# ------------------------------------------------------------------------------------------ command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Fill the ``harness topology`` parser (its ``check`` action)."""
    actions = parser.add_subparsers(dest="topology_action", required=True, metavar="{check}")
    check = actions.add_parser(
        "check",
        help="compare a live broker with the expected topology (SPEC §2); exit 1 on any difference",
        description="One line per exchange, queue and binding: ok, missing, differs (expected vs actual) or "
        "unchecked. Uses the management HTTP API when given or found for the same node, else AMQP alone.",
    )
    add_broker_options(check)
    check.add_argument(
        "--management-url",
        default=os.environ.get("HARNESS_MANAGEMENT_URL") or None,
        help="RabbitMQ management API, e.g. http://user:pw@host:15672 (env HARNESS_MANAGEMENT_URL); "
        "default: port 15672 of the AMQP host when it serves the same node, else AMQP-only checks",
    )


def run(args: argparse.Namespace) -> int:
    """``harness topology check``: 0 when the broker conforms, 1 when it differs, 2 on bad input."""
    settings = broker_settings(args, "topology check")
    if settings is None:
        return 2
    try:
        report = check_topology(settings.amqp_url, settings.topology, args.management_url)
    except ValueError as exc:
        print(f"harness topology check: {exc}", file=sys.stderr)
        return 2
    print(report.render())
    return 0 if report.ok else 1
