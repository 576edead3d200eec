"""Reference Candystore: consumes every event from RabbitMQ, stores the full envelope in PostgreSQL, serves
REST, trace and WebSocket queries (SPEC §4). Run with ``python -m reference_impl.candystore``."""

from __future__ import annotations

__all__ = ["create_app", "export_openapi"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from reference_impl.candystore import api

        return getattr(api, name)
    raise AttributeError(name)
