"""How Candystore is launched, for whoever starts it (a harness, a test, a supervisor): its module (run with
``python -m``), the environment that configures it (see README.md), how to tell it is live and ready."""

from __future__ import annotations

MODULE = "reference_impl.candystore"
#: 200 while the process runs; the body says whether the database and the broker are up
LIVENESS_PATH = "/health"
#: 200 once the database is migrated and the queue is declared and consumed; 503 before
READY_PATH = "/readyz"


def environment(
    *,
    port: int,
    amqp_url: str,
    database_url: str,
    host: str = "127.0.0.1",
    signing_keys: str = "",
    otlp_endpoint: str = "",
) -> dict[str, str]:
    """``CANDYSTORE_*`` variables: listen on ``host:port``, consume from ``amqp_url``, store in
    ``database_url``; with ``signing_keys``, require a valid signature by any of them (key rotation); with
    ``otlp_endpoint``, export a store span per stored event of a sampled trace (OTLP/HTTP, JSON).
    Topology names: the variables of :meth:`holyfields.topology.Topology.env`."""
    env = {
        "CANDYSTORE_AMQP_URL": amqp_url,
        "CANDYSTORE_HOST": host,
        "CANDYSTORE_PORT": str(port),
        "CANDYSTORE_DATABASE_URL": database_url,
    }
    if signing_keys:
        env["CANDYSTORE_REQUIRE_SIGNATURES"] = "true"
        env["CANDYSTORE_SIGNING_KEYS"] = signing_keys
    if otlp_endpoint:
        env["CANDYSTORE_OTLP_ENDPOINT"] = otlp_endpoint
    return env
