"""The external backend: RabbitMQ and PostgreSQL that someone else runs, given by URL.

A run must not disturb what else lives there: it works in a database of its own (created at start, dropped at
the end) and prefixes every exchange and queue it creates with a run id (deleted at the end).
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

from harness.backends._base import Backend, BackendError, BackendUnavailable, _NoFaults, run_id
from harness.janitor import create_database, delete_broker_objects, drop_database

_HOW = "give both --amqp-url and --database-url (or HARNESS_AMQP_URL and HARNESS_DATABASE_URL)"


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class ExternalBackend(Backend):
    """Servers given by URL; the run gets its own database and prefixed broker objects."""

    def __init__(self, *, amqp_url: str | None, database_url: str | None, prefix: str | None = None) -> None:
        if not amqp_url or not database_url:
            missing = " and ".join(n for n, v in (("AMQP", amqp_url), ("database", database_url)) if not v)
            raise BackendError(f"external backend: no {missing} URL given; {_HOW}")
        super().__init__(name="external", supports_faults=False)
        self.admin_database_url = database_url
        self.given_amqp_url = amqp_url
        self.run = run_id()
        self.database = f"harness_{self.run}"
        self.topology = self.topology.prefixed(prefix if prefix is not None else f"harness.{self.run}.")
        self.rabbitmq = _NoFaults("rabbitmq", "external")
        self.postgres = _NoFaults("postgres", "external")
        self._created_database = False
        self._amqp_objects: list[tuple[str, str]] = []

    def register_queue(self, name: str) -> str:
        """Remember a queue created on the shared broker, to delete it at :meth:`stop`."""
        self._amqp_objects.append(("queue", name))
        return name

    def register_exchange(self, name: str) -> str:
        """Remember an exchange created on the shared broker, to delete it at :meth:`stop`."""
        self._amqp_objects.append(("exchange", name))
        return name

    def start(self) -> ExternalBackend:
        import pika
        import psycopg

        began = time.monotonic()
        self.started_at = time.time()
        try:
            params = pika.URLParameters(self.given_amqp_url)
            params.socket_timeout = 5
            params.blocked_connection_timeout = 5
            pika.BlockingConnection(params).close()
        except Exception as exc:
            raise BackendUnavailable(
                f"external backend: cannot connect to {redact_url(self.given_amqp_url)}: {exc!r}"
            ) from None
        try:
            self.database_url = create_database(self.admin_database_url, self.database)
        except psycopg.Error as exc:
            raise BackendUnavailable(
                f"external backend: cannot create database {self.database} through "
                f"{redact_url(self.admin_database_url)}: {str(exc).strip()}"
            ) from None
        self._created_database = True
        self.amqp_url = self.given_amqp_url
        for name in (self.topology.exchange, self.topology.dlx):
            self.register_exchange(name)
        for name in (self.topology.queue, self.topology.dlq):
            self.register_queue(name)
        self.ready_seconds = round(time.monotonic() - began, 3)
        return self

    def stop(self) -> None:
        errors = []
        if self._amqp_objects:
            try:
                self._delete_amqp_objects()
            except Exception as exc:
                errors.append(f"broker clean-up: {exc!r}")
        if self._created_database:
            import psycopg

            try:
                drop_database(self.admin_database_url, self.database)
                self._created_database = False
            except psycopg.Error as exc:
                errors.append(f"drop database {self.database}: {str(exc).strip()}")
        if errors:
            raise BackendError("external backend: clean-up incomplete: " + "; ".join(errors))

    def _delete_amqp_objects(self) -> None:
        queues = [name for kind, name in reversed(self._amqp_objects) if kind == "queue"]
        exchanges = [name for kind, name in reversed(self._amqp_objects) if kind == "exchange"]
        delete_broker_objects(self.given_amqp_url, queues=queues, exchanges=exchanges)
        self._amqp_objects.clear()
