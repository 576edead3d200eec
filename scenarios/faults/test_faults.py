"""Zero data loss under faults, measured by the event ledger (SPEC §5: recovery < 30 s, zero loss).

Each fault runs on a stack of this module's own (private servers, TCP proxies between Candystore and both
servers, reference services) while ≥ 2,000 events flow through Bloodbank. The verdict of every run: every
event Bloodbank acknowledged is stored exactly once (0 lost, 0 duplicated, nothing dead-lettered), and the
pipeline has caught up within 30 s of the fault being cleared. Two runs are not outages: a broker memory
alarm (RabbitMQ blocks publishers: 503 + Retry-After within the confirm timeout, ADR 0032) and a poison storm
(10,000 invalid messages among the valid ones: each dead-lettered with its reason, valid p99 < 500 ms,
ADR 0033).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pika
import pytest

from harness.backends import create_backend
from harness.config import Settings
from harness.faults import FaultStack, PoisonFlood, Traffic
from harness.ledger import DeadLetter, Ledger, db_stored_counts, drain_dead_letters, wait_until_settled
from harness.probes import DeadLetterTap

pytestmark = [pytest.mark.fault, pytest.mark.internal]

EVENTS = 2000
RECOVERY_SLO_SECONDS = 30.0


@pytest.fixture(scope="module")
def stack(harness_settings: Settings) -> Iterator[FaultStack]:
    """A stack owned by the fault suite, on servers of its own from the run's backend (local or docker);
    its credentials are the run's signing keys (no API key needed)."""
    backend = create_backend(harness_settings.backend, amqp_url=None, database_url=None)
    if not backend.supports_faults:
        pytest.skip(f"fault runs need a backend that owns its servers (this run uses {backend.name})")
    settings = Settings(signing_keys=harness_settings.signing_keys)
    # Short back-off caps so that recovery is limited by the fault, not by a long sleep of the consumer.
    candystore_env = {"CANDYSTORE_BACKOFF_MAX_MS": "1000"}
    with FaultStack(settings, candystore_env=candystore_env, backend=backend) as fault_stack:
        yield fault_stack


@pytest.fixture
def tap(stack: FaultStack) -> Iterator[DeadLetterTap]:
    with DeadLetterTap(stack.backend.amqp_url, stack.backend.topology) as dead_letters:
        yield dead_letters


def _hold(seconds: float) -> None:
    """Keep the fault in place: its duration is the experiment, not a wait for something to happen."""
    time.sleep(seconds)


def _run(
    name: str,
    stack: FaultStack,
    tap: DeadLetterTap,
    run_report,
    *,
    inject: Callable[[], None],
    clear: Callable[[], None],
    hold: float,
) -> Traffic:
    ledger = Ledger(name)
    traffic = Traffic(stack.bloodbank.url, ledger, total=EVENTS, rate=400.0)  # type: ignore[union-attr]
    traffic.start()
    traffic.wait_accepted(EVENTS // 4)
    inject()
    injected_at = time.monotonic()
    try:
        _hold(hold)
    finally:
        clear()
        ledger.fault_cleared()
    fault_seconds = round(time.monotonic() - injected_at, 2)
    traffic.join(180)
    assert not traffic.is_alive(), f"{name}: the producer did not finish within 180 s"
    assert traffic.failure is None, f"{name}: the producer failed: {traffic.failure!r}"

    def observe() -> None:
        ledger.observe_stored(db_stored_counts(stack.backend.database_url))
        ledger.observe_dead_letters(tap.letters)
        # the durable DLQ too: it holds what was dead-lettered while the tap was reconnecting
        connection = pika.BlockingConnection(pika.URLParameters(stack.backend.amqp_url))
        try:
            ledger.observe_dead_letters(drain_dead_letters(connection.channel(), stack.backend.topology.dlq))
        finally:
            connection.close()

    wait_until_settled(ledger, observe, timeout=90)
    verdict = ledger.verdict()
    run_report.add_ledger(
        name,
        {
            **verdict.as_dict(),
            "events": EVENTS,
            "fault_seconds": fault_seconds,
            "client_retries": traffic.retries,
            "client_errors": traffic.errors,
            "slowest_answer_seconds": round(traffic.slowest, 2),
        },
    )
    print("\n" + verdict.table())
    assert verdict.accepted == EVENTS, (
        f"{name}: only {verdict.accepted} of {EVENTS} events were ever acknowledged by Bloodbank "
        f"(client errors: {traffic.errors})"
    )
    assert verdict.lost == 0, (
        f"{name}: events lost (acknowledged but neither stored nor dead-lettered)\n{verdict.table()}"
    )
    assert verdict.duplicated == 0, f"{name}: events stored more than once\n{verdict.table()}"
    assert verdict.dead_lettered == 0, (
        f"{name}: valid events dead-lettered during a transient fault\n{verdict.table()}"
    )
    assert verdict.recovery_seconds is not None and verdict.recovery_seconds < RECOVERY_SLO_SECONDS, (
        f"{name}: recovery took {verdict.recovery_seconds} s (SLO < {RECOVERY_SLO_SECONDS:.0f} s)"
    )
    return traffic


@dataclass(frozen=True)
class Outage:
    """One fault run: what is done to the stack, for how long, and the defect its failure means."""

    name: str
    defect: str
    inject: Callable[[FaultStack], None]
    clear: Callable[[FaultStack], None]
    hold: float


OUTAGES = [
    Outage(
        "rabbitmq-restart",
        "Events lost or doubled across a RabbitMQ restart",
        lambda s: s.backend.rabbitmq.stop(),
        lambda s: s.backend.rabbitmq.start(),
        hold=2,
    ),
    Outage(
        "postgres-down-10s",
        "Events lost or doubled while PostgreSQL was down for 10 s",
        lambda s: s.backend.postgres.stop(),
        lambda s: s.backend.postgres.start(),
        hold=10,
    ),
    Outage(
        "candystore-sigkill",
        "Events lost or doubled when Candystore was killed mid-stream (SIGKILL)",
        lambda s: s.candystore.kill(),  # type: ignore[union-attr]
        lambda s: s.candystore.start(),  # type: ignore[union-attr]
        hold=1,
    ),
    Outage(
        "bloodbank-sigkill",
        "Events lost or doubled when Bloodbank was killed (SIGKILL) and clients re-sent",
        lambda s: s.bloodbank.kill(),  # type: ignore[union-attr]
        lambda s: s.bloodbank.start(),  # type: ignore[union-attr]
        hold=1,
    ),
    Outage(
        "cut-candystore-rabbitmq",
        "Events lost or doubled across a 5 s network cut between Candystore and RabbitMQ",
        lambda s: s.amqp_proxy.cut(),  # type: ignore[union-attr]
        lambda s: s.amqp_proxy.restore(),  # type: ignore[union-attr]
        hold=5,
    ),
    Outage(
        "cut-candystore-postgres",
        "Events lost, doubled or dead-lettered across a 5 s network cut between Candystore and PostgreSQL",
        lambda s: s.db_proxy.cut(),  # type: ignore[union-attr]
        lambda s: s.db_proxy.restore(),  # type: ignore[union-attr]
        hold=5,
    ),
]


@pytest.mark.parametrize(
    "outage", [pytest.param(o, id=o.name, marks=pytest.mark.finding(o.defect)) for o in OUTAGES]
)
def test_outage(outage: Outage, stack: FaultStack, tap: DeadLetterTap, run_report) -> None:
    """An outage while events flow: nothing lost, nothing duplicated, recovery < 30 s"""
    _run(
        outage.name,
        stack,
        tap,
        run_report,
        inject=lambda: outage.inject(stack),
        clear=lambda: outage.clear(stack),
        hold=outage.hold,
    )


#: Bloodbank's default BLOODBANK_CONFIRM_TIMEOUT (the fault stack does not change it)
CONFIRM_TIMEOUT = 5.0


def test_broker_memory_alarm(stack: FaultStack, tap: DeadLetterTap, run_report) -> None:
    """RabbitMQ memory alarm for 10 s (it blocks publishers): publishes are answered 503 with Retry-After
    within the confirm timeout, never a hang, and once it clears nothing is lost or doubled."""
    rabbitmq = stack.backend.rabbitmq

    def raise_alarm() -> None:
        rabbitmq.set_memory_watermark(0.000001)
        deadline = time.monotonic() + 10
        while not rabbitmq.memory_alarm():
            assert time.monotonic() < deadline, "the broker did not raise its memory alarm within 10 s"
            time.sleep(0.1)  # poll interval of the alarm check

    def clear_alarm() -> None:
        rabbitmq.set_memory_watermark(0.4)  # RabbitMQ's default

    traffic = _run(
        "broker-memory-alarm", stack, tap, run_report, inject=raise_alarm, clear=clear_alarm, hold=10
    )
    refused = traffic.errors.get("http 503", 0)
    print(f"broker-memory-alarm: {refused} answers 503, slowest answer {traffic.slowest:.2f} s")
    assert refused > 0, f"no publish was refused during the memory alarm (client errors: {traffic.errors})"
    assert traffic.unavailable_without_retry_after == 0, (
        f"{traffic.unavailable_without_retry_after} of {refused} 503 answers had no Retry-After header"
    )
    assert traffic.slowest < CONFIRM_TIMEOUT + 1.5, (
        f"a publish took {traffic.slowest:.1f} s to be answered during the memory alarm: longer than the "
        f"confirm timeout ({CONFIRM_TIMEOUT:.0f} s); Bloodbank waits on a blocked connection"
    )


POISON = 10_000
STORM_SECONDS = 20.0  # 500 poison and 100 valid messages a second
E2E_P99_SLO_SECONDS = 0.5  # SPEC §5: end-to-end latency p99, publish → stored


def _e2e_seconds(database_url: str, event_ids: list[str]) -> list[float]:
    """Publish → stored latency of each stored event: its timestamp (set just before the POST) to
    stored_at."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            'select extract(epoch from stored_at - "timestamp")::float8 from events where event_id = any(%s)',
            (event_ids,),
        ).fetchall()
    return sorted(seconds for (seconds,) in rows)


def _drain_quickly(channel, queue: str) -> list[DeadLetter]:
    """Every message now in ``queue``, consumed with a prefetch (``basic_get`` costs a round trip each)."""
    channel.basic_qos(prefetch_count=1000)
    letters = []
    for method, props, body in channel.consume(queue, auto_ack=True, inactivity_timeout=0.3):
        if method is None:
            break
        letters.append(DeadLetter.from_message(method, props, body))
    channel.cancel()
    return letters


def test_poison_storm(stack: FaultStack, run_report) -> None:
    """10,000 invalid messages straight to the exchange, interleaved with 2,000 valid events through
    Bloodbank: every valid event stored once, every poison message dead-lettered with its reason, valid
    p99 < 500 ms."""
    name = "poison-storm"
    ledger = Ledger(name)
    rate = EVENTS / STORM_SECONDS
    traffic = Traffic(stack.bloodbank.url, ledger, total=EVENTS, rate=rate)  # type: ignore[union-attr]
    flood = PoisonFlood(
        stack.backend.amqp_url,
        stack.backend.topology,
        total=POISON,
        seconds=STORM_SECONDS,
        signing_key=stack.settings.signing_key,
    )
    began = time.monotonic()
    traffic.start()
    flood.start()
    flood.join(120)
    traffic.join(120)
    assert not flood.is_alive() and flood.failure is None, f"{name}: the flood failed: {flood.failure!r}"
    assert not traffic.is_alive() and traffic.failure is None, (
        f"{name}: the producer failed: {traffic.failure!r}"
    )
    sent_seconds = round(time.monotonic() - began, 2)
    for message_id in flood.expected:
        ledger.attempt(message_id, accepted=False, expect_dead_letter=True)
    ledger.fault_cleared()  # the storm is over: "recovery" is the time until every valid event is stored

    # The DLQ is read only after the storm (consuming 10,000 letters meanwhile would compete for the CPU).
    letters: dict[str, DeadLetter] = {}
    copies = 0  # dead letters of the poison drained, repeats included (a redelivery dead-letters twice)
    connection = pika.BlockingConnection(pika.URLParameters(stack.backend.amqp_url))
    try:
        channel = connection.channel()

        def observe() -> None:
            nonlocal copies
            ledger.observe_stored(db_stored_counts(stack.backend.database_url))
            drained = _drain_quickly(channel, stack.backend.topology.dlq)
            copies += sum(1 for d in drained if d.event_id in flood.expected)
            letters.update((d.event_id, d) for d in drained if d.event_id in flood.expected)
            ledger.observe_dead_letters(drained)

        deadline = time.monotonic() + 90
        while True:
            observe()
            if (ledger.settled() and len(letters) == len(flood.expected)) or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # poll interval while the consumer works through the storm
    finally:
        connection.close()
    verdict = ledger.verdict()
    accepted = sorted(ledger.accepted_ids)
    latencies = _e2e_seconds(stack.backend.database_url, accepted)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else None
    wrong = {
        mid: (flood.expected[mid], d.reason) for mid, d in letters.items() if d.reason != flood.expected[mid]
    }
    run_report.add_ledger(
        name,
        {
            **verdict.as_dict(),
            "events": EVENTS,
            "poison": POISON,
            "poison_dead_lettered": len(letters),
            "poison_wrong_reason": len(wrong),
            "storm_seconds": sent_seconds,
            "e2e_p99_ms": None if p99 is None else round(p99 * 1000, 1),
            "client_errors": traffic.errors,
            "slowest_answer_seconds": round(traffic.slowest, 2),
        },
    )
    print("\n" + verdict.table())
    print(
        f"{name}: poison dead-lettered {len(letters)}/{POISON} {verdict.dead_letter_reasons}, "
        f"valid e2e p99 {None if p99 is None else round(p99 * 1000, 1)} ms "
        f"over {len(latencies)} events, storm sent in {sent_seconds} s, slowest publish answer "
        f"{traffic.slowest:.2f} s"
    )
    assert verdict.accepted == EVENTS, (
        f"{name}: only {verdict.accepted} of {EVENTS} valid events acknowledged"
    )
    assert verdict.lost == 0, f"{name}: valid events lost\n{verdict.table()}"
    assert verdict.duplicated == 0, f"{name}: valid events stored more than once\n{verdict.table()}"
    assert verdict.unexpected_dead_letters == 0, f"{name}: valid events dead-lettered\n{verdict.table()}"
    missing = len(flood.expected) - len(letters)
    assert missing == 0, f"{name}: {missing} of {POISON} poison messages never reached the DLQ"
    assert copies == POISON, f"{name}: {copies - POISON} poison messages were dead-lettered more than once"
    blank = [mid for mid, d in letters.items() if not d.detail]
    assert not blank, f"{name}: {len(blank)} dead letters without x-dlq-detail, e.g. {blank[:3]}"
    assert not wrong, (
        f"{name}: {len(wrong)} poison messages dead-lettered with the wrong reason, e.g. "
        f"{list(wrong.items())[:3]} (message id: (expected, got))"
    )
    assert p99 is not None and p99 < E2E_P99_SLO_SECONDS, (
        f"{name}: valid end-to-end p99 {p99} s during the storm (SLO < {E2E_P99_SLO_SECONDS} s)"
    )
