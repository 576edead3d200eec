"""Zero loss under network faults for services the harness did not start (black-box, SPEC §5, §6).

A team runs ``harness up --proxied --no-services``, starts its Bloodbank and Candystore on the *proxied* AMQP
and database URLs it prints, then ``harness verify --suite faults --fault-control URL`` with the direct URLs
(``--amqp-url``/``--database-url``) for the harness's own observers. Each run cuts the services' connections
to one server for a few seconds while events flow through Bloodbank; the ledger reads the outcome through
the public API (``GET /events``) and the dead-letter tap.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness.config import Settings
from harness.faults import FaultControlClient, Traffic
from harness.ledger import Ledger, api_stored_counts, wait_until_settled
from harness.probes import DeadLetterTap

pytestmark = [pytest.mark.fault, pytest.mark.needs("publish", "batch", "read_by_id")]

EVENTS = 600
CUT_SECONDS = 4.0
RECOVERY_SLO_SECONDS = 30.0


@pytest.fixture(scope="module")
def fault_control(harness_settings: Settings) -> Iterator[FaultControlClient]:
    if not harness_settings.fault_control:
        pytest.skip(
            "no fault control for services started elsewhere: run `harness up --proxied`, start the services "
            "on its proxied URLs and give --fault-control URL (HARNESS_FAULT_CONTROL)"
        )
    client = FaultControlClient(harness_settings.fault_control)
    try:
        client.info()
    except Exception as exc:
        pytest.fail(f"fault control {harness_settings.fault_control} does not answer: {exc}", pytrace=False)
    yield client
    for target in ("amqp", "postgres"):
        client.restore(target)
    client.close()


@dataclass
class ProxiedRun:
    """What a proxied fault run needs: the fault control, the targets, the observers, the report."""

    control: FaultControlClient
    bloodbank_url: str
    candystore_url: str
    amqp_url: str
    topology: Any
    settings: Settings
    run_report: Any


@pytest.fixture
def proxied(
    fault_control: FaultControlClient,
    bloodbank_url: str,
    candystore_url: str,
    amqp_url: str,
    topology: Any,
    harness_settings: Settings,
    run_report: Any,
) -> ProxiedRun:
    return ProxiedRun(
        fault_control, bloodbank_url, candystore_url, amqp_url, topology, harness_settings, run_report
    )


def _run(name: str, target: str, run: ProxiedRun) -> None:
    ledger = Ledger(name)
    began = time.time()
    traffic = Traffic(
        run.bloodbank_url,
        ledger,
        total=EVENTS,
        rate=150.0,
        api_key=run.settings.api_key,
        surface=run.settings.surface.bloodbank,
    )
    with DeadLetterTap(run.amqp_url, run.topology) as tap:
        traffic.start()
        traffic.wait_accepted(EVENTS // 4)
        errors_before = dict(traffic.errors)
        run.control.cut(target)
        try:
            time.sleep(CUT_SECONDS)  # the outage itself: its length is the experiment
        finally:
            run.control.restore(target)
            ledger.fault_cleared()
        traffic.join(180)
        assert not traffic.is_alive(), f"{name}: the producer did not finish within 180 s"

        def observe() -> None:
            ledger.observe_stored(api_stored_counts(run.candystore_url, since=began))
            ledger.observe_dead_letters(tap.letters)

        wait_until_settled(ledger, observe, timeout=90)
    verdict = ledger.verdict()
    outage_errors = {k: v - errors_before.get(k, 0) for k, v in traffic.errors.items()}
    outage_errors = {k: v for k, v in outage_errors.items() if v > 0}
    run.run_report.add_ledger(
        name,
        {
            **verdict.as_dict(),
            "events": EVENTS,
            "client_retries": traffic.retries,
            "client_errors": outage_errors,
        },
    )
    assert verdict.lost == 0, (
        f"{name}: events acknowledged but neither stored nor dead-lettered\n{verdict.table()}"
    )
    assert verdict.duplicated == 0, f"{name}: events stored more than once\n{verdict.table()}"
    if target == "amqp":
        failed = {k: v for k, v in outage_errors.items() if k.startswith("http 5")}
        assert not failed, (
            f"publish failed during a broker outage of {CUT_SECONDS:.0f} s: no retry (answered {failed}); "
            "SPEC: Bloodbank retries and answers 503 only when the broker stays unavailable"
        )
    assert verdict.dead_lettered == 0, (
        f"{name}: valid events dead-lettered during a transient fault ({verdict.dead_letter_reasons})"
    )
    assert verdict.accepted == EVENTS, (
        f"{name}: only {verdict.accepted} of {EVENTS} events were ever acknowledged (errors {traffic.errors})"
    )
    assert verdict.recovery_seconds is not None and verdict.recovery_seconds < RECOVERY_SLO_SECONDS, (
        f"{name}: recovery took {verdict.recovery_seconds} s (SLO < {RECOVERY_SLO_SECONDS:.0f} s)"
    )


def test_broker_connections_cut(proxied: ProxiedRun) -> None:
    """Broker connections cut for a few seconds: events lost, duplicated, or publish failed without retry."""
    _run("proxied-broker-cut", "amqp", proxied)


def test_database_connections_cut(proxied: ProxiedRun) -> None:
    """Database connections cut for a few seconds: events lost, duplicated, or dead-lettered."""
    _run("proxied-database-cut", "postgres", proxied)
