"""The mutant gallery: one known defect each (SPEC §6, §7), and the finding that must name it.

A mutant is a proxy in front of a reference service (HTTP defects), or a reference Candystore run with one
consumer behaviour switched (``python -m harness.mutants.candystore DEFECT``; the switch lives here, not in
``reference_impl``). ``expect`` is a regular expression that a finding's title or detail must match; the
other error findings of the same run are false positives.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.responses import Response

from harness.mutants.apps import renamed_publish
from harness.mutants.proxy import Call, json_answer, proxy, relay, rewrite_events

App = Callable[[str], Any]


@dataclass(frozen=True)
class Mutant:
    name: str
    #: the defect, in the words of SPEC §6
    defect: str
    #: regex a finding (title + detail) must match for the defect to count as named
    expect: str
    #: suites run against it (the ones where the defect shows, plus neighbours for false positives)
    suites: tuple[str, ...]
    bloodbank: App | None = None
    candystore: App | None = None
    #: a consumer defect of the mutant Candystore process (see harness.mutants.candystore)
    consumer: str = ""
    #: TOML text of a target profile the run is given
    profile: str = ""
    #: part of the fast subset CI runs
    fast: bool = False
    #: regex of findings that concern the same defect (not false positives); default: ``expect``
    related: str = ""
    #: run the services on fault-proxied URLs and hand verify the fault control (black-box fault runs)
    faults: bool = False


# -- Candystore read-side mutants ---------------------------------------------------------------------------


def _renamed_id(event: dict[str, Any]) -> dict[str, Any]:
    event["id"] = event.pop("event_id", None)
    return event


def _flat_source(event: dict[str, Any]) -> dict[str, Any]:
    source = event.get("source")
    if isinstance(source, dict):
        event["source"] = f"{source.get('app', '')}@{source.get('host', '')}"
    return event


def _first_correlation(event: dict[str, Any]) -> dict[str, Any]:
    if isinstance(event.get("correlation_ids"), list):
        event["correlation_ids"] = event["correlation_ids"][:1]
    return event


def _drop(field: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(event: dict[str, Any]) -> dict[str, Any]:
        event.pop(field, None)
        return event

    return change


def _ignore_param(name: str) -> App:
    def build(upstream: str) -> Any:
        async def before(call: Call) -> None:
            call.params = [(k, v) for k, v in call.params if k != name]

        return proxy(upstream, before=before)

    return build


def _no_has_more(upstream: str) -> Any:
    async def after(call: Call, answer: httpx.Response) -> Response | None:
        if call.method == "GET" and call.path == "/events" and answer.status_code == 200:
            data = answer.json()
            data.pop("has_more", None)
            return json_answer(data, 200)
        return None

    return proxy(upstream, after=after)


def _client_errors_as_500(upstream: str) -> Any:
    async def after(call: Call, answer: httpx.Response) -> Response | None:
        if 400 <= answer.status_code < 500 and answer.status_code not in (401, 429):
            return json_answer({"detail": "Internal Server Error"}, 500)
        return None

    return proxy(upstream, after=after)


def _route_gone(path: str) -> App:
    def build(upstream: str) -> Any:
        async def before(call: Call) -> Response | None:
            if call.path == path:
                return json_answer({"detail": "Not Found"}, 404)
            return None

        return proxy(upstream, before=before)

    return build


def _metric_renamed(old: str, new: str) -> App:
    """The metrics route serves ``old`` under the name ``new`` (a team that named its histogram otherwise)."""

    def build(upstream: str) -> Any:
        async def after(call: Call, answer: httpx.Response) -> Response | None:
            if call.path != "/metrics":
                return None
            text = answer.text.replace(old, new)
            return Response(text, answer.status_code, media_type=answer.headers.get("content-type"))

        return proxy(upstream, after=after)

    return build


# -- Bloodbank mutants --------------------------------------------------------------------------------------


def _drop_header(name: str) -> App:
    def build(upstream: str) -> Any:
        async def before(call: Call) -> None:
            call.drop_header(name)

        return proxy(upstream, before=before)

    return build


def _no_validation_at_publish(upstream: str) -> Any:
    """Malformed events answered 'published' (and never published): the publish step validates nothing."""

    async def after(call: Call, answer: httpx.Response) -> Response | None:
        if call.method == "POST" and call.path == "/events" and answer.status_code in (400, 422):
            event = call.json()
            event_id = event.get("event_id") if isinstance(event, dict) else None
            return json_answer({"event_id": event_id or str(uuid.uuid4()), "status": "published"}, 202)
        return None

    return proxy(upstream, after=after)


def _error_after_publish(upstream: str) -> Any:
    async def after(call: Call, answer: httpx.Response) -> Response | None:
        if call.method == "POST" and call.path == "/events" and answer.status_code == 202:
            return json_answer({"detail": "Internal Server Error"}, 500)
        return None

    return proxy(upstream, after=after)


def _no_rate_limit(upstream: str) -> Any:
    """429s never reach the client: the proxy waits and retries upstream (the client is never limited)."""

    async def after(call: Call, answer: httpx.Response) -> Response | None:
        deadline = time.monotonic() + 20
        while answer.status_code == 429 and time.monotonic() < deadline:
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1") or 1))
            answer = await call.send()
        if answer.status_code == 429:
            return json_answer({"detail": "busy"}, 503)
        return relay(answer)

    return proxy(upstream, after=after)


def _duplicate_dropped(upstream: str) -> Any:
    """A second publish of a known event_id is answered 'published' and thrown away."""
    seen: set[str] = set()

    async def before(call: Call) -> Response | None:
        if call.method != "POST" or call.path != "/events":
            return None
        event = call.json()
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if not isinstance(event_id, str):
            return None
        if event_id in seen:
            return json_answer({"event_id": event_id, "status": "published"}, 202)
        seen.add(event_id)
        return None

    return proxy(upstream, before=before)


def _wedged_by_bad_event_type(upstream: str) -> Any:
    """After one publish whose event_type is not a string, every later publish hangs."""
    wedged = asyncio.Event()
    never = asyncio.Event()

    async def before(call: Call) -> Response | None:
        if call.method != "POST" or not call.path.startswith("/events"):
            return None
        if wedged.is_set():
            await never.wait()
        event = call.json()
        if isinstance(event, dict) and "event_type" in event and not isinstance(event["event_type"], str):
            wedged.set()
        return None

    return proxy(upstream, before=before)


def _bare_array_list(upstream: str) -> Any:
    async def after(call: Call, answer: httpx.Response) -> Response | None:
        if call.method == "GET" and call.path == "/events" and answer.status_code == 200:
            return json_answer(answer.json().get("events", []), 200)
        return None

    return proxy(upstream, after=after)


def _stored_read_as_500(upstream: str) -> Any:
    async def after(call: Call, answer: httpx.Response) -> Response | None:
        parts = call.path.strip("/").split("/")
        if call.method == "GET" and len(parts) == 2 and parts[0] == "events" and answer.status_code == 200:
            return json_answer({"detail": "Internal Server Error"}, 500)
        return None

    return proxy(upstream, after=after)


def _no_publish_retry(upstream: str) -> Any:
    """A publish the upstream does not answer within 0.5 s (it is retrying a broker outage) is answered 503
    at once: a Bloodbank without publish retries, as its clients see it."""

    async def before(call: Call) -> Response | None:
        if call.method != "POST" or not call.path.startswith("/events"):
            return None
        try:
            return relay(await call.send(timeout=0.5))
        except httpx.TimeoutException:
            return json_answer({"detail": "broker unavailable"}, 503)

    return proxy(upstream, before=before)


def _all_at_once_candystore(upstream: str) -> Any:
    changes = [_renamed_id, _flat_source, _first_correlation, _drop("agent_context"), _drop("version")]

    def change(event: dict[str, Any]) -> dict[str, Any]:
        for one in changes:
            event = one(event)
        return event

    return rewrite_events(upstream, change)


def _all_at_once_bloodbank(upstream: str) -> Any:
    async def before(call: Call) -> None:
        call.drop_header("X-Parent-Event-Id")
        call.drop_header("traceparent")

    return proxy(upstream, before=before)


FIELDS = ("contracts", "e2e")
MUTANTS: list[Mutant] = [
    Mutant(
        "event-id-renamed",
        "event_id renamed to id",
        r"event_id: expected present, actual missing|without its event_id",
        FIELDS,
        candystore=lambda u: rewrite_events(u, _renamed_id),
        related=r"event_id",
    ),
    Mutant(
        "source-flattened",
        "source flattened to app@host",
        r"source: expected \{.*\}, actual|source.*(string|flattened|changed)",
        FIELDS,
        candystore=lambda u: rewrite_events(u, _flat_source),
        related=r"source",
    ),
    Mutant(
        "correlation-reduced",
        "correlation_ids reduced to the first",
        r"correlation_ids",
        FIELDS,
        candystore=lambda u: rewrite_events(u, _first_correlation),
        related=r"correlation",
    ),
    Mutant(
        "agent-context-dropped",
        "agent_context dropped",
        r"agent_context",
        FIELDS,
        candystore=lambda u: rewrite_events(u, _drop("agent_context")),
        related=r"agent_context",
    ),
    Mutant(
        "version-dropped",
        "version dropped",
        r"\bversion\b",
        FIELDS,
        candystore=lambda u: rewrite_events(u, _drop("version")),
        related=r"version",
    ),
    Mutant(
        "session-filter-ignored",
        "session_id filter ignored",
        r"session_id",
        ("e2e", "security"),
        candystore=_ignore_param("session_id"),
        related=r"session_id",
        fast=True,
    ),
    Mutant(
        "has-more-omitted",
        "Candybar field has_more omitted",
        r"has_more",
        ("contracts",),
        candystore=_no_has_more,
    ),
    Mutant(
        "candystore-4xx-as-500",
        "Candystore answers 500 where a 4xx is due",
        r"expected 4\d\d, actual 500|answered 500|5xx",
        ("contracts", "security"),
        candystore=_client_errors_as_500,
        related=r"500|5xx",
    ),
    Mutant(
        "candystore-no-readyz",
        "Candystore has no /readyz",
        r"/readyz",
        ("contracts",),
        candystore=_route_gone("/readyz"),
    ),
    Mutant(
        "candystore-no-metrics",
        "Candystore has no /metrics",
        r"/metrics",
        ("contracts",),
        candystore=_route_gone("/metrics"),
    ),
    Mutant(
        "candystore-metric-renamed",
        "Candystore serves its end-to-end latency histogram under another name",
        r"candystore_end_to_end_latency_seconds: expected a histogram, actual missing",
        ("contracts",),
        candystore=_metric_renamed("candystore_end_to_end_latency_seconds", "candystore_e2e_latency_seconds"),
    ),
    Mutant(
        "bloodbank-no-readyz",
        "Bloodbank has no /readyz",
        r"/readyz",
        ("contracts",),
        bloodbank=_route_gone("/readyz"),
    ),
    Mutant(
        "bloodbank-no-metrics",
        "Bloodbank has no /metrics",
        r"/metrics",
        ("contracts",),
        bloodbank=_route_gone("/metrics"),
    ),
    Mutant(
        "parent-header-ignored",
        "X-Parent-Event-Id ignored",
        r"X-Parent-Event-Id ignored",
        ("e2e", "correlation"),
        bloodbank=_drop_header("X-Parent-Event-Id"),
        fast=True,
        related=r"X-Parent-Event-Id|correlation",
    ),
    Mutant(
        "traceparent-ignored",
        "traceparent ignored",
        r"traceparent header ignored",
        ("e2e",),
        bloodbank=_drop_header("traceparent"),
        related=r"trace",
    ),
    Mutant(
        "no-validation-at-publish",
        "no validation at publish (malformed events answered published)",
        r"[Mm]alformed event accepted",
        ("contracts", "fuzz"),
        bloodbank=_no_validation_at_publish,
        related=r"[Mm]alformed|invalid|accepted|schema",
    ),
    Mutant(
        "bloodbank-4xx-as-500",
        "Bloodbank answers 500 where a 4xx is due",
        r"expected 4\d\d, actual 500|answered 5xx|answered 500",
        ("contracts", "fuzz"),
        bloodbank=_client_errors_as_500,
        related=r"500|5xx",
    ),
    Mutant(
        "error-after-publish",
        "500 after a successful publish",
        r"answered 500|rejected at publish.*500|5xx",
        ("e2e",),
        bloodbank=_error_after_publish,
        related=r"500|5xx",
    ),
    Mutant(
        "no-rate-limit",
        "no rate limit",
        r"No rate limit",
        ("security",),
        bloodbank=_no_rate_limit,
    ),
    Mutant(
        "duplicate-dropped",
        "a duplicate event_id silently dropped while reported published",
        r"silently dropped|reported published",
        ("dlq", "e2e"),
        bloodbank=_duplicate_dropped,
    ),
    Mutant(
        "publish-renamed",
        "publish route renamed (POST /api/v2/publish) answering 200",
        r"No publish route: POST /events answered 404",
        ("e2e",),
        bloodbank=renamed_publish,
    ),
    Mutant(
        "wedged-publisher",
        "a request with a non-string event_type wedges the publisher",
        r"stopped answering after: POST /events .*event_type\"?:\s*[^\"\s]",
        ("fuzz", "e2e"),
        bloodbank=_wedged_by_bad_event_type,
    ),
    Mutant(
        "no-validation-at-consume",
        "no validation at consume (an invalid envelope is stored)",
        r"no validation at consume",
        ("dlq",),
        consumer="no-validation",
        fast=True,
        related=r"[Ii]nvalid|dead-letter|stored|valid",
    ),
    Mutant(
        "poison-acked-no-dlq",
        "poison messages acknowledged and lost (no DLQ)",
        r"acknowledged and lost",
        ("dlq",),
        consumer="no-dlq",
        related=r"DLQ|dead-letter|lost",
    ),
    Mutant(
        "unsigned-accepted",
        "unsigned events accepted",
        r"[Uu]nsigned .*accepted",
        ("dlq", "security"),
        consumer="no-signatures",
        related=r"sign",
    ),
    Mutant(
        "store-not-traced",
        "the store of an event is not traced in the caller's trace (no store span)",
        r"no span is a child of the publish span",
        ("correlation",),
        consumer="no-spans",
    ),
]

MUTANTS += [
    Mutant(
        "list-bare-array",
        "the list answered as a bare array instead of the paged object",
        r"expected .*object|is not of type 'object'|not of type \"object\"|\$\.events|has_more",
        ("contracts",),
        candystore=_bare_array_list,
        related=r"events|has_more|object|array|list",
    ),
    Mutant(
        "stored-read-as-500",
        "a read route that answers 500 for stored events",
        r"answered 500",
        ("contracts", "e2e"),
        candystore=_stored_read_as_500,
        related=r"500|5xx",
    ),
    Mutant(
        "no-publish-retry",
        "no publish retry during a broker outage",
        r"publish failed during a broker outage",
        ("faults",),
        bloodbank=_no_publish_retry,
        faults=True,
        related=r"broker outage|retry",
    ),
    Mutant(
        "dead-letters-without-reason",
        "dead letters without a reason header",
        r"without an x-dlq-reason",
        ("dlq",),
        consumer="no-dlq-reason",
        related=r"x-dlq|reason",
    ),
]

ALL_AT_ONCE = Mutant(
    "all-at-once",
    "every read-side and header defect at once",
    "",
    ("contracts", "e2e", "correlation"),
    bloodbank=_all_at_once_bloodbank,
    candystore=_all_at_once_candystore,
)
#: the defects the all-at-once mutant combines (each must still be named)
ALL_AT_ONCE_PARTS = (
    "event-id-renamed",
    "source-flattened",
    "correlation-reduced",
    "agent-context-dropped",
    "version-dropped",
    "parent-header-ignored",
    "traceparent-ignored",
)


def by_name() -> dict[str, Mutant]:
    return {m.name: m for m in [*MUTANTS, ALL_AT_ONCE]}
