"""Bloodbank reference service: the event bus front door of the 33GOD pipeline (SPEC §3).

- :class:`Publisher` (``publisher.py``): confirmed, signed, retried publishing, usable without HTTP;
- :func:`create_app` (``app.py``): the FastAPI service; ``python -m reference_impl.bloodbank`` runs it;
- :class:`BloodbankConfig` (``config.py``): settings from ``BLOODBANK_*`` / ``HARNESS_*`` variables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reference_impl.bloodbank.completion import SourceDefaults, complete
from reference_impl.bloodbank.config import BloodbankConfig, ConfigError, RetryConfig
from reference_impl.bloodbank.publisher import (
    BrokerBlocked,
    BrokerUnavailable,
    InvalidEnvelope,
    Publisher,
    PublishError,
    PublishResult,
    RetriesExhausted,
    Unroutable,
)
from reference_impl.bloodbank.signing import Signer

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "BloodbankConfig",
    "BrokerBlocked",
    "BrokerUnavailable",
    "ConfigError",
    "InvalidEnvelope",
    "PublishError",
    "PublishResult",
    "Publisher",
    "RetriesExhausted",
    "RetryConfig",
    "Signer",
    "SourceDefaults",
    "Unroutable",
    "complete",
    "create_app",
    "export_openapi",
]


def create_app(config: BloodbankConfig | None = None, **kwargs: Any) -> FastAPI:
    """The HTTP service (imported lazily: the publisher alone needs no web framework)."""
    from reference_impl.bloodbank.app import create_app as _create_app

    return _create_app(config, **kwargs)


def export_openapi(path: Any = None) -> Any:
    """Write ``contracts/openapi/bloodbank.openapi.json`` (see :mod:`reference_impl.bloodbank.openapi`)."""
    from reference_impl.bloodbank.openapi import OPENAPI_PATH
    from reference_impl.bloodbank.openapi import export_openapi as _export

    return _export(path or OPENAPI_PATH)
