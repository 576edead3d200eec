"""Session fixtures of the harness, as factories and plain fixtures (re-exported by the pytest plugin).

Downstream fixtures find upstream ones by name, so every suite runs unchanged on each backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.backends import Backend, BackendUnavailable, create_backend
from harness.config import Settings
from holyfields.topology import Topology

SETTINGS_KEY = pytest.StashKey[Settings]()

__all__ = [
    "_amqp_connections",
    "amqp_channel",
    "amqp_connection",
    "amqp_url",
    "backend",
    "bloodbank",
    "bloodbank_url",
    "candystore",
    "candystore_url",
    "database_url",
    "db_connection",
    "dlq_tap",
    "envelope_factory",
    "harness_capabilities",
    "harness_settings",
    "harness_watchdog",
    "otlp_receiver",
    "raw_publisher",
    "reference_services",
    "run_report",
    "signing_key",
    "topology",
]


@pytest.fixture(scope="session")
def harness_settings(pytestconfig: pytest.Config) -> Settings:
    """Resolved options of this run (command line, then ``HARNESS_*`` environment)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def backend(harness_settings: Settings) -> Iterator[Backend]:
    """The started backend of the session (local by default); torn down at the end, also on Ctrl-C/SIGTERM."""
    chosen = create_backend(
        harness_settings.backend,
        amqp_url=harness_settings.amqp_url or None,
        database_url=harness_settings.database_url or None,
    )
    try:
        with chosen:
            yield chosen
    except BackendUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def topology(backend: Backend, harness_settings: Settings) -> Topology:
    """Broker object names of this run.

    Services under test given by URL declared their own objects: use their names (``HARNESS_EXCHANGE`` …,
    SPEC defaults). Reference services started here use the backend's names (prefixed on a shared broker).
    """
    return harness_settings.topology if harness_settings.external_services else backend.topology


@pytest.fixture(scope="session")
def amqp_url(backend: Backend) -> str:
    return backend.amqp_url


@pytest.fixture(scope="session")
def database_url(backend: Backend) -> str:
    return backend.database_url


class _AmqpConnections:
    """One blocking (pika) connection for the session, reopened when a fault test restarted the broker."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection: Any = None

    def get(self) -> Any:
        import pika

        if self.connection is None or not self.connection.is_open:
            self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        return self.connection

    def close(self) -> None:
        import pika.exceptions

        if self.connection is not None and self.connection.is_open:
            try:
                self.connection.close()
            except pika.exceptions.AMQPError:
                pass  # the broker dropped an idle connection (missed heartbeats): nothing left to close


@pytest.fixture(scope="session")
def _amqp_connections(amqp_url: str) -> Iterator[_AmqpConnections]:
    connections = _AmqpConnections(amqp_url)
    yield connections
    connections.close()


@pytest.fixture
def amqp_connection(_amqp_connections: _AmqpConnections) -> Any:
    """A blocking (pika) connection to the run's broker, for probes and tap queues (open, shared)."""
    return _amqp_connections.get()


@pytest.fixture
def amqp_channel(amqp_connection: Any) -> Iterator[Any]:
    """A fresh channel per test (closed afterwards)."""
    channel = amqp_connection.channel()
    yield channel
    if channel.is_open:
        channel.close()


@pytest.fixture(scope="session")
def db_connection(database_url: str) -> Iterator[Any]:
    """An autocommit psycopg connection to the run's database."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def envelope_factory() -> Callable[..., dict[str, Any]]:
    """``envelope_factory(event_type=None, payload=None, **overrides)`` -> a valid envelope."""
    from holyfields import make_envelope

    return make_envelope


@pytest.fixture(scope="session")
def otlp_receiver(harness_settings: Settings) -> Iterator[Any]:
    """The run's OTLP/HTTP (JSON) span receiver (:class:`harness.otlp.OtlpReceiver`), up for the session."""
    from harness.otlp import OtlpReceiver

    host, port = harness_settings.otlp_address
    try:
        receiver = OtlpReceiver(host, port).start()
    except OSError as exc:
        raise pytest.UsageError(
            f"cannot receive spans on {host}:{port}: {exc} (choose another --otlp-receiver HOST:PORT)"
        ) from None
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="session")
def reference_services(
    backend: Backend, harness_settings: Settings, otlp_receiver: Any
) -> Iterator[dict[str, Any]]:
    """The reference services started for this session (those not given by URL), by name; they export
    the spans of sampled traces to the session's OTLP receiver.

    Internal tests use them to kill or restart a service; black-box tests only need the URL fixtures.
    """
    from harness.services import start_reference_services

    started = start_reference_services(backend, harness_settings, otlp_endpoint=otlp_receiver.endpoint)
    try:
        yield started
    finally:
        for service in reversed(list(started.values())):
            service.stop()


def _service_url(name: str, given: str, services: dict[str, Any]) -> str:
    if given:
        return given.rstrip("/")
    if name not in services:
        pytest.skip(f"no {name} to test: give --{name}-url, or install the reference implementation")
    return services[name].url


@pytest.fixture(scope="session")
def bloodbank_url(harness_settings: Settings, request: pytest.FixtureRequest) -> str:
    """Base URL of the Bloodbank under test (``--bloodbank-url``, else the reference one started here)."""
    services = {} if harness_settings.bloodbank_url else request.getfixturevalue("reference_services")
    return _service_url("bloodbank", harness_settings.bloodbank_url, services)


@pytest.fixture(scope="session")
def candystore_url(harness_settings: Settings, request: pytest.FixtureRequest) -> str:
    """Base URL of the Candystore under test (``--candystore-url``, else the reference one started here)."""
    services = {} if harness_settings.candystore_url else request.getfixturevalue("reference_services")
    return _service_url("candystore", harness_settings.candystore_url, services)


@pytest.fixture(scope="session")
def run_report(pytestconfig: pytest.Config) -> Any:
    """The run's :class:`harness.report.RunReport` (ledger verdicts, findings); private outside verify."""
    from harness.report import REPORT_KEY, RunReport

    if REPORT_KEY not in pytestconfig.stash:
        pytestconfig.stash[REPORT_KEY] = RunReport()
    return pytestconfig.stash[REPORT_KEY]


@pytest.fixture(scope="session")
def harness_capabilities(harness_settings: Settings, run_report: Any) -> Any:
    """The session's :class:`harness.triage.Capabilities` (probed lazily, once, by the checks' needs)."""
    from harness.triage import Capabilities

    def outside(name: str) -> Any:
        raise RuntimeError(f"capability probe asked for fixture {name!r} outside a check")

    return Capabilities(outside, harness_settings, run_report)


@pytest.fixture(scope="session")
def harness_watchdog(harness_capabilities: Any) -> Any:
    """The session's :class:`harness.watchdog.Watchdog` (liveness of the services under test)."""
    from harness.watchdog import Watchdog

    return Watchdog(harness_capabilities)


@pytest.fixture(scope="session")
def bloodbank(bloodbank_url: str, harness_settings: Settings, harness_watchdog: Any) -> Iterator[Any]:
    """:class:`harness.probes.BloodbankClient` of the Bloodbank under test (sends the run's API key)."""
    from harness.probes import BloodbankClient

    client = BloodbankClient(
        bloodbank_url,
        api_key=harness_settings.api_key,
        surface=harness_settings.surface.bloodbank,
        timeout=harness_settings.request_timeout_seconds,
    )
    harness_watchdog.watch("bloodbank", client)
    yield client
    client.close()


@pytest.fixture(scope="session")
def candystore(candystore_url: str, harness_settings: Settings, harness_watchdog: Any) -> Iterator[Any]:
    """:class:`harness.probes.CandystoreClient` of the Candystore under test."""
    from harness.probes import CandystoreClient

    client = CandystoreClient(
        candystore_url,
        surface=harness_settings.surface.candystore,
        timeout=harness_settings.request_timeout_seconds,
    )
    harness_watchdog.watch("candystore", client)
    yield client
    client.close()


@pytest.fixture(scope="session")
def raw_publisher(amqp_url: str, topology: Topology) -> Iterator[Any]:
    """:class:`harness.probes.RawPublisher`: raw bodies straight into the main exchange."""
    from harness.probes import RawPublisher

    publisher = RawPublisher(amqp_url, topology)
    yield publisher
    publisher.close()


@pytest.fixture
def dlq_tap(amqp_url: str, topology: Topology) -> Iterator[Any]:
    """:class:`harness.probes.DeadLetterTap` open for the duration of one test."""
    from harness.probes import DeadLetterTap

    with DeadLetterTap(amqp_url, topology) as tap:
        yield tap


@pytest.fixture(scope="session")
def signing_key(harness_settings: Settings) -> tuple[str, str]:
    """(key id, secret) the services sign and verify with; skips when the run has none."""
    if harness_settings.signing_key is None:
        pytest.skip("no signing key for this target: give --signing-keys id:secret (HARNESS_SIGNING_KEYS)")
    return harness_settings.signing_key
