"""``harness probe``: what a target exposes, in seconds, before a full ``harness verify``.

Read-mostly: it reads each service's OpenAPI when there is one, asks the health / ready / metrics routes,
sends ONE valid event and looks for it through the read API, inspects the broker objects it can see, and
prints what it found, what is missing and a draft profile. A missing endpoint is a line of the answer, never
a crash.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.config import Settings
from harness.profile import Route
from harness.report import RunReport
from harness.triage import Capabilities

PROBED = ("publish", "inject", "read_by_id", "trace", "dlq")


@dataclass
class Discovery:
    """What ``harness probe`` saw: lines per area, and the profile keys it would change."""

    lines: list[tuple[str, str, str]] = field(default_factory=list)  # (area, "ok"/"MISSING"/"info", text)
    draft: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, area: str, verdict: str, text: str) -> None:
        self.lines.append((area, verdict, text))

    @property
    def missing(self) -> int:
        return sum(1 for _, verdict, _ in self.lines if verdict == "MISSING")

    def render(self) -> str:
        out = io.StringIO()
        for area, verdict, text in self.lines:
            out.write(f"  {area:11} {verdict:8} {text}\n")
        return out.getvalue()

    def profile_text(self, settings: Settings) -> str:
        """A draft profile: the SPEC defaults with what the probe found changed, as commented TOML."""
        surface = settings.surface
        sections = {
            "bloodbank": {
                "publish": str(surface.bloodbank.publish),
                "success": list(surface.bloodbank.success),
                "batch": str(surface.bloodbank.batch),
                "health": str(surface.bloodbank.health),
                "ready": str(surface.bloodbank.ready),
                "metrics": str(surface.bloodbank.metrics),
            },
            "candystore": {
                "list": str(surface.candystore.list),
                "by_id": str(surface.candystore.by_id),
                "trace": str(surface.candystore.trace),
                "health": str(surface.candystore.health),
                "ready": str(surface.candystore.ready),
                "metrics": str(surface.candystore.metrics),
            },
            "broker": {
                name: getattr(settings.topology, name)
                for name in ("exchange", "queue", "dlx", "dlq", "dlq_routing_key")
            },
        }
        lines = [
            "# Draft target profile written by `harness probe` (check it, then: harness verify --profile)"
        ]
        for section, values in sections.items():
            lines += ["", f"[{section}]"]
            for key, value in values.items():
                changed = self.draft.get(section, {})
                if key in changed:
                    value, why = changed[key]
                    lines.append(f"{key} = {_toml(value)}  # probe: {why}")
                else:
                    lines.append(f"{key} = {_toml(value if value != '(none)' else '')}")
        return "\n".join(lines) + "\n"

    def suggest(self, section: str, key: str, value: Any, why: str) -> None:
        self.draft.setdefault(section, {})[key] = (value, why)


def _toml(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _get(client: httpx.Client, route: Route) -> tuple[int | None, str]:
    if not route.present:
        return None, "not in the profile"
    try:
        response = client.request(route.method, route.path, timeout=5)
    except httpx.HTTPError as exc:
        return None, f"no answer ({type(exc).__name__})"
    return response.status_code, response.text[:200]


def _openapi_paths(client: httpx.Client) -> dict[str, list[str]] | None:
    for path in ("/openapi.json", "/openapi", "/docs/openapi.json"):
        try:
            response = client.get(path, timeout=5)
            if response.status_code == 200 and "paths" in response.json():
                return {p: sorted(m.upper() for m in ops) for p, ops in response.json()["paths"].items()}
        except (httpx.HTTPError, ValueError):
            continue
    return None


def _endpoints(found: Discovery, service: str, http: httpx.Client, surface: Any) -> None:
    paths = _openapi_paths(http)
    if paths is None:
        found.add(service, "info", "no OpenAPI document at /openapi.json")
    else:
        found.add(service, "ok", f"OpenAPI: {len(paths)} paths ({', '.join(sorted(paths)[:8])})")
        if service == "bloodbank" and surface.publish.path not in paths:
            posts = [p for p, methods in paths.items() if "POST" in methods and "batch" not in p]
            if len(posts) == 1:
                found.suggest(
                    "bloodbank", "publish", f"POST {posts[0]}", "the only POST route of its OpenAPI"
                )
    for name in ("health", "ready", "metrics"):
        route = getattr(surface, name)
        status, text = _get(http, route)
        if status is not None and status < 400:
            found.add(service, "ok", f"{name}: {route} answered {status}")
        else:
            answer = f"answered {status}" if status is not None else text
            found.add(service, "MISSING", f"{name}: {route} {answer}")


def _broker(found: Discovery, amqp_url: str, topology: Any) -> None:
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    except pika.exceptions.AMQPError as exc:
        found.add("broker", "MISSING", f"cannot connect to {amqp_url.split('@')[-1]}: {exc!r}")
        return
    try:
        for kind, name in (("exchange", topology.exchange), ("exchange", topology.dlx)):
            channel = connection.channel()
            try:
                channel.exchange_declare(name, "topic", passive=True)
                found.add("broker", "ok", f"exchange {name!r} exists")
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                found.add("broker", "MISSING", f"{kind} {name!r} does not exist")
        for name in (topology.queue, topology.dlq):
            channel = connection.channel()
            try:
                depth = channel.queue_declare(name, passive=True).method.message_count
                found.add("broker", "ok", f"queue {name!r} exists ({depth} message(s) waiting)")
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                found.add("broker", "MISSING", f"queue {name!r} does not exist")
    finally:
        if connection.is_open:
            connection.close()


def discover(settings: Settings) -> Discovery:
    """Probe the targets of ``settings`` (URLs given; the broker when ``amqp_url`` is given)."""
    from harness.probes import BloodbankClient, CandystoreClient

    found = Discovery()
    objects: dict[str, Any] = {}
    if settings.bloodbank_url:
        objects["bloodbank_url"] = settings.bloodbank_url
        objects["bloodbank"] = BloodbankClient(
            settings.bloodbank_url, api_key=settings.api_key, surface=settings.surface.bloodbank, timeout=10
        )
    if settings.candystore_url:
        objects["candystore_url"] = settings.candystore_url
        objects["candystore"] = CandystoreClient(
            settings.candystore_url, surface=settings.surface.candystore, timeout=10
        )
    if settings.amqp_url:
        objects["amqp_url"] = settings.amqp_url
    objects["topology"] = settings.topology

    def fixture(name: str) -> Any:
        import pytest

        if name not in objects:
            raise pytest.skip.Exception(f"{name} not given")
        return objects[name]

    try:
        if "bloodbank" in objects:
            _endpoints(found, "bloodbank", objects["bloodbank"].http, settings.surface.bloodbank)
        if "candystore" in objects:
            _endpoints(found, "candystore", objects["candystore"].http, settings.surface.candystore)
        if settings.amqp_url:
            _broker(found, settings.amqp_url, settings.topology)
        capabilities = Capabilities(fixture, settings, RunReport())
        needed: dict[str, Callable[[], bool]] = {
            "publish": lambda: "bloodbank" in objects,
            "inject": lambda: "candystore" in objects and "amqp_url" in objects,
            "read_by_id": lambda: (
                "candystore" in objects and ("bloodbank" in objects or "amqp_url" in objects)
            ),
            "trace": lambda: "candystore" in objects and ("bloodbank" in objects or "amqp_url" in objects),
            "dlq": lambda: "amqp_url" in objects and "candystore" in objects,
        }
        for name in PROBED:
            if not needed[name]():
                found.add("checks", "info", f"{name}: not probed (give the URLs it needs)")
                continue
            capability = capabilities.get(name)
            if capability.ok:
                found.add("checks", "ok", f"{name}: works")
            else:
                found.add("checks", "MISSING", f"{name}: {capability.title}")
                if name == "publish" and capability.title.startswith("Publish answers "):
                    status = int(capability.title.split()[2].rstrip(","))
                    found.suggest("bloodbank", "success", [status], f"a valid event was answered {status}")
    finally:
        for key in ("bloodbank", "candystore"):
            if key in objects:
                objects[key].close()
    return found
