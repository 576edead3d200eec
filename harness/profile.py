"""Target profile: how a team's Bloodbank and Candystore expose what SPEC §3 and §4 describe.

Teams name routes, statuses and broker objects differently. A profile is one TOML file (see
``docs/target-profile.toml``) whose every key is optional and defaults to the SPEC; the suites read routes and
accepted statuses from it instead of hard-coding them. ``harness verify --profile FILE``; command-line options
and ``HARNESS_*`` variables override what it says.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from holyfields.topology import Topology


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Route:
    """An HTTP route: method and path (``{event_id}`` is filled in); ``path`` empty = the target has none."""

    method: str
    path: str

    @property
    def present(self) -> bool:
        return bool(self.path)

    def url(self, **values: str) -> str:
        return self.path.format(**values) if values else self.path

    def __str__(self) -> str:
        return f"{self.method} {self.path}" if self.present else "(none)"

    @classmethod
    def parse(cls, text: str, default_method: str, where: str) -> Route:
        text = text.strip()
        if not text:
            return cls(default_method, "")
        method, _, path = text.rpartition(" ")
        method = (method.strip() or default_method).upper()
        if method not in {"GET", "POST", "PUT", "PATCH"}:
            raise ProfileError(f"{where}: unknown method {method!r} in {text!r} (write e.g. 'POST /events')")
        if not (path.startswith("/") or path.startswith("http://") or path.startswith("https://")):
            raise ProfileError(f"{where}: route {text!r} must start with '/' or be a full http(s) URL")
        return cls(method, path)


@dataclass(frozen=True)
class BloodbankSurface:
    publish: Route = Route("POST", "/events")
    #: statuses that mean "published" (SPEC: 202)
    success: tuple[int, ...] = (202,)
    batch: Route = Route("POST", "/events/batch")
    health: Route = Route("GET", "/healthz")
    ready: Route = Route("GET", "/readyz")
    #: may be a full URL when metrics are served on another port
    metrics: Route = Route("GET", "/metrics")
    api_key_header: str = "X-API-Key"
    parent_header: str = "X-Parent-Event-Id"
    signature_header: str = "x-signature"
    signature_key_header: str = "x-signature-key-id"


@dataclass(frozen=True)
class CandystoreSurface:
    list: Route = Route("GET", "/events")
    by_id: Route = Route("GET", "/events/{event_id}")
    trace: Route = Route("GET", "/events/trace/{event_id}")
    stream: Route = Route("GET", "/events/stream")
    health: Route = Route("GET", "/health")
    ready: Route = Route("GET", "/readyz")
    metrics: Route = Route("GET", "/metrics")
    #: SPEC query parameter name -> the target's name for it
    params: dict[str, str] = field(
        default_factory=lambda: {
            n: n for n in ("session_id", "event_type", "source_app", "since", "until", "limit", "offset")
        }
    )

    def query(self, **params: Any) -> dict[str, Any]:
        """SPEC-named query parameters renamed to the target's names."""
        return {self.params.get(name, name): value for name, value in params.items()}


@dataclass(frozen=True)
class Profile:
    bloodbank: BloodbankSurface = field(default_factory=BloodbankSurface)
    candystore: CandystoreSurface = field(default_factory=CandystoreSurface)
    broker: Topology = field(default_factory=Topology)
    #: the file it was read from ("" = SPEC defaults)
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ProfileError(f"profile {path} not found (give --profile an existing TOML file)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"profile {path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> Profile:
        where = source or "profile"
        unknown = set(data) - {"bloodbank", "candystore", "broker"}
        if unknown:
            raise ProfileError(
                f"{where}: unknown section(s) {sorted(unknown)} (sections: bloodbank, candystore, broker)"
            )
        return cls(
            bloodbank=_surface(BloodbankSurface(), data.get("bloodbank", {}), f"{where} [bloodbank]"),
            candystore=_surface(CandystoreSurface(), data.get("candystore", {}), f"{where} [candystore]"),
            broker=_surface(Topology(), data.get("broker", {}), f"{where} [broker]"),
            source=source,
        )


def _surface(default: Any, given: dict[str, Any], where: str) -> Any:
    """``default`` with the keys of ``given`` replaced, each checked against the default's type."""
    if not isinstance(given, dict):
        raise ProfileError(f"{where} must be a table")
    known = {f.name: getattr(default, f.name) for f in fields(default)}
    changes: dict[str, Any] = {}
    for key, value in given.items():
        if key not in known:
            raise ProfileError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        current = known[key]
        if isinstance(current, Route):
            if not isinstance(value, str):
                raise ProfileError(f"{where}.{key}: write the route as a string like 'POST /events' or ''")
            changes[key] = Route.parse(value, current.method, f"{where}.{key}")
        elif isinstance(current, tuple):
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, int) and 100 <= v <= 599 for v in values):
                raise ProfileError(f"{where}.{key}: give HTTP statuses, e.g. [200, 202]")
            changes[key] = tuple(values)
        elif isinstance(current, dict):
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ProfileError(f"{where}.{key}: give a table of SPEC name = target name")
            changes[key] = {**current, **value}
        elif isinstance(current, int):
            if not isinstance(value, int):
                raise ProfileError(f"{where}.{key}: give a number")
            changes[key] = value
        else:
            if not isinstance(value, str):
                raise ProfileError(f"{where}.{key}: give a string")
            changes[key] = value
    return replace(default, **changes)
