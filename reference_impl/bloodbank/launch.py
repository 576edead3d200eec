"""How Bloodbank is launched, for whoever starts it (a harness, a test, a supervisor): its module (run with
``python -m``), the environment that configures it (see README.md), how to tell it is live and ready."""

from __future__ import annotations

MODULE = "reference_impl.bloodbank"
#: 200 while the process runs
LIVENESS_PATH = "/healthz"
#: 200 once connected to the broker with the topology declared; 503 with Retry-After before
READY_PATH = "/readyz"


def environment(
    *,
    port: int,
    amqp_url: str,
    host: str = "127.0.0.1",
    signing_keys: str = "",
    signing_key_id: str = "",
    api_keys: str = "",
    rate_limit: tuple[float, int] | None = None,
    otlp_endpoint: str = "",
) -> dict[str, str]:
    """``BLOODBANK_*`` variables: listen on ``host:port``, publish to ``amqp_url``; sign with
    ``signing_key_id`` of ``signing_keys``; require ``api_keys``, each limited to ``rate_limit`` (rate/s,
    burst); export the spans of sampled traces to ``otlp_endpoint`` (OTLP/HTTP, JSON).
    Topology names: the variables of :meth:`holyfields.topology.Topology.env`."""
    env = {"BLOODBANK_AMQP_URL": amqp_url, "BLOODBANK_HOST": host, "BLOODBANK_PORT": str(port)}
    if signing_keys:
        env["BLOODBANK_SIGNING_KEYS"] = signing_keys
        env["BLOODBANK_SIGNING_KEY_ID"] = signing_key_id
    if api_keys:
        env["BLOODBANK_API_KEYS"] = api_keys
        if rate_limit is not None:
            env["BLOODBANK_RATE_LIMIT"] = str(rate_limit[0])
            env["BLOODBANK_RATE_BURST"] = str(rate_limit[1])
    if otlp_endpoint:
        env["BLOODBANK_TRACE_EXPORT"] = "otlp"
        env["BLOODBANK_OTLP_ENDPOINT"] = otlp_endpoint
    return env
