"""Names of the RabbitMQ objects of SPEC §2, as one value passed to services and suites.

Teams name things differently, and a run against a shared broker must not disturb what else lives there,
so every suite and service takes its names from a :class:`Topology` instead of hard-coding them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

#: environment variable -> Topology field (read by :meth:`Topology.from_env`, written by :meth:`Topology.env`)
ENV_VARS = {
    "HARNESS_EXCHANGE": "exchange",
    "HARNESS_DLX": "dlx",
    "HARNESS_DLQ": "dlq",
    "HARNESS_QUEUE": "queue",
    "HARNESS_DLQ_ROUTING_KEY": "dlq_routing_key",
}


@dataclass(frozen=True)
class Topology:
    """The broker objects of the event pipeline (defaults: SPEC §2)."""

    exchange: str = "bloodbank.events.v1"
    dlx: str = "bloodbank.events.dlq"
    dlq: str = "dlq.all"
    queue: str = "candystore.events"
    dlq_routing_key: str = "dlq.candystore"
    queue_message_ttl_ms: int = 86_400_000
    queue_max_length: int = 10_000

    def prefixed(self, prefix: str) -> Topology:
        """The same topology with every object name prefixed (isolation on a shared broker)."""
        return replace(
            self,
            exchange=prefix + self.exchange,
            dlx=prefix + self.dlx,
            dlq=prefix + self.dlq,
            queue=prefix + self.queue,
        )

    def queue_arguments(self) -> dict[str, object]:
        """Arguments the Candystore queue is declared with (SPEC §2)."""
        return {
            "x-dead-letter-exchange": self.dlx,
            "x-dead-letter-routing-key": self.dlq_routing_key,
            "x-message-ttl": self.queue_message_ttl_ms,
            "x-max-length": self.queue_max_length,
        }

    def env(self) -> dict[str, str]:
        """Environment variables that hand this topology to a service process."""
        values = asdict(self)
        return {var: str(values[field]) for var, field in ENV_VARS.items()}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, base: Topology | None = None) -> Topology:
        """Read a topology from ``HARNESS_*`` variables; missing ones keep ``base`` (default: the SPEC's)."""
        environ = os.environ if environ is None else environ
        given = {field: environ[var] for var, field in ENV_VARS.items() if environ.get(var)}
        return replace(base or cls(), **given)
