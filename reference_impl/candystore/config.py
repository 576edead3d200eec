"""Candystore settings, read from the environment (every variable is listed in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from holyfields.topology import Topology

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/candystore"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A ``CANDYSTORE_*`` variable has a value the service cannot use; the message names it."""


def _bool(environ: dict[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r}: expected one of true/false, yes/no, 1/0")


def _number(environ: dict[str, str], name: str, default: float, *, minimum: float, integer: bool) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value: float = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name}={raw!r}: expected {kind}") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: must be >= {minimum}")
    return value


def parse_signing_keys(raw: str, *, name: str = "CANDYSTORE_SIGNING_KEYS") -> dict[str, bytes]:
    """Parse ``id:secret,id2:secret2`` into ``{id: secret-bytes}`` (several ids allow key rotation)."""
    keys: dict[str, bytes] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        key_id, sep, secret = item.partition(":")
        if not sep or not key_id.strip() or not secret:
            raise ConfigError(f"{name}: entry {item.split(':')[0]!r}… must look like 'key_id:secret'")
        keys[key_id.strip()] = secret.encode()
    return keys


@dataclass(frozen=True)
class Settings:
    """Everything the service reads at start-up."""

    amqp_url: str = DEFAULT_AMQP_URL
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8683
    topology: Topology = field(default_factory=Topology)
    require_signatures: bool = False
    signing_keys: dict[str, bytes] = field(default_factory=dict)
    prefetch: int = 1000
    batch_size: int = 500
    batch_linger: float = 0.005
    max_transient_attempts: int = 5
    backoff_initial: float = 0.1
    backoff_max: float = 2.0
    db_timeout: float = 5.0
    api_pool_size: int = 4
    trace_max_events: int = 10_000
    stream_queue_size: int = 10_000
    max_header_bytes: int = 16_384
    log_level: str = "info"
    #: OTLP/HTTP endpoint for the store spans of sampled traces ("" = no spans)
    otlp_endpoint: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read ``CANDYSTORE_*`` (and the ``HARNESS_*`` topology names); raise :class:`ConfigError`."""
        env = dict(os.environ if environ is None else environ)

        def integer(name: str, default: int, minimum: int = 1) -> int:
            return int(_number(env, name, default, minimum=minimum, integer=True))

        def seconds(name: str, default: float, minimum: float = 0.0) -> float:
            return _number(env, name, default, minimum=minimum, integer=False)

        keys = parse_signing_keys(env.get("CANDYSTORE_SIGNING_KEYS", ""))
        require = _bool(env, "CANDYSTORE_REQUIRE_SIGNATURES", False)
        if require and not keys:
            raise ConfigError(
                "CANDYSTORE_REQUIRE_SIGNATURES=true but CANDYSTORE_SIGNING_KEYS is empty: "
                "give the accepted keys as 'key_id:secret,…'"
            )
        settings = cls(
            amqp_url=env.get("CANDYSTORE_AMQP_URL") or DEFAULT_AMQP_URL,
            database_url=env.get("CANDYSTORE_DATABASE_URL") or DEFAULT_DATABASE_URL,
            host=env.get("CANDYSTORE_HOST") or "127.0.0.1",
            port=integer("CANDYSTORE_PORT", 8683, minimum=0),
            topology=Topology.from_env(env),
            require_signatures=require,
            signing_keys=keys,
            prefetch=integer("CANDYSTORE_PREFETCH", 1000),
            batch_size=integer("CANDYSTORE_BATCH_SIZE", 500),
            batch_linger=seconds("CANDYSTORE_BATCH_LINGER_MS", 5.0) / 1000.0,
            max_transient_attempts=integer("CANDYSTORE_MAX_TRANSIENT_ATTEMPTS", 5),
            backoff_initial=seconds("CANDYSTORE_BACKOFF_INITIAL_MS", 100.0, minimum=1.0) / 1000.0,
            backoff_max=seconds("CANDYSTORE_BACKOFF_MAX_MS", 2000.0, minimum=1.0) / 1000.0,
            db_timeout=seconds("CANDYSTORE_DB_TIMEOUT_MS", 5000.0, minimum=10.0) / 1000.0,
            api_pool_size=integer("CANDYSTORE_API_POOL_SIZE", 4),
            trace_max_events=integer("CANDYSTORE_TRACE_MAX_EVENTS", 10_000),
            stream_queue_size=integer("CANDYSTORE_STREAM_QUEUE_SIZE", 10_000),
            max_header_bytes=integer("CANDYSTORE_MAX_HEADER_BYTES", 16_384, minimum=1024),
            log_level=(env.get("CANDYSTORE_LOG_LEVEL") or "info").lower(),
            otlp_endpoint=(env.get("CANDYSTORE_OTLP_ENDPOINT") or "").strip(),
        )
        if settings.otlp_endpoint and not settings.otlp_endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                f"CANDYSTORE_OTLP_ENDPOINT={settings.otlp_endpoint!r}: give the http(s) URL of an OTLP/HTTP "
                "receiver (e.g. http://127.0.0.1:4318), or leave it empty for no spans"
            )
        if settings.batch_size > settings.prefetch:
            raise ConfigError(
                f"CANDYSTORE_BATCH_SIZE={settings.batch_size} exceeds "
                f"CANDYSTORE_PREFETCH={settings.prefetch}: "
                "a batch can never fill; lower the batch size or raise the prefetch"
            )
        return settings
