"""The AsyncAPI 3.0 document of the bus, generated from the Holyfields schemas and the topology (SPEC §1, §2).

What it covers:

* one channel per event type: address = the routing key (= ``event_type``) on the main exchange, with the
  AMQP 0-9-1 channel binding of that exchange (name, type, durable, autoDelete, vhost);
* one message per event type: the envelope schema with the payload schema of that type (both verbatim from
  Holyfields, in ``components.schemas``), content type ``application/json``, the signing headers, and the
  AMQP properties every message carries (``x-amqp-properties``: persistent delivery, ``message_id`` =
  ``event_id``, ``timestamp``);
* the Candystore queue, the dead-letter routing key on the dead-letter exchange and the DLQ as channels with
  the queue binding. The AMQP binding has no field for queue arguments or for queue-to-exchange bindings,
  so they are documented extensions of the binding: ``x-queue-arguments`` (``x-dead-letter-exchange``,
  ``x-dead-letter-routing-key``, ``x-message-ttl``, ``x-max-length``) and ``x-bindings``
  (``[{exchange, routingKey}]``);
* the operations: Bloodbank sends every event type (publisher confirms, ``mandatory``), Candystore receives
  from its queue (manual acks) and sends dead letters with their reason headers to the dead-letter exchange.

>>> doc = build_document()
>>> doc["asyncapi"], doc["channels"]["github.pr.opened.v1"]["address"]
('3.0.0', 'github.pr.opened.v1')
>>> doc["channels"]["candystore.events"]["bindings"]["amqp"]["x-queue-arguments"]["x-dead-letter-exchange"]
'bloodbank.events.dlq'

Command line: ``harness asyncapi generate [--out FILE] | check [--file FILE] | validate FILE |
diff OLD NEW [--json]``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from holyfields._diff import Bump, Change, SchemaDiff, _resolve_refs, diff_schemas
from holyfields._loader import SCHEMA_DIR, load_schema_set
from holyfields.topology import Topology

__all__ = [
    "ASYNCAPI_FILE",
    "ASYNCAPI_JSON_SCHEMA",
    "BINDING_VERSION",
    "DLQ_REASONS",
    "AsyncApiDiff",
    "add_arguments",
    "build_document",
    "check",
    "diff_documents",
    "render",
    "run",
    "validate",
]

ASYNCAPI_VERSION = "3.0.0"
#: the AMQP binding version the official 3.0.0 JSON Schema (npm @asyncapi/specs) bundles and validates
BINDING_VERSION = "0.3.0"
#: the committed document (drift-checked) and the vendored official JSON Schema it is validated with
ASYNCAPI_DIR = SCHEMA_DIR.parent / "asyncapi"
ASYNCAPI_FILE = ASYNCAPI_DIR / "bus.asyncapi.json"
ASYNCAPI_JSON_SCHEMA = ASYNCAPI_DIR / "vendor" / "asyncapi-3.0.0.schema.json"
REGENERATE = "harness asyncapi generate"
#: ``x-dlq-reason`` values of SPEC §2 (a consumer may add others; broker-side reasons are in ``x-death``)
DLQ_REASONS = (
    "envelope_invalid",
    "payload_invalid",
    "json_invalid",
    "signature_invalid",
    "duplicate_conflict",
    "retries_exhausted",
    "storage_rejected",
)
_ENVELOPE = "EventEnvelope"
_DEAD_LETTER = "DeadLetter"


def _exchange(name: str) -> dict[str, Any]:
    return {"name": name, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"}


def _queue_binding(
    name: str, arguments: dict[str, Any], bound_to: list[tuple[str, str]], what: str
) -> dict[str, Any]:
    return {
        "is": "queue",
        "queue": {"name": name, "durable": True, "exclusive": False, "autoDelete": False, "vhost": "/"},
        "x-queue-arguments": dict(arguments),
        "x-bindings": [{"exchange": exchange, "routingKey": key} for exchange, key in bound_to],
        "x-description": what,
        "bindingVersion": BINDING_VERSION,
    }


def _signing_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "AMQP headers. Signing (SPEC §2) is optional: when a signing key is configured, "
        "Bloodbank adds both signature headers and Candystore may require them.",
        "properties": {
            "x-signature": {
                "type": "string",
                "pattern": "^sha256=[0-9a-f]{64}$",
                "description": "HMAC-SHA256 of the exact body bytes, hex.",
            },
            "x-signature-key-id": {"type": "string", "description": "Id of the signing key."},
            "x-filled-fields": {
                "type": "string",
                "description": "Comma-separated envelope fields the producer filled in (not the client).",
            },
            "x-dlq-replays": _REPLAYS,
        },
    }


_REPLAYS = {
    "type": "integer",
    "minimum": 1,
    "description": "How often the message was replayed from the DLQ (`harness dlq replay`); absent before.",
}


_AMQP_PROPERTIES = {
    "delivery_mode": 2,
    "content_type": "application/json",
    "message_id": "$message.payload#/event_id",
    "timestamp": "publish time, seconds since the epoch",
}


def _message(event_type: str, payload_schema: dict[str, Any]) -> dict[str, Any]:
    description = payload_schema.get("description", "")
    return {
        "name": event_type,
        "title": event_type,
        "summary": description.split(". ")[0].rstrip(".") if description else event_type,
        "description": description or None,
        "contentType": "application/json",
        "headers": _signing_headers(),
        "payload": {
            "allOf": [
                {"$ref": f"#/components/schemas/{_ENVELOPE}"},
                {
                    "type": "object",
                    "properties": {
                        "event_type": {"const": event_type},
                        "payload": {"$ref": f"#/components/schemas/{event_type}"},
                    },
                },
            ]
        },
        "bindings": {"amqp": {"messageType": event_type, "bindingVersion": BINDING_VERSION}},
        "x-amqp-properties": dict(_AMQP_PROPERTIES),
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": _DEAD_LETTER,
        "title": "Dead letter",
        "summary": "A message that could not be stored, byte-identical to what was published, with why.",
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {
                "x-dlq-reason": {
                    "type": "string",
                    "description": "Why the consumer dead-lettered it (SPEC §2); absent when the broker "
                    "dead-lettered it (then `x-death` says why: rejected, expired, maxlen).",
                    "examples": list(DLQ_REASONS),
                },
                "x-dlq-detail": {"type": "string", "description": "The first validation errors."},
                "x-dlq-consumer": {"type": "string", "description": "Which consumer dead-lettered it."},
                "x-original-exchange": {"type": "string"},
                "x-original-routing-key": {"type": "string", "description": "Where to replay it to."},
                "x-death": {"type": "array", "description": "RabbitMQ's own dead-lettering history."},
                "x-dlq-replays": _REPLAYS,
            },
        },
        "payload": {"description": "The original body, unchanged (it may not even be JSON: json_invalid)."},
        "bindings": {"amqp": {"bindingVersion": BINDING_VERSION}},
    }


def _send_binding() -> dict[str, Any]:
    return {
        "amqp": {"deliveryMode": 2, "mandatory": True, "timestamp": True, "bindingVersion": BINDING_VERSION}
    }


def build_document(topology: Topology | None = None, schemas: str | Path = SCHEMA_DIR) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the bus for ``topology`` (SPEC names by default) and a schema folder."""
    topo = topology or Topology()
    schema_set = load_schema_set(schemas)
    event_types = sorted(schema_set.payloads)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in event_types:
        payload_schema = schema_set.payloads[event_type]
        messages[event_type] = {
            k: v for k, v in _message(event_type, payload_schema).items() if v is not None
        }
        channels[event_type] = {
            "address": event_type,
            "title": event_type,
            "description": f"Events of type `{event_type}` on the main exchange; routing key = event type.",
            "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": _exchange(topo.exchange),
                    "bindingVersion": BINDING_VERSION,
                }
            },
        }
        operations[f"publish.{event_type}"] = {
            "action": "send",
            "title": f"Bloodbank publishes {event_type}",
            "description": "Published with publisher confirms and mandatory=true: an unroutable event is "
            "an error, never a silent drop.",
            "channel": {"$ref": f"#/channels/{event_type}"},
            "messages": [{"$ref": f"#/channels/{event_type}/messages/{event_type}"}],
            "bindings": _send_binding(),
        }
    queue_id, dead_letters_id, dlq_id = "candystore.events", "dead-letters", "dlq"
    channels[queue_id] = {
        "address": topo.queue,
        "title": "Candystore queue",
        "description": "Every event, bound to the main exchange with `#`. Its arguments route what cannot be "
        "stored (rejected, expired, overflowed) to the dead-letter exchange.",
        "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in event_types},
        "bindings": {
            "amqp": _queue_binding(
                topo.queue,
                topo.queue_arguments(),
                [(topo.exchange, "#")],
                "x-queue-arguments are the queue's declare arguments and x-bindings its bindings: the AMQP "
                "binding has no field for either.",
            )
        },
    }
    channels[dead_letters_id] = {
        "address": topo.dlq_routing_key,
        "title": "Dead letters to the dead-letter exchange",
        "description": "Where Candystore publishes a message it cannot store (confirmed, then it acks the "
        "original), and where the broker dead-letters from the Candystore queue.",
        "messages": {_DEAD_LETTER: {"$ref": f"#/components/messages/{_DEAD_LETTER}"}},
        "bindings": {
            "amqp": {"is": "routingKey", "exchange": _exchange(topo.dlx), "bindingVersion": BINDING_VERSION}
        },
    }
    channels[dlq_id] = {
        "address": topo.dlq,
        "title": "Dead-letter queue",
        "description": "Every dead letter, bound to the dead-letter exchange with `#`. "
        "`harness dlq list|show|replay` operate it.",
        "messages": {_DEAD_LETTER: {"$ref": f"#/components/messages/{_DEAD_LETTER}"}},
        "bindings": {
            "amqp": _queue_binding(
                topo.dlq,
                {},
                [(topo.dlx, "#")],
                "x-bindings are the queue's bindings (no AMQP binding field).",
            )
        },
    }
    operations["candystore.consume"] = {
        "action": "receive",
        "title": "Candystore consumes every event",
        "description": "Validates, stores, then acknowledges after the commit (bounded prefetch).",
        "channel": {"$ref": f"#/channels/{queue_id}"},
        "bindings": {"amqp": {"ack": True, "bindingVersion": BINDING_VERSION}},
    }
    operations["candystore.dead-letter"] = {
        "action": "send",
        "title": "Candystore dead-letters what it cannot store",
        "description": "The original body, byte-identical, with x-dlq-reason and x-dlq-detail.",
        "channel": {"$ref": f"#/channels/{dead_letters_id}"},
        "bindings": _send_binding(),
    }
    operations["dlq.inspect"] = {
        "action": "receive",
        "title": "Operators list, show and replay dead letters",
        "channel": {"$ref": f"#/channels/{dlq_id}"},
        "bindings": {"amqp": {"ack": True, "bindingVersion": BINDING_VERSION}},
    }
    schemas_out: dict[str, Any] = {_ENVELOPE: schema_set.envelope}
    schemas_out.update({t: schema_set.payloads[t] for t in event_types})
    messages[_DEAD_LETTER] = _dead_letter_message()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:33god:bus",
        "info": {
            "title": "33GOD event bus",
            "version": schema_set.envelope.get("properties", {}).get("version", {}).get("default", "1.0.0"),
            "description": "Bloodbank publishes envelopes of every Holyfields event type to a topic "
            "exchange; Candystore stores them; what cannot be stored is dead-lettered with a reason. "
            f"Generated by `{REGENERATE}` from the Holyfields schemas and the topology: do not edit by hand.",
            "x-holyfields-sha256": schema_set.sha256,
        },
        "defaultContentType": "application/json",
        "servers": {
            "broker": {
                "host": "{host}:{port}",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "Any RabbitMQ broker carrying this topology.",
                "variables": {"host": {"default": "localhost"}, "port": {"default": "5672"}},
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas_out, "messages": messages},
    }


def render(topology: Topology | None = None, schemas: str | Path = SCHEMA_DIR) -> str:
    """The exact text of the committed document (sorted keys, two-space indent, final newline)."""
    return json.dumps(build_document(topology, schemas), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def check(path: str | Path = ASYNCAPI_FILE, topology: Topology | None = None) -> str | None:
    """``None`` when ``path`` holds what :func:`render` writes; otherwise a message with a short diff."""
    file = Path(path)
    expected = render(topology)
    if not file.is_file():
        return f"{file} does not exist: run `{REGENERATE} --out {file}`"
    actual = file.read_text(encoding="utf-8")
    if actual == expected:
        return None
    diff = "".join(
        list(
            difflib.unified_diff(actual.splitlines(True), expected.splitlines(True), str(file), "generated")
        )[:40]
    )
    return f"{file} drifted from the schemas/topology: run `{REGENERATE} --out {file}` and commit it\n{diff}"


def validate(document: dict[str, Any]) -> list[str]:
    """Every violation of the official AsyncAPI 3.0.0 JSON Schema (vendored), as ``path: message``."""
    from jsonschema import Draft7Validator

    validator = Draft7Validator(_official_schema())
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(document)"
        problems.append(f"{where}: {error.message[:300]}")
    return problems


@cache
def _official_schema() -> dict[str, Any]:
    return json.loads(ASYNCAPI_JSON_SCHEMA.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ diff


def _display(path: str | Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _load(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read AsyncAPI document {file}: {exc}") from None
    if not isinstance(document, dict) or not str(document.get("asyncapi", "")).startswith("3."):
        raise ValueError(f"{file} is not an AsyncAPI 3 document (no `asyncapi: 3.x` field)")
    return document


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


_PROSE = frozenset({"title", "summary", "description", "x-description", "examples"})


def _without_prose(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_prose(v) for k, v in value.items() if k not in _PROSE}
    if isinstance(value, list):
        return [_without_prose(v) for v in value]
    return value


def _compare_objects(
    kind: str, old: dict[str, Any], new: dict[str, Any], what: str, changes: list[Change], skip: set[str]
) -> None:
    """Added (minor) / removed (major) entries of a map, and changes of those in both (prose: patch)."""
    for name in sorted(set(old) | set(new)):
        label = f"{kind} {name}"
        if name not in new:
            changes.append(Change("$", f"{kind}_removed", "major", f"the {what} was removed", file=label))
        elif name not in old:
            changes.append(Change("$", f"{kind}_added", "minor", f"a new {what}", file=label))
        else:
            before = {k: v for k, v in old[name].items() if k not in skip}
            after = {k: v for k, v in new[name].items() if k not in skip}
            for key in sorted(set(before) | set(after)):
                if _canon(before.get(key)) == _canon(after.get(key)):
                    continue
                if key in _PROSE or _canon(_without_prose(before.get(key))) == _canon(
                    _without_prose(after.get(key))
                ):
                    bump, why = "patch", "description or title only"
                elif (
                    key == "messages"
                    and isinstance(before.get(key), dict)
                    and isinstance(after.get(key), dict)
                ):
                    gone = set(before[key]) - set(after[key])
                    bump = "major" if gone else "minor"
                    why = f"messages removed: {', '.join(sorted(gone))}" if gone else "messages added"
                else:
                    for where, was, now in _leaves(before.get(key), after.get(key), f"$.{key}"):
                        if where.rsplit(".", 1)[-1] in _PROSE:
                            continue
                        why = f"{where[2:]}: {_show(was)} -> {_show(now)} (producers, consumers or broker "
                        changes.append(
                            Change(
                                where,
                                f"{kind}_{key}_changed",
                                "major",
                                why + "objects differ)",
                                key,
                                "",
                                was,
                                now,
                                label,
                            )
                        )
                    continue
                changes.append(
                    Change(
                        f"$.{key}",
                        f"{kind}_{key}_changed",
                        bump,
                        why,
                        key,
                        "",
                        before.get(key),
                        after.get(key),
                        label,
                    )
                )


_ABSENT = "<absent>"


def _show(value: Any) -> str:
    return value if value is _ABSENT else json.dumps(value, ensure_ascii=False)[:80]


def _leaves(old: Any, new: Any, path: str) -> list[tuple[str, Any, Any]]:
    """Where two JSON values differ: (JSONPath, old, new), descending into objects."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            found += _leaves(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}")
        return found
    return [] if _canon(old) == _canon(new) else [(path, old, new)]


class AsyncApiDiff(SchemaDiff):
    """A :class:`~holyfields.SchemaDiff` of two AsyncAPI documents, with advice for bus-level changes."""

    def advice(self) -> list[str]:
        notes = []
        for label in sorted({c.file for c in self.changes if c.bump == "major" and c.file}):
            kind, _, name = label.partition(" ")
            match = _EVENT_TYPE.match(name.split(" ")[0])
            if kind == "schema" and match:
                notes.append(
                    f"{label}: breaking: publish the change as a new event type "
                    f"({match['stem']}.v{int(match['n']) + 1}) and keep v{match['n']} until its "
                    "producers and consumers have moved"
                )
            elif kind in ("channel", "operation"):
                notes.append(
                    f"{label}: breaking for the bus: broker objects, producers and consumers must change "
                    "together (declare the new objects beside the old ones, move, then remove the old)"
                )
        if self.bump == "major" and not notes:
            notes.append("breaking: coordinate producers and consumers before deploying this document")
        return notes


_EVENT_TYPE = re.compile(r"^(?P<stem>[a-z][a-z0-9]*\.[a-z_.]+)\.v(?P<n>[0-9]+)$")


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> AsyncApiDiff:
    """Classify every change from AsyncAPI document ``old`` to ``new`` like ``harness schemas diff``.

    The schemas (``components.schemas``: the envelope and each payload) are compared with the schema
    classifier, so an added optional payload field is minor and an added required one major; a schema
    added is minor, removed major. Channels, operations, messages and their AMQP bindings (exchange, queue,
    arguments, routing) compare as values: removing or changing one is major (a consumer or a broker object
    no longer matches), adding one is minor, a change of prose only is a patch.
    """
    changes: list[Change] = []
    _compare_objects("channel", old.get("channels", {}), new.get("channels", {}), "channel", changes, set())
    _compare_objects(
        "operation", old.get("operations", {}), new.get("operations", {}), "operation", changes, set()
    )
    old_parts, new_parts = old.get("components", {}), new.get("components", {})
    _compare_objects(
        "message",
        old_parts.get("messages", {}),
        new_parts.get("messages", {}),
        "message",
        changes,
        {"headers"},
    )
    old_schemas, new_schemas = old_parts.get("schemas", {}), new_parts.get("schemas", {})
    for name in sorted(set(old_schemas) | set(new_schemas)):
        label = f"schema {name}"
        if name not in new_schemas:
            changes.append(Change("$", "schema_removed", "major", "the schema was removed", file=label))
        elif name not in old_schemas:
            changes.append(Change("$", "schema_added", "minor", "a new schema", file=label))
        else:
            result = diff_schemas(
                _resolve_refs(old_schemas[name], old), _resolve_refs(new_schemas[name], new)
            )
            changes.extend(_relabel(result.changes, label))
    old_messages, new_messages = old_parts.get("messages", {}), new_parts.get("messages", {})
    for name in sorted(set(old_messages) & set(new_messages)):
        before = _resolve_refs(old_messages[name].get("headers", {}), old)
        after = _resolve_refs(new_messages[name].get("headers", {}), new)
        changes.extend(_relabel(diff_schemas(before, after).changes, f"message {name} headers"))
    for key in sorted((set(old) | set(new)) - {"channels", "operations", "components"}):
        if _canon(old.get(key)) != _canon(new.get(key)):
            prose_only = _canon(_without_prose(old.get(key))) == _canon(_without_prose(new.get(key)))
            bump: Bump = "patch" if prose_only or key == "info" else "major"
            changes.append(
                Change(
                    f"$.{key}",
                    f"{key}_changed",
                    bump,
                    f"{key} changed",
                    key,
                    "",
                    old.get(key),
                    new.get(key),
                    "document",
                )
            )
    return AsyncApiDiff(changes)


def _relabel(changes: list[Change], label: str) -> list[Change]:
    return [
        Change(c.path, c.kind, c.bump, c.why, c.keyword, c.schema_path, c.old, c.new, label) for c in changes
    ]


# ------------------------------------------------------------------------------------------ command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Fill the ``harness asyncapi`` parser with ``generate``, ``check`` and ``diff``."""
    actions = parser.add_subparsers(
        dest="asyncapi_action", required=True, metavar="{generate,check,validate,diff}"
    )
    generate = actions.add_parser(
        "generate", help="write the AsyncAPI 3.0 document of the bus (schemas + topology)"
    )
    generate.add_argument(
        "--out", default=str(ASYNCAPI_FILE), help="output file, '-' for stdout (default: %(default)s)"
    )
    generate.add_argument(
        "--profile", help="target profile (TOML) whose [broker] names to use instead of the SPEC's"
    )
    check_parser = actions.add_parser("check", help="exit 1 when the committed document drifted")
    check_parser.add_argument("--file", default=str(ASYNCAPI_FILE), help="(default: %(default)s)")
    validating = actions.add_parser(
        "validate", help="validate an AsyncAPI 3.0 document against the official JSON Schema (exit 1 if not)"
    )
    validating.add_argument("file", type=Path)
    diff = actions.add_parser(
        "diff",
        help="classify the change between two AsyncAPI documents as patch, minor or major",
        description="Exit code 0: none/patch/minor (compatible); 1: major (breaking); 2: cannot compare.",
    )
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)
    diff.add_argument("--json", action="store_true", help="print the result as one JSON document")


def run(args: argparse.Namespace, topology: Topology | None = None) -> int:
    """Run ``harness asyncapi ...``; return the exit code (0 ok, 1 drift/major, 2 bad input).

    ``topology``: the broker names ``generate`` writes (the caller reads ``--profile``); SPEC names without.
    """
    action = args.asyncapi_action
    try:
        if action == "generate":
            text = render(topology)
            if args.out == "-":
                sys.stdout.write(text)
            else:
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                Path(args.out).write_text(text, encoding="utf-8")
                document = json.loads(text)
                print(
                    f"wrote {_display(args.out)}: {len(document['channels'])} channels, "
                    f"{len(document['components']['messages'])} messages, "
                    f"{len(document['operations'])} operations"
                )
            return 0
        if action == "check":
            problem = check(args.file)
            if problem:
                print(problem, file=sys.stderr)
                return 1
            print(f"{_display(args.file)} matches the schemas and the topology")
            return 0
        if action == "validate":
            problems = validate(_load(args.file))
            for problem in problems:
                print(problem, file=sys.stderr)
            if problems:
                print(
                    f"{_display(args.file)}: {len(problems)} violation(s) of AsyncAPI 3.0.0", file=sys.stderr
                )
                return 1
            print(f"{_display(args.file)} is a valid AsyncAPI 3.0.0 document")
            return 0
        result = diff_documents(_load(args.old), _load(args.new))
    except ValueError as exc:
        print(f"harness asyncapi {action}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(result.render())
    return 1 if result.bump == "major" else 0
