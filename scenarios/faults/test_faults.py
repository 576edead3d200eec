"""Zero data loss under faults, measured by the event ledger (SPEC §5: recovery < 30 s, zero loss).

Each fault runs on a stack of this module's own (private servers, TCP proxies between Candystore and both
servers, reference services) while ≥ 2,000 events flow through Bloodbank. The verdict of every run: every
event Bloodbank acknowledged is stored exactly once (0 lost, 0 duplicated, nothing dead-lettered), and the
pipeline has caught up within 30 s of the fault being cleared.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pika
import pytest

from harness.config import Settings
from harness.faults import FaultStack, Traffic
from harness.ledger import Ledger, db_stored_counts, drain_dead_letters, wait_until_settled
from harness.probes import DeadLetterTap

pytestmark = [pytest.mark.fault, pytest.mark.internal]

EVENTS = 2000
RECOVERY_SLO_SECONDS = 30.0


@pytest.fixture(scope="module")
def stack(harness_settings: Settings) -> Iterator[FaultStack]:
    """A stack owned by the fault suite; its credentials are the run's signing keys (no API key needed)."""
    if harness_settings.backend not in ("auto", "local"):
        pytest.skip(f"fault runs need the local backend (this run uses {harness_settings.backend})")
    settings = Settings(signing_keys=harness_settings.signing_keys)
    # Short back-off caps so that recovery is limited by the fault, not by a long sleep of the consumer.
    candystore_env = {"CANDYSTORE_BACKOFF_MAX_MS": "1000"}
    with FaultStack(settings, candystore_env=candystore_env) as fault_stack:
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


def test_rabbitmq_restart(stack: FaultStack, tap: DeadLetterTap, run_report) -> None:
    """RabbitMQ restart while events flow: nothing lost, nothing duplicated, recovery < 30 s."""
    _run(
        "rabbitmq-restart",
        stack,
        tap,
        run_report,
        inject=stack.backend.rabbitmq.stop,
        clear=stack.backend.rabbitmq.start,
        hold=2,
    )


def test_postgres_down_10s(stack: FaultStack, tap: DeadLetterTap, run_report) -> None:
    """PostgreSQL down for 10 s: Candystore keeps the messages, stores all of them once it is back."""
    _run(
        "postgres-down-10s",
        stack,
        tap,
        run_report,
        inject=stack.backend.postgres.stop,
        clear=stack.backend.postgres.start,
        hold=10,
    )


def test_candystore_sigkill(stack: FaultStack, tap: DeadLetterTap, run_report) -> None:
    """Candystore killed with SIGKILL mid-stream: after restart no loss and no duplicate."""
    _run(
        "candystore-sigkill",
        stack,
        tap,
        run_report,
        inject=stack.candystore.kill,
        clear=stack.candystore.start,
        hold=1,
    )  # type: ignore[union-attr]


def test_bloodbank_sigkill(stack: FaultStack, tap: DeadLetterTap, run_report) -> None:
    """Bloodbank killed with SIGKILL: clients re-send what was not acknowledged; nothing lost or doubled."""
    _run(
        "bloodbank-sigkill",
        stack,
        tap,
        run_report,
        inject=stack.bloodbank.kill,
        clear=stack.bloodbank.start,
        hold=1,
    )  # type: ignore[union-attr]


def test_network_cut_candystore_rabbitmq(stack: FaultStack, tap: DeadLetterTap, run_report) -> None:
    """Network cut between Candystore and RabbitMQ for 5 s: the consumer reconnects, nothing lost."""
    _run(
        "cut-candystore-rabbitmq",
        stack,
        tap,
        run_report,
        inject=stack.amqp_proxy.cut,
        clear=stack.amqp_proxy.restore,
        hold=5,
    )  # type: ignore[union-attr]


def test_network_cut_candystore_postgres(stack: FaultStack, tap: DeadLetterTap, run_report) -> None:
    """Network cut between Candystore and PostgreSQL for 5 s: no dead letters, all stored once after."""
    _run(
        "cut-candystore-postgres",
        stack,
        tap,
        run_report,
        inject=stack.db_proxy.cut,
        clear=stack.db_proxy.restore,
        hold=5,
    )  # type: ignore[union-attr]


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
