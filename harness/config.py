"""Run settings shared by the CLI and the pytest plugin: option, else environment, else default."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace

from harness.profile import Profile
from holyfields.topology import Topology

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
    "profile": (
        "HARNESS_PROFILE",
        "TOML file describing the target's routes, success statuses and broker names "
        "(docs/target-profile.toml); options and HARNESS_* variables override it",
    ),
    "request_timeout": (
        "HARNESS_REQUEST_TIMEOUT",
        "seconds a request to a service under test may take before it counts as not answering (default 15)",
    ),
    "fault_control": (
        "HARNESS_FAULT_CONTROL",
        "fault control URL printed by `harness up --proxied`: the black-box fault runs cut the broker and "
        "database connections of services started on its proxied URLs",
    ),
    "otlp_receiver": (
        "HARNESS_OTLP_RECEIVER",
        "HOST:PORT where the harness receives the spans of the services under test (OTLP/HTTP, JSON); "
        "point their exporters at http://HOST:PORT (default: a free loopback port, given to the reference "
        "services)",
    ),
    "signing_keys": (
        "HARNESS_SIGNING_KEYS",
        "HMAC keys 'id:secret[,id:secret]' the services sign/verify with (first = active; "
        "generated for the reference stack)",
    ),
    "api_keys": (
        "HARNESS_API_KEYS",
        "Bloodbank API keys 'main[,probe]' (the probe key is used to trip the rate limit; "
        "generated for the reference stack)",
    ),
}

#: rate limit of the reference Bloodbank (per API key): high enough for the suites, low enough to trip
REFERENCE_RATE_LIMIT = (100.0, 200)


@dataclass(frozen=True)
class Settings:
    """What a run targets. Empty strings mean: provision / start the embedded default."""

    backend: str = "auto"
    amqp_url: str = ""
    database_url: str = ""
    bloodbank_url: str = ""
    candystore_url: str = ""
    profile: str = ""
    request_timeout: str = ""
    fault_control: str = ""
    otlp_receiver: str = ""
    signing_keys: str = ""
    api_keys: str = ""
    topology: Topology = field(default_factory=Topology)
    #: routes, statuses and names of the target (from ``profile``; SPEC defaults without one)
    surface: Profile = field(default_factory=Profile)
    #: the reference Bloodbank started by this run limits each API key (off for load runs)
    rate_limited: bool = True

    @property
    def external_services(self) -> bool:
        """True when a service under test is someone else's (internals are out of reach)."""
        return bool(self.bloodbank_url or self.candystore_url)

    @property
    def request_timeout_seconds(self) -> float:
        try:
            return float(self.request_timeout) if self.request_timeout else 15.0
        except ValueError:
            raise ValueError(
                f"request timeout {self.request_timeout!r} is not a number of seconds "
                "(--request-timeout / HARNESS_REQUEST_TIMEOUT)"
            ) from None

    @property
    def otlp_address(self) -> tuple[str, int]:
        """(host, port) of ``otlp_receiver``; port 0 = any free port."""
        if not self.otlp_receiver:
            return "127.0.0.1", 0
        host, _, port = self.otlp_receiver.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"OTLP receiver {self.otlp_receiver!r} is not HOST:PORT "
                "(--otlp-receiver / HARNESS_OTLP_RECEIVER, e.g. 127.0.0.1:4318)"
            )
        return host or "127.0.0.1", int(port)

    @property
    def keyring(self) -> dict[str, str]:
        """Signing key id -> secret, in the order given (the first is the active key)."""
        pairs = (item.split(":", 1) for item in self.signing_keys.split(",") if ":" in item)
        return {kid.strip(): secret.strip() for kid, secret in pairs}

    @property
    def signing_key(self) -> tuple[str, str] | None:
        """(key id, secret) of the active signing key, or None when signing is not configured."""
        return next(iter(self.keyring.items()), None)

    @property
    def api_key(self) -> str | None:
        """The API key the suites send (``X-API-Key``), or None."""
        keys = [k.strip() for k in self.api_keys.split(",") if k.strip()]
        return keys[0] if keys else None

    @property
    def probe_api_key(self) -> str | None:
        """A second API key for the rate-limit probe (so it does not throttle the other suites)."""
        keys = [k.strip() for k in self.api_keys.split(",") if k.strip()]
        return keys[1] if len(keys) > 1 else (keys[0] if keys else None)

    def with_reference_credentials(self) -> Settings:
        """Generate signing keys and API keys for reference services this run starts itself."""
        updated = self
        if not self.signing_keys and not self.external_services:
            updated = replace(
                updated, signing_keys=f"harness-k1:{secrets.token_hex(16)},harness-k0:{secrets.token_hex(16)}"
            )
        if not self.api_keys and not self.bloodbank_url:
            updated = replace(updated, api_keys=f"{secrets.token_hex(12)},{secrets.token_hex(12)}")
        return updated

    @classmethod
    def resolve(cls, given: dict[str, str | None], environ: dict[str, str] | None = None) -> Settings:
        """Options given explicitly win over ``HARNESS_*`` environment variables."""
        environ = os.environ if environ is None else environ
        values = {}
        for name, (var, _help) in OPTIONS.items():
            value = given.get(name) or environ.get(var) or ""
            values[name] = value.strip()
        values["backend"] = (values["backend"] or "auto").lower()
        surface = Profile.load(values["profile"]) if values["profile"] else Profile()
        topology = Topology.from_env(environ, base=surface.broker)
        return cls(topology=topology, surface=surface, **values).with_reference_credentials()
