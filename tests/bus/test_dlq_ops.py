"""``harness dlq list|show|replay`` on dead letters the reference Candystore produced on a private stack.

The story: producers sign with a new key ``k2`` before Candystore knows it, so their events are
dead-lettered (``signature_invalid``); the fix is to give Candystore the key, and the operator replays.
Broken events (``envelope_invalid``, ``json_invalid``) stay in the DLQ. A replay killed half-way loses
nothing: every event is afterwards in the DLQ, stored, or both (Candystore's idempotence absorbs that).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pika
import psycopg
import pytest

from harness.backends import LocalBackend, free_port, wait_until
from harness.cli import main as harness_main
from harness.dlq import Letter, list_dead_letters, replay, replay_properties
from harness.ledger import DeadLetter, Ledger, db_stored_counts, wait_until_settled
from harness.probes import RawPublisher, encode
from holyfields import make_envelope
from holyfields.topology import Topology

from .conftest import KEYS, Candystore, keyring, queue_depth

TOPO = Topology()
FIXED_TYPE = "github.pr.opened.v1"  # the few replayed by hand
BULK_TYPE = "agent.tool.invoked.v1"  # the many of the kill-mid-replay run
BULK = 60


@dataclass
class DeadLetters:
    url: str
    fixed: list[str]  # signature_invalid, FIXED_TYPE
    bulk: list[str]  # signature_invalid, BULK_TYPE
    broken_envelope: str
    broken_json: str
    bodies: dict[str, bytes]


@pytest.fixture(scope="module")
def dead_letters(managed_backend: LocalBackend, bus_candystore: Candystore) -> DeadLetters:
    """Dead letters of three reasons, produced by the reference Candystore; then Candystore gets key k2."""
    url = managed_backend.amqp_url
    before = queue_depth(url, TOPO.dlq)
    publisher = RawPublisher(url, TOPO)
    bodies: dict[str, bytes] = {}

    def send(event_type: str, key: str, **overrides: Any) -> str:
        envelope = make_envelope(event_type, **overrides)
        body = encode(envelope)
        bodies[envelope["event_id"]] = body
        publisher.publish(body, event_type, message_id=envelope["event_id"], signing_key=(key, KEYS[key]))
        return envelope["event_id"]

    try:
        fixed = [send(FIXED_TYPE, "k2") for _ in range(3)]
        bulk = [send(BULK_TYPE, "k2") for _ in range(BULK)]
        broken_envelope = send(FIXED_TYPE, "k1", source="not an object")
        broken_json = str(uuid.uuid4())
        publisher.publish(b"{not json", FIXED_TYPE, message_id=broken_json, signing_key=("k1", KEYS["k1"]))
    finally:
        publisher.close()
    expected = before + len(fixed) + len(bulk) + 2
    wait_until(
        lambda: queue_depth(url, TOPO.dlq) >= expected, timeout=30, describe=f"{expected} dead letters"
    )
    bus_candystore.restart(keyring("k1", "k2"))  # the fix: Candystore now knows the producers' key
    return DeadLetters(url, fixed, bulk, broken_envelope, broken_json, bodies)


def _dlq(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = harness_main(["dlq", *argv])
    return code, capsys.readouterr().out


def test_list_filters_and_leaves_the_queue_as_it_was(
    dead_letters: DeadLetters, capsys: pytest.CaptureFixture[str]
) -> None:
    url = dead_letters.url
    depth = queue_depth(url, TOPO.dlq)
    code, out = _dlq(capsys, "list", "--amqp-url", url, "--json", "--limit", "1000")
    assert code == 0
    rows = {row["id"]: row for row in json.loads(out)}
    for event_id in dead_letters.fixed + dead_letters.bulk:
        assert rows[event_id]["reason"] == "signature_invalid"
        assert rows[event_id]["routing_key"] == rows[event_id]["event_type"]
    assert rows[dead_letters.broken_envelope]["reason"] == "envelope_invalid"
    assert "source" in rows[dead_letters.broken_envelope]["detail"]
    assert rows[dead_letters.broken_json]["reason"] == "json_invalid"
    assert rows[dead_letters.broken_json]["event_type"] is None
    assert all(row["age_seconds"] is not None and row["age_seconds"] < 300 for row in rows.values())

    code, out = _dlq(capsys, "list", "--amqp-url", url, "--json", "--event-type", FIXED_TYPE)
    by_type = json.loads(out)
    assert {r["id"] for r in by_type} == {*dead_letters.fixed, dead_letters.broken_envelope}
    code, out = _dlq(capsys, "list", "--amqp-url", url, "--reason", "signature_invalid", "--limit", "5")
    assert code == 0 and out.count("signature_invalid") == 5 and "5 dead letter(s)" in out
    assert "envelope_invalid" not in out
    assert queue_depth(url, TOPO.dlq) == depth, "listing must not consume the DLQ"


def test_show_prints_headers_and_body(dead_letters: DeadLetters, capsys: pytest.CaptureFixture[str]) -> None:
    event_id = dead_letters.fixed[0]
    code, out = _dlq(capsys, "show", "--amqp-url", dead_letters.url, event_id)
    assert code == 0
    assert '"x-dlq-reason": "signature_invalid"' in out and '"x-signature-key-id": "k2"' in out
    assert f'"event_id": "{event_id}"' in out and '"message_id": "' + event_id in out
    assert f"body ({len(dead_letters.bodies[event_id])} bytes)" in out
    assert harness_main(["dlq", "show", "--amqp-url", dead_letters.url, str(uuid.uuid4())]) == 1
    assert "no dead letter with event id" in capsys.readouterr().err


def test_replay_after_the_fix_stores_them_once_and_keeps_the_rest(
    dead_letters: DeadLetters, managed_backend: LocalBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    url, fixed = dead_letters.url, dead_letters.fixed
    depth = queue_depth(url, TOPO.dlq)
    argv = ["replay", "--amqp-url", url, "--reason", "signature_invalid", "--event-type", FIXED_TYPE]
    code, out = _dlq(capsys, *argv, "--dry-run")
    assert code == 0 and "would replay 3 of 3 matching" in out
    assert queue_depth(url, TOPO.dlq) == depth, "a dry run changes nothing"

    code, out = _dlq(capsys, *argv)
    assert code == 0 and "replayed 3 of 3 matching" in out, out
    ledger = Ledger("dlq-replay")
    for event_id in fixed:
        ledger.attempt(event_id, accepted=True)
    assert wait_until_settled(
        ledger, lambda: ledger.observe_stored(db_stored_counts(managed_backend.database_url)), timeout=20
    )
    verdict = ledger.verdict()
    assert (verdict.stored, verdict.lost, verdict.duplicated) == (3, 0, 0), verdict.table()
    assert queue_depth(url, TOPO.dlq) == depth - 3
    with psycopg.connect(managed_backend.database_url) as conn:
        rows = conn.execute(
            "select event_id::text, raw_body from events where event_id = any(%s::uuid[])", [fixed]
        )
        assert {eid: bytes(raw) for eid, raw in rows} == {eid: dead_letters.bodies[eid] for eid in fixed}


def test_a_replay_that_fails_again_comes_back_counted(
    dead_letters: DeadLetters, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = dead_letters.broken_envelope
    code, out = _dlq(capsys, "replay", "--amqp-url", dead_letters.url, "--ids", broken)
    assert code == 0 and "replayed 1 of 1" in out

    def back() -> bool:
        letters = list_dead_letters(dead_letters.url, TOPO, event_type=FIXED_TYPE, limit=1000)
        return any(letter.id == broken and letter.headers.get("x-dlq-replays") == 1 for letter in letters)

    wait_until(back, timeout=20, describe="the replayed broken envelope dead-lettered again")
    letters = list_dead_letters(dead_letters.url, TOPO, reason="envelope_invalid", limit=1000)
    assert [letter.id for letter in letters].count(broken) == 1, "exactly one copy, back in the DLQ"
    assert "x-death" not in letters[0].headers and letters[0].reason == "envelope_invalid"


#: a replay killed (SIGKILL, by itself) right after the broker confirmed its 10th republish, before the ack
KILL_AT_CONFIRM = """
import os, signal, sys
from harness.dlq import replay
from holyfields.topology import Topology
seen = []
def confirmed(letter):
    seen.append(letter.id)
    if len(seen) == 10:
        print("confirmed-not-acked", letter.id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
replay(sys.argv[1], Topology(), event_type=sys.argv[2], on_confirmed=confirmed)
"""


def _kill_replay_after(argv: list[str], prefix: str, count: int) -> list[str]:
    """Run a replay, SIGKILL it once it printed ``count`` lines starting with ``prefix``; their ids."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        if line.startswith(prefix):
            seen.append(line.split()[1])
            if len(seen) == count:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, f"the replay must be killed mid-way (exit {proc.returncode})"
    return seen


def test_killing_a_replay_midway_loses_nothing(
    dead_letters: DeadLetters, managed_backend: LocalBackend
) -> None:
    url, bulk = dead_letters.url, dead_letters.bulk

    def places() -> tuple[set[str], set[str]]:
        """(stored, in the DLQ) now."""
        counts = db_stored_counts(managed_backend.database_url)
        letters = list_dead_letters(url, TOPO, event_type=BULK_TYPE, limit=1000)
        return {e for e in bulk if counts.get(e)}, {letter.id for letter in letters}

    def after_kill(label: str) -> tuple[set[str], set[str]]:
        """Once every event is stored or back in the DLQ (the ledger settles), where each one is."""
        ledger = Ledger(label)  # observations since the kill only: nothing leaves the DLQ any more
        for event_id in bulk:
            ledger.attempt(event_id, accepted=True)

        def observe() -> None:
            ledger.observe_stored(db_stored_counts(managed_backend.database_url))
            letters = list_dead_letters(url, TOPO, event_type=BULK_TYPE, limit=1000)
            ledger.observe_dead_letters([letter.letter for letter in letters])

        settled = wait_until_settled(ledger, observe, timeout=20)
        verdict = ledger.verdict()
        assert settled and verdict.lost == 0 and verdict.duplicated == 0, verdict.table()
        stored, in_dlq = places()
        lost = set(bulk) - stored - in_dlq
        assert not lost, f"{label}: lost {sorted(lost)}"
        print(
            f"\n{label}: {len(bulk)} dead letters: {len(stored - in_dlq)} stored only, "
            f"{len(in_dlq - stored)} in the DLQ only, {len(stored & in_dlq)} in both, {len(lost)} lost"
        )
        return stored, in_dlq

    # 1. the command, killed after 20 confirmed replays (SIGKILL from outside, wherever it is then)
    command = [sys.executable, "-m", "harness.cli", "dlq", "replay", "--amqp-url", url]
    confirmed = _kill_replay_after([*command, "--event-type", BULK_TYPE, "--rate", "150"], "replayed: ", 20)
    stored, _ = after_kill("killed after 20 confirms")
    assert set(confirmed) <= stored, "every confirmed replay of the command was stored"
    # 2. a replay killed exactly between a confirm and its ack: that one is republished AND still in the DLQ
    (in_both,) = _kill_replay_after(
        [sys.executable, "-c", KILL_AT_CONFIRM, url, BULK_TYPE], "confirmed-not-acked ", 1
    )
    # its unacknowledged letter goes back to the DLQ when the broker sees the connection gone
    wait_until(lambda: in_both in places()[1], timeout=10, describe="the unacknowledged letter requeued")
    stored, in_dlq = after_kill("killed between a confirm and its ack")
    assert in_both in stored and in_both in in_dlq, "confirmed but not acked: in both places"

    result = replay(url, TOPO, event_type=BULK_TYPE)  # finish the job: the duplicate is absorbed
    assert not result.failed and in_both in result.replayed

    def stored_once() -> bool:
        counts = db_stored_counts(managed_backend.database_url)
        return all(counts.get(e) == 1 for e in bulk)

    wait_until(stored_once, timeout=20, describe=f"all {len(bulk)} stored exactly once")
    assert list_dead_letters(url, TOPO, event_type=BULK_TYPE, limit=1000) == []


def _letter(headers: dict[str, Any], body: bytes = b'{"event_type": "github.pr.opened.v1"}') -> Letter:
    props = pika.BasicProperties(message_id="m-1", headers=headers, delivery_mode=2, timestamp=1)
    return Letter(DeadLetter.from_message(SimpleNamespace(routing_key="dlq.candystore"), props, body), props)


def test_the_routing_key_of_a_replay() -> None:
    recorded = {"x-original-routing-key": "github.pr.opened.v1", "x-original-exchange": "bloodbank.events.v1"}
    assert _letter(recorded).routing_key == "github.pr.opened.v1"
    via_exchange = {"x-death": [{"exchange": "bloodbank.events.v1", "routing-keys": ["custom.key.v1"]}]}
    assert _letter(via_exchange).routing_key == "custom.key.v1"
    via_queue = {"x-death": [{"exchange": "", "routing-keys": ["some-private-queue"]}]}
    assert _letter(via_queue).routing_key == "github.pr.opened.v1", "a queue name is no routing key"
    assert _letter({}, b"{not json").routing_key is None


def test_replay_properties_drop_the_dead_lettering_and_count_replays() -> None:
    headers = {
        "x-dlq-reason": "signature_invalid",
        "x-dlq-detail": "unknown key",
        "x-original-routing-key": "github.pr.opened.v1",
        "x-death": [{"reason": "rejected"}],
        "x-signature": "sha256=00",
        "x-signature-key-id": "k2",
        "x-dlq-replays": 2,
    }
    props = replay_properties(_letter(headers))
    assert props.headers == {"x-signature": "sha256=00", "x-signature-key-id": "k2", "x-dlq-replays": 3}
    assert (props.message_id, props.delivery_mode, props.timestamp) == ("m-1", 2, 1)


def test_bad_input_is_a_clear_error(
    managed_backend: LocalBackend,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HARNESS_AMQP_URL", raising=False)
    assert harness_main(["dlq", "list"]) == 2
    assert "give --amqp-url" in capsys.readouterr().err
    profile = tmp_path / "team.toml"
    profile.write_text('[broker]\ndlq = "team.dead-letters"\n', encoding="utf-8")
    argv = ["dlq", "replay", "--amqp-url", managed_backend.amqp_url, "--profile", str(profile)]
    assert harness_main(argv) == 2
    assert "no queue 'team.dead-letters' on this broker" in capsys.readouterr().err
    closed = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    assert harness_main(["dlq", "show", "--amqp-url", closed, str(uuid.uuid4())]) == 2
    assert "cannot connect to the broker" in capsys.readouterr().err
    assert harness_main(["dlq", "list", "--amqp-url", managed_backend.amqp_url, "--limit", "0"]) == 2
