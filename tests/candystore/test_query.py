"""``GET /events`` filters and pagination, checked against an in-memory model with hypothesis (SPEC §4)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import Deployment, envelope, iso

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, tzinfo=UTC)
TYPES = ["acme.thing.created.v1", "acme.thing.deleted.v1", "beta.item.moved.v1", "agent.tool.invoked.v1"]
APPS = ["alpha", "beta", None]
SESSIONS = ["s1", "s2", "s3"]
PARENTS = [str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)) for i in range(5)]
SECONDS = 40  # fewer distinct timestamps than events: ties exercise the event_id tie-break


def _corpus() -> list[dict[str, Any]]:
    rng = random.Random(20250601)
    events = []
    for i in range(90):
        event_type = rng.choice(TYPES)
        app = rng.choice(APPS)
        source = {"host": "h", "type": "system", **({"app": app} if app else {})}
        extra: dict[str, Any] = {}
        payload: dict[str, Any] = {"n": i}
        where = rng.choice(["agent", "payload", None])
        session = rng.choice(SESSIONS)
        if event_type == "agent.tool.invoked.v1":
            payload = {"agent_name": "a", "tool_name": "t", "tool_params_preview": "p", "session_key": "k"}
            where = "agent" if where == "payload" else where
        if where == "agent":
            extra["agent_context"] = {"type": "claude", "name": "n", "session_id": session}
        elif where == "payload":
            payload["session_id"] = session
        events.append(
            envelope(
                event_type,
                event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                timestamp=iso(
                    T0 + timedelta(seconds=rng.randrange(SECONDS), microseconds=rng.choice([0, 0, 500]))
                ),
                source=source,
                correlation_ids=rng.sample(PARENTS, rng.choice([0, 0, 1, 2])),
                payload=payload,
                **extra,
            )
        )
    return events


CORPUS = _corpus()


@pytest.fixture(scope="module")
def stored(deployment: Deployment) -> Deployment:
    for event in CORPUS:
        deployment.publish(event)
    deployment.wait_stored([e["event_id"] for e in CORPUS])
    return deployment


def _when(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["timestamp"])


def model(params: dict[str, Any]) -> tuple[list[str], int]:
    """What the API must answer: ids of the page and the total."""

    def keep(e: dict[str, Any]) -> bool:
        if "event_type" in params and e["event_type"] != params["event_type"]:
            return False
        if "source_app" in params and e["source"].get("app") != params["source_app"]:
            return False
        if "session_id" in params and params["session_id"] not in (
            e.get("agent_context", {}).get("session_id"),
            e["payload"].get("session_id"),
        ):
            return False
        if "correlation_id" in params and params["correlation_id"] not in e["correlation_ids"]:
            return False
        if "since" in params and _when(e) < datetime.fromisoformat(params["since"]):
            return False
        return not ("until" in params and _when(e) >= datetime.fromisoformat(params["until"]))

    matching = sorted(filter(keep, CORPUS), key=lambda e: (_when(e), e["event_id"]), reverse=True)
    limit, offset = params.get("limit", 100), params.get("offset", 0)
    return [e["event_id"] for e in matching[offset : offset + limit]], len(matching)


_moments = st.integers(-2, SECONDS + 2).map(lambda s: iso(T0 + timedelta(seconds=s)))
QUERIES = st.fixed_dictionaries(
    {},
    optional={
        "event_type": st.sampled_from([*TYPES, "nope.none.v1"]),
        "source_app": st.sampled_from(["alpha", "beta", "gamma"]),
        "session_id": st.sampled_from([*SESSIONS, "s9"]),
        "correlation_id": st.sampled_from([*PARENTS, "00000000-0000-4000-8000-000000000000"]),
        "since": _moments,
        "until": _moments,
        "limit": st.sampled_from([1, 2, 3, 7, 10, 50, 100, 1000]),
        "offset": st.integers(0, 95),
    },
)


@settings(
    max_examples=120,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(params=QUERIES)
def test_filters_and_pagination_match_the_model(stored: Deployment, params: dict[str, Any]) -> None:
    response = httpx.get(stored.url + "/events", params=params, timeout=10)
    assert response.status_code == 200, response.text
    page = response.json()
    expected_ids, expected_total = model(params)
    assert [e["event_id"] for e in page["events"]] == expected_ids
    assert page["total"] == expected_total
    assert (page["limit"], page["offset"]) == (params.get("limit", 100), params.get("offset", 0))
    assert page["has_more"] == (page["offset"] + len(page["events"]) < expected_total)


def test_walking_every_page_returns_each_event_once(stored: Deployment) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        page = stored.get("/events", limit=7, offset=offset).json()
        seen += [e["event_id"] for e in page["events"]]
        offset += 7
        if not page["has_more"]:
            break
    assert seen == model({"limit": 1000})[0]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "ten"),
        ("offset", "-1"),
        ("correlation_id", "not-a-uuid"),
        ("since", "yesterday"),
        ("until", "2025-13-45T00:00:00Z"),
    ],
)
def test_bad_parameters_get_422_naming_the_parameter(stored: Deployment, param: str, value: str) -> None:
    response = stored.get("/events", **{param: value})
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [["query", param]]
