"""``harness topology check``: a live broker against the expected topology (SPEC §2), both ways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pika
import pytest

from harness.backends import LocalBackend
from harness.cli import main as harness_main
from harness.topology import check_topology
from holyfields.topology import Topology

from .conftest import Candystore


def _lines(out: str) -> dict[str, str]:
    """Object label -> its line of the report (``exchange NAME``, ``queue NAME``, ``binding A -> B '#'``)."""
    found = {}
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] in ("ok", "missing", "differs", "unchecked"):
            found[parts[1].split(":", 1)[0]] = parts[0]
            found[parts[1].split(":", 1)[0] + " line"] = line
    return found


def test_the_reference_stack_passes_through_the_management_api(
    managed_backend: LocalBackend, bus_candystore: Candystore, capsys: pytest.CaptureFixture[str]
) -> None:
    report = check_topology(managed_backend.amqp_url, Topology(), managed_backend.management_url)
    assert report.mode == "management"
    assert [f.status for f in report.findings] == ["ok"] * 6, report.render()
    argv = ["topology", "check", "--amqp-url", managed_backend.amqp_url]
    assert harness_main([*argv, "--management-url", managed_backend.management_url]) == 0
    out = capsys.readouterr().out
    assert "(management HTTP API)" in out
    assert sum(1 for status in _lines(out).values() if status == "ok") == 6, out


def test_the_reference_stack_passes_over_amqp_alone(
    managed_backend: LocalBackend, bus_candystore: Candystore, capsys: pytest.CaptureFixture[str]
) -> None:
    # no --management-url: port 15672 of the host is not this node's API, so AMQP alone is used
    assert harness_main(["topology", "check", "--amqp-url", managed_backend.amqp_url]) == 0
    out = capsys.readouterr().out
    lines = _lines(out)
    assert "(AMQP only)" in out and "note: no management API" in out
    assert lines["queue candystore.events"] == "ok" and lines["exchange bloodbank.events.dlq"] == "ok"
    assert lines["binding bloodbank.events.dlq -> dlq.all '#'"] == "ok"  # the DLX probe was routed
    assert lines["binding bloodbank.events.v1 -> candystore.events '#'"] == "unchecked"


@pytest.fixture(scope="module")
def broken_vhost(managed_backend: LocalBackend) -> Iterator[str]:
    """AMQP URL of a vhost whose Candystore queue lacks its dead-letter arguments and that has no DLQ."""
    api = httpx.Client(
        base_url=managed_backend.management_url.replace("guest:guest@", ""), auth=("guest", "guest")
    )
    vhost = "no-dlx"
    assert api.put(f"/api/vhosts/{vhost}").status_code in (201, 204)
    permissions = {"configure": ".*", "write": ".*", "read": ".*"}
    assert api.put(f"/api/permissions/{vhost}/guest", json=permissions).status_code in (201, 204)
    url = managed_backend.amqp_url.rsplit("/", 1)[0] + "/" + quote(vhost, safe="")
    topo = Topology()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.exchange_declare(topo.exchange, "topic", durable=True)
    channel.exchange_declare(topo.dlx, "topic", durable=True)
    channel.queue_declare(topo.queue, durable=True, arguments={"x-max-length": 500})  # no DLX, no TTL
    channel.queue_bind(topo.queue, topo.exchange, "#")
    connection.close()
    yield url
    api.delete(f"/api/vhosts/{vhost}")
    api.close()


@pytest.mark.parametrize("mode", ["management", "amqp"])
def test_a_queue_without_its_dead_letter_arguments_fails_naming_them(
    managed_backend: LocalBackend, broken_vhost: str, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["topology", "check", "--amqp-url", broken_vhost]
    if mode == "management":
        argv += ["--management-url", managed_backend.management_url]
    assert harness_main(argv) == 1
    out = capsys.readouterr().out
    lines = _lines(out)
    queue = lines["queue candystore.events line"]
    assert lines["queue candystore.events"] == "differs"
    assert "argument x-dead-letter-exchange: expected 'bloodbank.events.dlq', actual absent" in queue
    assert "argument x-dead-letter-routing-key: expected 'dlq.candystore', actual absent" in queue
    assert "argument x-max-length: expected 10000, actual 500" in queue
    assert lines["queue dlq.all"] == "missing"
    assert lines["binding bloodbank.events.dlq -> dlq.all '#'"] == "missing"
    assert lines["exchange bloodbank.events.v1"] == "ok"
    assert out.rstrip().endswith("the broker differs")


def test_names_come_from_the_profile(
    managed_backend: LocalBackend,
    bus_candystore: Candystore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    profile = tmp_path / "team.toml"
    profile.write_text('[broker]\nqueue = "team.events"\n', encoding="utf-8")
    argv = ["topology", "check", "--amqp-url", managed_backend.amqp_url, "--profile", str(profile)]
    assert harness_main([*argv, "--management-url", managed_backend.management_url]) == 1
    lines = _lines(capsys.readouterr().out)
    assert lines["queue team.events"] == "missing"
    assert lines["binding bloodbank.events.v1 -> team.events '#'"] == "missing"
    assert lines["queue dlq.all"] == "ok"


def test_bad_input_is_a_clear_error(
    managed_backend: LocalBackend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARNESS_AMQP_URL", raising=False)
    assert harness_main(["topology", "check"]) == 2
    assert "give --amqp-url" in capsys.readouterr().err
    argv = ["topology", "check", "--amqp-url", managed_backend.amqp_url, "--management-url", "ftp://x"]
    assert harness_main(argv) == 2
    assert "is not an http(s) URL" in capsys.readouterr().err


def test_an_explicit_classic_queue_type_is_no_difference() -> None:
    from harness.topology import _compare, expected_objects

    queue = next(obj for obj in expected_objects(Topology()) if obj.name == "dlq.all")
    declared = {"durable": True, "auto_delete": False, "exclusive": False, "type": "classic"}
    assert _compare(queue.properties, {**declared, "arguments": {"x-queue-type": "classic"}}) == []
    quorum = {**declared, "type": "quorum", "arguments": {"x-queue-type": "quorum"}}
    assert _compare(queue.properties, quorum) == [
        ("type", "classic", "quorum"),
        ("argument x-queue-type", "absent", "quorum"),
    ]
