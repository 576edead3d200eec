"""RabbitMQ over TLS: the local backend's amqps-only broker, the reference services over amqps, and a
plain AMQP connection refused (SPEC §7: "Enable TLS for RabbitMQ connections")."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

from harness.backends import LocalBackend
from harness.config import Settings
from harness.probes import BloodbankClient, CandystoreClient
from harness.services import start_reference_services
from holyfields import make_envelope

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.internal]


@pytest.fixture(scope="module")
def tls_backend() -> Iterator[LocalBackend]:
    backend = LocalBackend(tls=True).start()
    try:
        yield backend
    finally:
        ca = backend.ca_file
        backend.stop()
    assert ca is not None and os.environ.get("SSL_CERT_FILE") != str(ca), "the run's CA outlived the backend"


def test_the_broker_speaks_amqps_only_and_plain_amqp_is_refused(tls_backend: LocalBackend) -> None:
    assert tls_backend.amqp_url.startswith("amqps://guest:guest@localhost:")
    connection = pika.BlockingConnection(pika.URLParameters(tls_backend.amqp_url))
    try:
        assert connection.is_open
    finally:
        connection.close()
    plain = tls_backend.amqp_url.replace("amqps://", "amqp://", 1)
    params = pika.URLParameters(plain)
    params.socket_timeout = params.blocked_connection_timeout = 5
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(params).close()


def test_the_reference_services_publish_and_store_over_tls(tls_backend: LocalBackend, tmp_path: Path) -> None:
    settings = Settings().with_reference_credentials()
    services = start_reference_services(tls_backend, settings, log_dir=tmp_path)
    try:
        bloodbank = BloodbankClient(services["bloodbank"].url, api_key=settings.api_key)
        candystore = CandystoreClient(services["candystore"].url)
        envelope = make_envelope("github.pr.opened.v1")
        response = bloodbank.publish(envelope)
        assert response.status_code == 202, response.text
        assert candystore.wait_stored(envelope["event_id"])["payload"] == envelope["payload"]
    finally:
        for service in services.values():
            service.stop()
