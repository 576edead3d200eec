"""The AsyncAPI 3.0 document of the bus: valid per the official schema, faithful, drift-checked, diffable."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from harness.cli import main as harness_main
from holyfields import make_envelope, registry
from holyfields._diff import _resolve_refs
from holyfields.asyncapi import (
    ASYNCAPI_FILE,
    ASYNCAPI_JSON_SCHEMA,
    BINDING_VERSION,
    build_document,
    check,
    diff_documents,
    render,
    validate,
)
from holyfields.topology import Topology

DOC = build_document()


@pytest.fixture(scope="module")
def official() -> Draft7Validator:
    """The official AsyncAPI 3.0.0 JSON Schema (vendored from npm @asyncapi/specs, see its README)."""
    schema = json.loads(ASYNCAPI_JSON_SCHEMA.read_text(encoding="utf-8"))
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    return Draft7Validator(schema)


def _errors(validator: Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)]


def test_the_generated_document_is_valid_asyncapi_3(official: Draft7Validator) -> None:
    assert _errors(official, DOC) == []
    assert validate(DOC) == []


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert harness_main(["asyncapi", "validate", str(ASYNCAPI_FILE)]) == 0
    broken = copy.deepcopy(DOC)
    broken["operations"]["candystore.consume"]["action"] = "subscribe"
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    assert harness_main(["asyncapi", "validate", str(tmp_path / "broken.json")]) == 1
    assert "operations/candystore.consume" in capsys.readouterr().err


@pytest.mark.parametrize(
    "where, value",
    [
        (("operations", "candystore.consume", "action"), "subscribe"),  # AsyncAPI 2 wording
        (("channels", "github.pr.opened.v1", "bindings", "amqp", "exchange", "type"), "bogus"),
        (("channels", "candystore.events", "bindings", "amqp", "queueArguments"), {}),  # not x-
    ],
)
def test_the_official_schema_rejects_a_broken_document(
    official: Draft7Validator, where: tuple[str, ...], value: Any
) -> None:
    broken = copy.deepcopy(DOC)
    target = broken
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    assert _errors(official, broken), f"setting {'.'.join(where)} should make the document invalid"


def test_one_channel_per_event_type_on_the_main_exchange() -> None:
    topo = Topology()
    for event_type in registry().event_types:
        channel = DOC["channels"][event_type]
        assert channel["address"] == event_type
        binding = channel["bindings"]["amqp"]
        assert binding["is"] == "routingKey" and binding["bindingVersion"] == BINDING_VERSION
        assert binding["exchange"] == {
            "name": topo.exchange,
            "type": "topic",
            "durable": True,
            "autoDelete": False,
            "vhost": "/",
        }
        operation = DOC["operations"][f"publish.{event_type}"]
        assert operation["action"] == "send"
        assert operation["bindings"]["amqp"] == {
            "deliveryMode": 2,
            "mandatory": True,
            "timestamp": True,
            "bindingVersion": BINDING_VERSION,
        }


def test_queues_carry_their_dead_letter_arguments_and_bindings() -> None:
    topo = Topology()
    queue = DOC["channels"]["candystore.events"]["bindings"]["amqp"]
    assert queue["queue"]["name"] == topo.queue and queue["queue"]["durable"] is True
    assert queue["x-queue-arguments"] == {
        "x-dead-letter-exchange": "bloodbank.events.dlq",
        "x-dead-letter-routing-key": "dlq.candystore",
        "x-message-ttl": 86_400_000,
        "x-max-length": 10_000,
    }
    assert queue["x-bindings"] == [{"exchange": topo.exchange, "routingKey": "#"}]
    dlq = DOC["channels"]["dlq"]["bindings"]["amqp"]
    assert dlq["queue"]["name"] == "dlq.all" and dlq["x-bindings"] == [
        {"exchange": topo.dlx, "routingKey": "#"}
    ]
    dead_letters = DOC["channels"]["dead-letters"]
    assert dead_letters["address"] == topo.dlq_routing_key
    assert dead_letters["bindings"]["amqp"]["exchange"]["name"] == topo.dlx


@pytest.mark.parametrize("event_type", registry().event_types)
def test_each_message_schema_is_the_envelope_with_its_payload(event_type: str) -> None:
    message = DOC["components"]["messages"][event_type]
    assert message["contentType"] == "application/json"
    validator = Draft7Validator(_resolve_refs(message["payload"], DOC))
    good = make_envelope(event_type)
    assert list(validator.iter_errors(good)) == []
    other = next(t for t in registry().event_types if t != event_type)
    assert list(validator.iter_errors(make_envelope(other))), "an event of another type must not match"
    missing = copy.deepcopy(good)
    del missing["payload"][registry().payload_schema(event_type)["required"][0]]
    assert list(validator.iter_errors(missing)), "a payload without a required field must not match"


def test_the_profile_names_go_into_the_document(tmp_path: Path) -> None:
    profile, out = tmp_path / "team.toml", tmp_path / "team.asyncapi.json"
    profile.write_text('[broker]\nexchange = "team.bloodbank.events.v1"\n', encoding="utf-8")
    assert harness_main(["asyncapi", "generate", "--profile", str(profile), "--out", str(out)]) == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["channels"]["n8n.workflow.completed.v1"]["bindings"]["amqp"]["exchange"]["name"] == (
        "team.bloodbank.events.v1"
    )
    doc = build_document(Topology().prefixed("team."))
    assert doc["channels"]["candystore.events"]["address"] == "team.candystore.events"
    assert (
        doc["channels"]["github.pr.opened.v1"]["bindings"]["amqp"]["exchange"]["name"]
        == "team.bloodbank.events.v1"
    )


def test_the_committed_document_has_not_drifted() -> None:
    assert check() is None, f"run: harness asyncapi generate (committed file: {ASYNCAPI_FILE})"
    assert ASYNCAPI_FILE.read_text(encoding="utf-8") == render()


def test_check_and_generate_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "bus.json"
    doc = copy.deepcopy(DOC)
    doc["channels"]["candystore.events"]["bindings"]["amqp"]["x-queue-arguments"]["x-max-length"] = 1
    stale.write_text(json.dumps(doc), encoding="utf-8")
    assert harness_main(["asyncapi", "check", "--file", str(stale)]) == 1
    assert "drifted" in capsys.readouterr().err
    assert harness_main(["asyncapi", "generate", "--out", str(stale)]) == 0
    assert harness_main(["asyncapi", "check", "--file", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == render()


def _field_added(required: bool) -> dict[str, Any]:
    doc = copy.deepcopy(DOC)
    schema = doc["components"]["schemas"]["github.pr.opened.v1"]
    schema["properties"]["draft"] = {"type": "boolean"}
    if required:
        schema["required"].append("draft")
    return doc


def test_diff_classifies_like_schemas_diff() -> None:
    assert diff_documents(DOC, DOC).bump == "none"
    optional = diff_documents(DOC, _field_added(required=False))
    assert optional.bump == "minor" and optional.changes[0].path == "$.draft"
    required = diff_documents(DOC, _field_added(required=True))
    assert required.bump == "major"
    assert any("github.pr.opened.v2" in note for note in required.advice())
    prose = copy.deepcopy(DOC)
    prose["channels"]["dlq"]["description"] = "Where dead letters wait."
    assert diff_documents(DOC, prose).bump == "patch"
    removed = copy.deepcopy(DOC)
    del removed["channels"]["n8n.workflow.completed.v1"]
    assert diff_documents(DOC, removed).bump == "major"
    assert diff_documents(removed, DOC).bump == "minor"


def test_diff_names_a_changed_queue_argument() -> None:
    result = diff_documents(DOC, build_document(Topology(queue_max_length=5)))
    assert result.bump == "major"
    paths = [c.path for c in result.changes]
    assert paths == ["$.bindings.amqp.x-queue-arguments.x-max-length"], result.render()
    assert "10000 -> 5" in result.render()


def test_diff_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, minor, major = tmp_path / "old.json", tmp_path / "minor.json", tmp_path / "major.json"
    old.write_text(json.dumps(DOC), encoding="utf-8")
    minor.write_text(json.dumps(_field_added(required=False)), encoding="utf-8")
    major.write_text(json.dumps(_field_added(required=True)), encoding="utf-8")
    assert harness_main(["asyncapi", "diff", str(old), str(minor)]) == 0
    assert "bump: minor" in capsys.readouterr().out
    assert harness_main(["asyncapi", "diff", str(old), str(major), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["bump"] == "major"
    assert harness_main(["asyncapi", "diff", str(old), str(tmp_path / "nope.json")]) == 2
    (tmp_path / "openapi.json").write_text('{"openapi": "3.1.0"}', encoding="utf-8")
    assert harness_main(["asyncapi", "diff", str(old), str(tmp_path / "openapi.json")]) == 2
    assert "not an AsyncAPI 3 document" in capsys.readouterr().err
