"""Retry and recovery: a publish in flight during a broker outage succeeds afterwards or fails clearly, never
silently; readiness follows the broker.

Network faults go through a TCP proxy (the session's broker keeps running); the last test stops and restarts
the real broker through the backend's fault controls and restores it whatever happens.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pika
import pytest
from starlette.testclient import TestClient

from harness.backends import Backend, free_port, wait_until
from harness.faults import TcpProxy
from harness.services import ServiceProcess, service_env
from holyfields import make_envelope
from holyfields.topology import Topology
from reference_impl.bloodbank import Publisher, RetriesExhausted, RetryConfig

from .helpers import Tap, open_connection

pytestmark = [pytest.mark.integration, pytest.mark.fault]

#: enough retries to outlast an outage of ~15 s
PATIENT = RetryConfig(retries=60, base_delay=0.05, max_delay=0.25)


async def _eventually(predicate: Callable[[], bool], describe: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{describe} not reached within {timeout} s")
        await asyncio.sleep(0.02)


def _metric(client_get: Callable[[str], httpx.Response], name: str) -> float:
    for line in client_get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def proxy(backend: Backend) -> Iterator[TcpProxy]:
    with TcpProxy.in_front_of(backend.amqp_url) as running:
        yield running


# --- network faults through the proxy ----------------------------------------------------------------------
@pytest.mark.anyio
async def test_publish_in_flight_during_a_cut_is_confirmed_after_restore(
    backend: Backend, isolated: Topology, tap: Tap, proxy: TcpProxy
) -> None:
    publisher = Publisher(proxy.url(backend.amqp_url), isolated, retry=PATIENT, reconnect_interval=0.05)
    await publisher.connect()
    try:
        await asyncio.to_thread(proxy.cut)
        await _eventually(lambda: not publisher.ready, "publisher notices the cut")
        envelope = make_envelope()
        in_flight = asyncio.create_task(publisher.publish(envelope))
        await _eventually(lambda: publisher.retries_total >= 2, "two failed attempts")
        assert not in_flight.done()
        proxy.restore()
        result = await asyncio.wait_for(in_flight, timeout=15)
        assert result.attempts >= 3
        assert publisher.ready
    finally:
        await publisher.close()
    (message,) = tap.take(1)
    assert message.properties.message_id == envelope["event_id"]
    assert tap.count() == 0  # exactly once: nothing reached the broker during the cut


@pytest.mark.anyio
async def test_a_lasting_cut_fails_clearly_and_readiness_comes_back_by_itself(
    backend: Backend, isolated: Topology, proxy: TcpProxy
) -> None:
    retry = RetryConfig(retries=2, base_delay=0.01, max_delay=0.02)
    publisher = Publisher(proxy.url(backend.amqp_url), isolated, retry=retry, reconnect_interval=0.05)
    await publisher.connect()
    try:
        await asyncio.to_thread(proxy.cut)
        await _eventually(lambda: not publisher.ready, "publisher notices the cut")
        envelope = make_envelope()
        with pytest.raises(RetriesExhausted) as caught:
            await publisher.publish(envelope)
        assert caught.value.event_id == envelope["event_id"] and caught.value.attempts == 3
        assert "cannot connect to the broker" in str(caught.value)
        outcomes = await publisher.publish_many([make_envelope(), make_envelope()])
        assert all(isinstance(outcome, RetriesExhausted) for outcome in outcomes)
        proxy.restore()
        await _eventually(lambda: publisher.ready, "reconnected without any publish")
    finally:
        await publisher.close()


@pytest.mark.anyio
async def test_a_confirm_timeout_is_retried_on_a_fresh_connection(
    backend: Backend, isolated: Topology, tap: Tap, proxy: TcpProxy
) -> None:
    publisher = Publisher(
        proxy.url(backend.amqp_url), isolated, retry=PATIENT, confirm_timeout=0.2, reconnect_interval=0.05
    )
    await publisher.connect()
    try:
        proxy.set_delay(0.5)  # confirms now arrive too late
        envelope = make_envelope()
        in_flight = asyncio.create_task(publisher.publish(envelope))
        await _eventually(lambda: publisher.retries_total >= 1, "a confirm timeout")
        assert "no confirm from the broker in time" in (publisher.last_error or "")
        proxy.set_delay(0)
        result = await asyncio.wait_for(in_flight, timeout=15)
        assert result.attempts >= 2
    finally:
        await publisher.close()
    # at least once: the late first attempt may have been routed too, always with the same event id
    received = tap.take(1)
    received += tap.take(tap.count()) if tap.count() else []
    assert {m.properties.message_id for m in received} == {envelope["event_id"]}


def test_http_readiness_and_503_follow_the_network(
    client_factory: Callable[..., TestClient], proxy: TcpProxy, backend: Backend, tap: Tap
) -> None:
    quick = client_factory(amqp_url=proxy.url(backend.amqp_url))
    patient = client_factory(amqp_url=proxy.url(backend.amqp_url), retry=PATIENT)
    assert quick.get("/readyz").status_code == 200
    proxy.cut()
    wait_until(
        lambda: quick.get("/readyz").status_code == 503, timeout=10, describe="/readyz 503 after the cut"
    )
    refused = quick.post("/events", json=make_envelope())
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert refused.json()["reason"] == "broker_unavailable"

    envelope = make_envelope()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(patient.post, "/events", json=envelope)
        wait_until(
            lambda: _metric(patient.get, "bloodbank_publish_retries_total") >= 2,
            timeout=10,
            describe="the in-flight request retrying",
        )
        assert not in_flight.done()
        proxy.restore()
        response = in_flight.result(timeout=20)
    assert response.status_code == 202, response.text
    assert response.json()["event_id"] == envelope["event_id"]
    wait_until(lambda: quick.get("/readyz").status_code == 200, timeout=10, describe="/readyz 200 again")
    assert [m.envelope["event_id"] for m in tap.take(1)] == [envelope["event_id"]]


# --- the real broker stopped and started -------------------------------------------------------------------
def _broker_answers(amqp_url: str) -> bool:
    try:
        open_connection(amqp_url).close()
        return True
    except pika.exceptions.AMQPError:
        return False


@pytest.fixture
def restored_broker(backend: Backend) -> Iterator[Backend]:
    """The session broker, started again after the test whatever happened (and answering)."""
    try:
        yield backend
    finally:
        if not _broker_answers(backend.amqp_url):
            backend.rabbitmq.start()
        wait_until(
            lambda: _broker_answers(backend.amqp_url), timeout=60, describe="the broker answering again"
        )


@pytest.mark.internal
def test_broker_restart_publishes_in_flight_succeed_or_fail_clearly(
    restored_broker: Backend, isolated: Topology, tmp_path: Path
) -> None:
    backend = restored_broker
    # a durable tap survives the restart (an exclusive one would not)
    durable_tap = f"{isolated.exchange}.tap"
    connection = open_connection(backend.amqp_url)
    channel = connection.channel()
    channel.exchange_declare(isolated.exchange, "topic", durable=True)
    channel.queue_declare(durable_tap, durable=True)
    channel.queue_bind(durable_tap, isolated.exchange, "#")
    connection.close()

    def start(name: str, **extra: str) -> ServiceProcess:
        port = free_port()
        service = ServiceProcess(
            name="bloodbank",
            env=service_env("bloodbank", backend, port),
            port=port,
            log=tmp_path / f"{name}.log",
            extra_env={**isolated.env(), "BLOODBANK_RECONNECT_INTERVAL": "0.2", **extra},
        )
        service.start()
        return service

    patient = start(
        "patient",
        BLOODBANK_PUBLISH_RETRIES="80",
        BLOODBANK_RETRY_BASE_DELAY="0.1",
        BLOODBANK_RETRY_MAX_DELAY="0.3",
    )
    hasty = start("hasty", BLOODBANK_PUBLISH_RETRIES="1", BLOODBANK_RETRY_BASE_DELAY="0.05")
    http = httpx.Client(timeout=60)
    try:
        assert http.get(patient.url + "/readyz").status_code == 200
        backend.rabbitmq.stop()
        wait_until(
            lambda: http.get(hasty.url + "/readyz").status_code == 503,
            timeout=15,
            describe="/readyz 503 while the broker is down",
        )
        refused = http.post(hasty.url + "/events", json=make_envelope())
        assert refused.status_code == 503 and refused.json()["reason"] == "broker_unavailable"
        assert "Retry-After" in refused.headers

        single = make_envelope()
        batch = [make_envelope() for _ in range(5)]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            one = pool.submit(http.post, patient.url + "/events", json=single)
            many = pool.submit(http.post, patient.url + "/events/batch", json=batch)
            wait_until(
                lambda: _metric(lambda p: http.get(patient.url + p), "bloodbank_publish_retries_total") >= 6,
                timeout=15,
                describe="both in-flight requests retrying",
            )
            assert not one.done() and not many.done()
            backend.rabbitmq.start()
            assert one.result(timeout=40).status_code == 202
            batch_response = many.result(timeout=40)
        assert batch_response.status_code == 202, batch_response.text
        assert batch_response.json()["published"] == 5
        wait_until(
            lambda: http.get(hasty.url + "/readyz").status_code == 200,
            timeout=15,
            describe="/readyz 200 after the restart",
        )
        connection = open_connection(backend.amqp_url)
        channel = connection.channel()
        ids = set()
        for _ in range(6):
            method, properties, _body = channel.basic_get(durable_tap, auto_ack=True)
            assert method is not None, f"only {len(ids)} of 6 events reached the queue"
            ids.add(properties.message_id)
        assert ids == {single["event_id"], *(e["event_id"] for e in batch)}
        channel.queue_delete(durable_tap)
        connection.close()
    finally:
        http.close()
        patient.stop()
        hasty.stop()


# --- a broker resource alarm (RabbitMQ blocks publishing connections) --------------------------------------
@pytest.fixture
def memory_alarm(backend: Backend) -> Iterator[Callable[[bool], None]]:
    """``memory_alarm(True/False)`` raises / clears the session broker's memory alarm (and waits until the
    node reports it); the watermark is set back to the default after the test whatever happened."""
    rabbitmq = getattr(backend, "rabbitmq", None)
    if not hasattr(rabbitmq, "set_memory_watermark"):
        pytest.skip(f"a memory alarm needs rabbitmqctl on a broker of our own (backend {backend.name})")

    def switch(on: bool) -> None:
        rabbitmq.set_memory_watermark(0.000001 if on else 0.4)
        wait_until(
            lambda: rabbitmq.memory_alarm() is on,
            timeout=15,
            describe=f"memory alarm {'on' if on else 'off'}",
        )

    try:
        yield switch
    finally:
        switch(False)


@pytest.mark.internal
def test_a_blocked_broker_is_answered_503_within_the_confirm_timeout_and_publishing_resumes(
    client_factory: Callable[..., TestClient], memory_alarm: Callable[[bool], None], tap: Tap
) -> None:
    """While RabbitMQ blocks publishers (memory alarm), publishes are answered 503 + Retry-After within the
    confirm timeout (not after every retry), readiness says why, and the same envelopes publish once it
    lifts."""
    confirm_timeout = 1.0
    client = client_factory(
        retry=RetryConfig(retries=4, base_delay=0.2, max_delay=0.5), confirm_timeout=confirm_timeout
    )
    assert client.post("/events", json=make_envelope()).status_code == 202  # a publishing connection
    memory_alarm(True)
    single, batch = make_envelope(), [make_envelope() for _ in range(3)]
    answers = []
    for path, body in (("/events", single), ("/events/batch", batch), ("/events", single)):
        began = time.monotonic()
        response = client.post(path, json=body)
        answers.append((path, response, time.monotonic() - began))
    for path, response, seconds in answers:
        assert response.status_code == 503, f"{path} during the alarm: {response.status_code} {response.text}"
        assert response.headers.get("Retry-After") == "5", f"{path}: no Retry-After"
        assert seconds < confirm_timeout + 0.75, (
            f"{path} took {seconds:.1f} s while the broker blocked publishing (confirm timeout "
            f"{confirm_timeout} s): it retried instead of answering"
        )
    assert answers[0][1].json()["reason"] == "broker_blocked"
    assert "blocks publishing" in answers[0][1].json()["detail"]
    assert {item["status"] for item in answers[1][1].json()["results"]} == {"failed"}
    assert answers[2][2] < 0.5, "once the block is known, a publish is answered at once"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "blocks publishing" in ready.json()["detail"]

    memory_alarm(False)
    wait_until(lambda: client.get("/readyz").status_code == 200, timeout=10, describe="/readyz 200 again")
    assert client.post("/events", json=single).status_code == 202
    assert client.post("/events/batch", json=batch).status_code == 202
    # at least once: the first attempt, held in the blocked connection, may be routed after the block too
    expected = {single["event_id"], *(e["event_id"] for e in batch)}
    received: set[str] = set()
    deadline = time.monotonic() + 10
    while not expected <= received and time.monotonic() < deadline:
        received |= {m.properties.message_id for m in tap.take(1)}
    assert expected <= received, f"not routed after the alarm: {expected - received}"
