"""The Bloodbank HTTP service (SPEC §3): validated, confirmed publishing of events over HTTP.

>>> app = create_app(BloodbankConfig.from_env())   # doctest: +SKIP

Handlers read the raw body themselves (instead of a pydantic model) so that each client error gets its own
precise answer: 400 not JSON / wrong shape, 413 too large, 422 with every schema violation. A publish is
answered 202 only after the broker confirmed it; once confirmed, nothing can turn the answer into an error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from reference_impl._headers import HeaderLimit
from reference_impl.bloodbank.config import BloodbankConfig
from reference_impl.bloodbank.docs import install_openapi
from reference_impl.bloodbank.publisher import BrokerUnavailable
from reference_impl.bloodbank.routes import add_info_routes, add_publish_routes
from reference_impl.bloodbank.service import Service

log = logging.getLogger("reference_impl.bloodbank")

API_VERSION = "1.0.0"


def create_app(
    config: BloodbankConfig | None = None, *, tracer_provider: TracerProvider | None = None
) -> FastAPI:
    """The FastAPI application; it connects to the broker on startup (and keeps reconnecting)."""
    config = config or BloodbankConfig.from_env()
    service = Service(config, tracer_provider=tracer_provider)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await service.publisher.connect()
        except BrokerUnavailable as exc:
            log.warning("starting without the broker (not ready; reconnecting in the background): %s", exc)
        try:
            yield
        finally:
            await service.publisher.close()
            if tracer_provider is None:
                service.tracer_provider.shutdown()

    app = FastAPI(
        title="Bloodbank",
        version=API_VERSION,
        description=(
            "Event bus front door of the 33GOD pipeline: validates event envelopes against the Holyfields "
            "schemas and publishes them to RabbitMQ with publisher confirms. 202 means the broker confirmed."
        ),
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(HeaderLimit, max_bytes=config.max_header_bytes, setting="BLOODBANK_MAX_HEADER_BYTES")
    add_publish_routes(app, service)
    add_info_routes(app, service)
    install_openapi(app, service)
    return app
