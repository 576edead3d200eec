"""Pure functions of the Candystore package (no servers)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from reference_impl.candystore.codec import encode_event
from reference_impl.candystore.config import ConfigError, Settings, parse_signing_keys
from reference_impl.candystore.signing import verify_signature
from reference_impl.candystore.storage import migrations
from reference_impl.candystore.stream import topic_matches


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.port, settings.prefetch, settings.require_signatures) == (8683, 1000, False)
    assert settings.topology.queue == "candystore.events"


def test_environment_is_read() -> None:
    settings = Settings.from_env(
        {
            "CANDYSTORE_AMQP_URL": "amqp://x",
            "CANDYSTORE_DATABASE_URL": "postgresql://y/z",
            "CANDYSTORE_HOST": "127.0.0.2",
            "CANDYSTORE_PORT": "9000",
            "HARNESS_QUEUE": "q",
            "CANDYSTORE_PREFETCH": "50",
            "CANDYSTORE_BATCH_SIZE": "10",
            "CANDYSTORE_BATCH_LINGER_MS": "20",
            "CANDYSTORE_MAX_TRANSIENT_ATTEMPTS": "7",
            "CANDYSTORE_REQUIRE_SIGNATURES": "yes",
            "CANDYSTORE_SIGNING_KEYS": "a:1, b:two:parts",
        }
    )
    assert (settings.amqp_url, settings.database_url, settings.host, settings.port) == (
        "amqp://x",
        "postgresql://y/z",
        "127.0.0.2",
        9000,
    )
    assert (settings.topology.queue, settings.prefetch, settings.batch_size) == ("q", 50, 10)
    assert settings.batch_linger == pytest.approx(0.02)
    assert settings.max_transient_attempts == 7
    assert settings.signing_keys == {"a": b"1", "b": b"two:parts"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CANDYSTORE_PORT": "eighty"}, "CANDYSTORE_PORT"),
        ({"CANDYSTORE_PREFETCH": "0"}, "CANDYSTORE_PREFETCH"),
        ({"CANDYSTORE_REQUIRE_SIGNATURES": "maybe"}, "CANDYSTORE_REQUIRE_SIGNATURES"),
        ({"CANDYSTORE_REQUIRE_SIGNATURES": "1"}, "CANDYSTORE_SIGNING_KEYS"),
        ({"CANDYSTORE_SIGNING_KEYS": "nocolon"}, "CANDYSTORE_SIGNING_KEYS"),
        ({"CANDYSTORE_PREFETCH": "10", "CANDYSTORE_BATCH_SIZE": "20"}, "CANDYSTORE_BATCH_SIZE"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_secrets_are_not_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_signing_keys("ok:1,:topsecret")
    assert "topsecret" not in str(info.value)


def _sig(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def test_signature_verification() -> None:
    keys = {"k1": b"s1", "k2": b"s2"}
    body = b'{"a":1}'
    assert (
        verify_signature(body, {"x-signature": _sig(b"s2", body), "x-signature-key-id": "k2"}, keys) is None
    )
    assert verify_signature(body, {"x-signature": _sig(b"s1", body).encode()}, keys) is None  # no key id
    assert verify_signature(body, {}, keys) == "missing x-signature header"
    assert "unknown" in verify_signature(
        body, {"x-signature": _sig(b"s1", body), "x-signature-key-id": "k9"}, keys
    )
    assert "does not match" in verify_signature(
        body + b" ", {"x-signature": _sig(b"s1", body), "x-signature-key-id": "k1"}, keys
    )
    assert "sha256=" in verify_signature(body, {"x-signature": "abc"}, keys)


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("#", "a.b.c", True),
        ("a.#", "a", True),
        ("a.#", "a.b.c", True),
        ("#.c", "a.b.c", True),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.c", False),
        ("a.*", "a.b.c", False),
        ("*.*.*", "a.b.c", True),
        ("a.#.c", "a.c", True),
        ("a.#.c", "a.x.y.c", True),
        ("a.b", "a.b", True),
        ("a.b", "a.bb", False),
        ("a+b.c", "a+b.c", True),
        ("a+b.c", "aab.c", False),
    ],
)
def test_topic_matching(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


def test_encode_event_appends_stored_at() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    assert encode_event(b' {"a": [1]} \n', at) == b' {"a": [1],"stored_at":"2025-01-02T03:04:05.000678Z"}'


def test_migrations_are_numbered_in_order() -> None:
    found = migrations()
    assert [v for v, _, _ in found] == list(range(1, len(found) + 1))
    assert "CREATE TABLE events" in found[0][2]


def test_topic_matching_agrees_with_a_regex_on_small_patterns() -> None:
    """Word-by-word matching gives the answers of the (backtracking) regex translation, exhaustively."""
    import itertools
    import re

    def regex(pattern: str) -> re.Pattern[str]:
        parts = {"#": r"(?:\.[^.]*)*", "*": r"\.[^.]*"}
        return re.compile("^" + "".join(parts.get(w, r"\." + re.escape(w)) for w in pattern.split(".")) + "$")

    words = ["a", "b", "*", "#"]
    keys = [".".join(k) for n in range(1, 5) for k in itertools.product("ab", repeat=n)]
    for n in range(1, 5):
        for combo in itertools.product(words, repeat=n):
            pattern = ".".join(combo)
            compiled = regex(pattern)
            for key in keys:
                assert topic_matches(pattern, key) is (compiled.match("." + key) is not None), (pattern, key)


def test_hostile_filter_costs_microseconds_not_seconds() -> None:
    import time

    from reference_impl.candystore.stream import TopicFilter

    hostile = TopicFilter.parse("#." * 31 + "zz")
    key = ".".join(["ab"] * 30) + ".v1"  # a backtracking regex takes far longer than a lifetime here
    began = time.perf_counter()
    for _ in range(100):
        assert not hostile.matches(key)
    assert time.perf_counter() - began < 0.5


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "non-empty"),
        ("a" * 256, "longer than 255 characters"),
        (".".join("a" * 33), "more than 32 words"),
    ],
)
def test_filter_limits(pattern: str, problem: str) -> None:
    from reference_impl.candystore.stream import FilterInvalid, TopicFilter

    with pytest.raises(FilterInvalid, match=problem):
        TopicFilter.parse(pattern)
    TopicFilter.parse(".".join("a" * 32))  # at the limits
    TopicFilter.parse("a" * 255)


def test_hub_is_one_bounded_buffer_read_at_each_subscriber_s_pace() -> None:
    import asyncio
    from datetime import timedelta

    from reference_impl.candystore.stream import Hub, TopicFilter

    t0 = datetime(2025, 1, 1, tzinfo=UTC)

    def at(n: int) -> datetime:
        return t0 + timedelta(microseconds=n)

    async def scenario() -> None:
        hub = Hub(size=3)
        everything = hub.subscribe(None)
        github = hub.subscribe(TopicFilter.parse("github.#"))
        hub.publish([("github.pr.opened.v1", at(1), b"1"), ("n8n.workflow.completed.v1", at(2), b"2")])
        assert [i.data for i in hub.read(github)] == [b"1", b"2"]  # filtering is the reader's business
        assert github.wants("github.pr.opened.v1") and not github.wants("n8n.workflow.completed.v1")
        github.seq = 2
        hub.publish([("github.pr.opened.v1", at(3), b"3"), ("github.pr.opened.v1", at(4), b"4")])
        assert len(hub.items) == 3 and hub.base_seq == 1
        assert hub.behind(everything) and not hub.behind(github)
        assert hub.resume_cursor(everything) == at(1) - timedelta(
            microseconds=1
        )  # got nothing: from the start
        everything.cursor = at(2)
        assert hub.resume_cursor(everything) == at(2)
        late = hub.subscribe(None)
        assert late.seq == 4 and late.cursor is None and hub.resume_cursor(late) is None
        waiting = asyncio.ensure_future(hub.wait(late))
        await asyncio.sleep(0)
        assert not waiting.done()
        hub.publish([("x.y.v1", at(5), b"5")])
        await asyncio.wait_for(waiting, 1)
        assert hub.resume_cursor(late) == at(5) - timedelta(microseconds=1)
        hub.unsubscribe(everything)
        assert hub.subscribers == {github, late}

    asyncio.run(scenario())
