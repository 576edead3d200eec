"""Run settings shared by the CLI and the pytest plugin: option, else environment, else default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from harness.topology import Topology

#: option name -> (environment variable, help)
OPTIONS: dict[str, tuple[str, str]] = {
    "backend": (
        "HARNESS_BACKEND",
        "where RabbitMQ/PostgreSQL come from: auto (default), local, docker, external",
    ),
    "amqp_url": ("HARNESS_AMQP_URL", "AMQP URL of an existing broker (selects the external backend)"),
    "database_url": ("HARNESS_DATABASE_URL", "PostgreSQL URL of an existing server (external backend)"),
    "bloodbank_url": (
        "HARNESS_BLOODBANK_URL",
        "base URL of a Bloodbank to verify instead of the reference one",
    ),
    "candystore_url": (
        "HARNESS_CANDYSTORE_URL",
        "base URL of a Candystore to verify instead of the reference one",
    ),
}


@dataclass(frozen=True)
class Settings:
    """What a run targets. Empty strings mean: provision / start the embedded default."""

    backend: str = "auto"
    amqp_url: str = ""
    database_url: str = ""
    bloodbank_url: str = ""
    candystore_url: str = ""
    topology: Topology = field(default_factory=Topology)

    @property
    def external_services(self) -> bool:
        """True when a service under test is someone else's (internals are out of reach)."""
        return bool(self.bloodbank_url or self.candystore_url)

    @classmethod
    def resolve(cls, given: dict[str, str | None], environ: dict[str, str] | None = None) -> Settings:
        """Options given explicitly win over ``HARNESS_*`` environment variables."""
        environ = os.environ if environ is None else environ
        values = {}
        for name, (var, _help) in OPTIONS.items():
            value = given.get(name) or environ.get(var) or ""
            values[name] = value.strip()
        values["backend"] = (values["backend"] or "auto").lower()
        return cls(topology=Topology.from_env(environ), **values)
