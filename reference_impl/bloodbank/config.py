"""Settings of the Bloodbank service, read from ``BLOODBANK_*`` and ``HARNESS_*`` environment variables.

Every variable, its default and its meaning is listed in ``README.md`` beside this file; :data:`ENV_DEFAULTS`
is the single source of the defaults (a test keeps the README in step with it).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from holyfields.topology import Topology
from reference_impl.bloodbank.signing import Signer, SigningConfigError

SOURCE_TYPES = ("manual", "agent", "scheduled", "webhook", "system")

#: variable -> default (as text; "" means unset / feature off)
ENV_DEFAULTS: dict[str, str] = {
    "BLOODBANK_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
    "BLOODBANK_HOST": "127.0.0.1",
    "BLOODBANK_PORT": "8682",
    "BLOODBANK_PUBLISH_RETRIES": "3",
    "BLOODBANK_RETRY_BASE_DELAY": "1.0",
    "BLOODBANK_RETRY_MAX_DELAY": "30.0",
    "BLOODBANK_CONFIRM_TIMEOUT": "5.0",
    "BLOODBANK_CONNECT_TIMEOUT": "5.0",
    "BLOODBANK_RECONNECT_INTERVAL": "1.0",
    "BLOODBANK_SIGNING_KEYS": "",
    "BLOODBANK_SIGNING_KEY_ID": "",
    "BLOODBANK_API_KEYS": "",
    "BLOODBANK_RATE_LIMIT": "0",
    "BLOODBANK_RATE_BURST": "0",
    "BLOODBANK_MAX_BODY_BYTES": "1048576",
    "BLOODBANK_MAX_HEADER_BYTES": "16384",
    "BLOODBANK_MAX_BATCH_BODY_BYTES": "16777216",
    "BLOODBANK_MAX_BATCH_ITEMS": "1000",
    "BLOODBANK_RETRY_AFTER_SECONDS": "5",
    "BLOODBANK_SOURCE_HOST": "",
    "BLOODBANK_SOURCE_APP": "bloodbank",
    "BLOODBANK_SOURCE_TYPE": "manual",
    "BLOODBANK_TRACE_EXPORT": "none",
    "BLOODBANK_OTLP_ENDPOINT": "",
    "BLOODBANK_LOG_LEVEL": "info",
    "BLOODBANK_ACCESS_LOG": "false",
}


class ConfigError(ValueError):
    """An environment variable holds a value Bloodbank cannot use; the message names the variable."""


@dataclass(frozen=True)
class RetryConfig:
    """Retry of transient broker failures: ``retries`` more attempts after the first, exponential delays."""

    retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delays(self) -> list[float]:
        """The waits before each retry, e.g. ``[1.0, 2.0, 4.0]`` for the defaults."""
        return [min(self.base_delay * 2**n, self.max_delay) for n in range(self.retries)]


@dataclass(frozen=True)
class BloodbankConfig:
    """Everything the service needs; :meth:`from_env` reads it, tests build it directly."""

    amqp_url: str = ENV_DEFAULTS["BLOODBANK_AMQP_URL"]
    host: str = "127.0.0.1"
    port: int = 8682
    topology: Topology = field(default_factory=Topology)
    retry: RetryConfig = field(default_factory=RetryConfig)
    confirm_timeout: float = 5.0
    connect_timeout: float = 5.0
    reconnect_interval: float = 1.0
    signer: Signer | None = None
    api_keys: tuple[str, ...] = ()
    rate_limit: float = 0.0
    rate_burst: int = 0
    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 16_384
    max_batch_body_bytes: int = 16_777_216
    max_batch_items: int = 1000
    retry_after_seconds: int = 5
    source_host: str = field(default_factory=socket.gethostname)
    source_app: str = "bloodbank"
    source_type: str = "manual"
    trace_export: str = "none"
    #: OTLP/HTTP endpoint of ``trace_export="otlp"`` (``/v1/traces`` is appended)
    otlp_endpoint: str = ""
    log_level: str = "info"
    access_log: bool = False

    @property
    def effective_burst(self) -> int:
        """Bucket size of the rate limiter (the rate itself, at least 1, when no burst is set)."""
        return self.rate_burst if self.rate_burst > 0 else max(1, int(self.rate_limit + 0.999))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BloodbankConfig:
        """Read the configuration; raise :class:`ConfigError` naming the first bad variable."""
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        keys = reader.text("BLOODBANK_SIGNING_KEYS")
        signer = None
        if keys:
            try:
                signer = Signer.from_spec(keys, reader.text("BLOODBANK_SIGNING_KEY_ID") or None)
            except SigningConfigError as exc:
                raise ConfigError(f"BLOODBANK_SIGNING_KEYS / BLOODBANK_SIGNING_KEY_ID: {exc}") from None
        elif reader.text("BLOODBANK_SIGNING_KEY_ID"):
            raise ConfigError("BLOODBANK_SIGNING_KEY_ID is set but BLOODBANK_SIGNING_KEYS is empty")
        source_type = reader.text("BLOODBANK_SOURCE_TYPE")
        if source_type not in SOURCE_TYPES:
            choices = ", ".join(SOURCE_TYPES)
            raise ConfigError(f"BLOODBANK_SOURCE_TYPE={source_type!r}: choose one of {choices}")
        trace_export = reader.text("BLOODBANK_TRACE_EXPORT").lower()
        if trace_export not in ("none", "console", "otlp"):
            raise ConfigError(f"BLOODBANK_TRACE_EXPORT={trace_export!r}: choose none, console or otlp")
        otlp_endpoint = reader.text("BLOODBANK_OTLP_ENDPOINT")
        if trace_export == "otlp" and not otlp_endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                f"BLOODBANK_OTLP_ENDPOINT={otlp_endpoint!r}: BLOODBANK_TRACE_EXPORT=otlp needs the "
                "http(s) URL of an OTLP/HTTP receiver (e.g. http://127.0.0.1:4318)"
            )
        return cls(
            amqp_url=reader.text("BLOODBANK_AMQP_URL"),
            host=reader.text("BLOODBANK_HOST"),
            port=reader.integer("BLOODBANK_PORT", minimum=0, maximum=65535),
            topology=Topology.from_env(dict(env)),
            retry=RetryConfig(
                retries=reader.integer("BLOODBANK_PUBLISH_RETRIES", minimum=0),
                base_delay=reader.number("BLOODBANK_RETRY_BASE_DELAY"),
                max_delay=reader.number("BLOODBANK_RETRY_MAX_DELAY"),
            ),
            confirm_timeout=reader.number("BLOODBANK_CONFIRM_TIMEOUT", positive=True),
            connect_timeout=reader.number("BLOODBANK_CONNECT_TIMEOUT", positive=True),
            reconnect_interval=reader.number("BLOODBANK_RECONNECT_INTERVAL", positive=True),
            signer=signer,
            api_keys=tuple(k.strip() for k in reader.text("BLOODBANK_API_KEYS").split(",") if k.strip()),
            rate_limit=reader.number("BLOODBANK_RATE_LIMIT"),
            rate_burst=reader.integer("BLOODBANK_RATE_BURST", minimum=0),
            max_body_bytes=reader.integer("BLOODBANK_MAX_BODY_BYTES", minimum=1),
            max_header_bytes=reader.integer("BLOODBANK_MAX_HEADER_BYTES", minimum=1024),
            max_batch_body_bytes=reader.integer("BLOODBANK_MAX_BATCH_BODY_BYTES", minimum=1),
            max_batch_items=reader.integer("BLOODBANK_MAX_BATCH_ITEMS", minimum=1),
            retry_after_seconds=reader.integer("BLOODBANK_RETRY_AFTER_SECONDS", minimum=1),
            source_host=reader.text("BLOODBANK_SOURCE_HOST") or socket.gethostname(),
            source_app=reader.text("BLOODBANK_SOURCE_APP"),
            source_type=source_type,
            trace_export=trace_export,
            otlp_endpoint=otlp_endpoint,
            log_level=reader.text("BLOODBANK_LOG_LEVEL").lower(),
            access_log=reader.flag("BLOODBANK_ACCESS_LOG"),
        )


@dataclass
class _Reader:
    env: Mapping[str, str]

    def text(self, name: str) -> str:
        value = self.env.get(name)
        return (ENV_DEFAULTS[name] if value is None or value.strip() == "" else value).strip()

    def number(self, name: str, *, positive: bool = False) -> float:
        raw = self.text(name)
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number (default {ENV_DEFAULTS[name]})") from None
        if value < 0 or (positive and value == 0):
            raise ConfigError(f"{name}={raw!r} must be {'> 0' if positive else '>= 0'}")
        return value

    def integer(self, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.text(name)
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not an integer (default {ENV_DEFAULTS[name]})") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ConfigError(f"{name}={raw!r} must be {bound}")
        return value

    def flag(self, name: str) -> bool:
        raw = self.text(name).lower()
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r}: use true or false")


def describe(config: BloodbankConfig) -> dict[str, Any]:
    """A loggable summary without secrets."""
    return {
        "amqp_url": redact_url(config.amqp_url),
        "listen": f"{config.host}:{config.port}",
        "exchange": config.topology.exchange,
        "retries": config.retry.retries,
        "signing_key_id": config.signer.active_key_id if config.signer else None,
        "api_keys": len(config.api_keys),
        "rate_limit": config.rate_limit,
    }


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return url
