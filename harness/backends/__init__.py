"""Backends: where the RabbitMQ and PostgreSQL of a run come from.

- ``local`` (default): private server processes on free ports (:class:`LocalBackend`);
- ``docker``: testcontainers (:class:`DockerBackend`), needs a Docker engine;
- ``external``: servers someone else runs, given by URL (:class:`ExternalBackend`).

``auto`` picks external when URLs are given, else docker when an engine answers, else local.
"""

from __future__ import annotations

import os

from harness.backends._base import (
    Backend,
    BackendError,
    BackendUnavailable,
    FaultsUnsupported,
    ServerControl,
    free_port,
    run_id,
    wait_until,
)
from harness.backends._docker import DockerBackend, docker_available
from harness.backends._external import ExternalBackend
from harness.backends._local import LocalBackend

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "DockerBackend",
    "ExternalBackend",
    "FaultsUnsupported",
    "LocalBackend",
    "ServerControl",
    "create_backend",
    "free_port",
    "resolve_backend_name",
    "run_id",
    "wait_until",
]

BACKENDS = ("auto", "local", "docker", "external")


def resolve_backend_name(name: str | None, amqp_url: str | None, database_url: str | None) -> str:
    """Turn ``auto`` (or nothing) into a concrete backend name; reject unknown names with the valid ones."""
    name = (name or os.environ.get("HARNESS_BACKEND") or "auto").strip().lower()
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if name != "auto":
        return name
    if amqp_url or database_url:
        return "external"
    if docker_available():
        return "docker"
    return "local"


def create_backend(
    name: str | None = None, *, amqp_url: str | None = None, database_url: str | None = None
) -> Backend:
    """A not yet started backend. URLs default to ``HARNESS_AMQP_URL`` / ``HARNESS_DATABASE_URL``."""
    amqp_url = amqp_url or os.environ.get("HARNESS_AMQP_URL") or None
    database_url = database_url or os.environ.get("HARNESS_DATABASE_URL") or None
    resolved = resolve_backend_name(name, amqp_url, database_url)
    if resolved == "external":
        return ExternalBackend(amqp_url=amqp_url, database_url=database_url)
    if resolved == "docker":
        return DockerBackend()
    return LocalBackend()
