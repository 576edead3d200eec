"""POST /events/batch: per-item results, invalid items never block valid ones, limits, status codes."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from harness.backends import free_port
from holyfields import make_envelope, sample_payload
from holyfields.topology import Topology

from .helpers import Tap

pytestmark = pytest.mark.integration

Factory = Callable[..., TestClient]


def test_mixed_batch_publishes_the_valid_items_and_explains_the_others(
    client_factory: Factory, tap: Tap
) -> None:
    client = client_factory()
    full = make_envelope("github.pr.opened.v1")
    partial = {
        "event_type": "n8n.workflow.completed.v1",
        "payload": sample_payload("n8n.workflow.completed.v1"),
    }
    bad_payload = make_envelope("github.pr.opened.v1")
    del bad_payload["payload"]["repo_name"]
    unknown = {"event_id": str(uuid.uuid4()), "event_type": "nobody.knows.v1", "payload": {}}
    response = client.post("/events/batch", json=[full, "not an object", bad_payload, partial, unknown])
    assert response.status_code == 207, response.text
    body = response.json()
    assert (body["published"], body["invalid"], body["failed"]) == (2, 3, 0)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in results] == ["published", "invalid", "invalid", "published", "invalid"]
    assert results[0] == {
        "index": 0,
        "status": "published",
        "event_id": full["event_id"],
        "event_type": "github.pr.opened.v1",
        "routing_key": "github.pr.opened.v1",
    }
    assert results[1]["detail"] == [
        {
            "path": "$",
            "message": "$: item 1 is not an event envelope (a JSON object), got string",
            "rule": "type",
        }
    ]
    assert results[2]["event_id"] == bad_payload["event_id"]
    assert [d["path"] for d in results[2]["detail"]] == ["$.payload.repo_name"]
    assert results[4]["detail"][0]["rule"] == "unknown_event_type"
    received = tap.take(2)
    assert [m.envelope["event_id"] for m in received] == [full["event_id"], results[3]["event_id"]]
    assert tap.count() == 0


def test_all_valid_is_202_and_parent_headers_apply_to_every_item(client_factory: Factory, tap: Tap) -> None:
    parent = str(uuid.uuid4())
    items = [make_envelope() for _ in range(50)] + [
        {"event_type": "github.pr.opened.v1", "payload": sample_payload("github.pr.opened.v1")}
    ]
    response = client_factory().post("/events/batch", json=items, headers={"X-Parent-Event-Id": parent})
    assert response.status_code == 202
    assert response.json()["published"] == 51
    received = tap.take(51)
    assert all(m.envelope["correlation_ids"] == [parent] for m in received)
    assert len({m.envelope["trace_context"]["trace_id"] for m in received}) == 1


def test_all_invalid_is_422(client_factory: Factory, tap: Tap) -> None:
    response = client_factory().post("/events/batch", json=[{"event_type": "x"}, 3])
    assert response.status_code == 422
    assert [r["status"] for r in response.json()["results"]] == ["invalid", "invalid"]
    assert tap.count() == 0


def test_empty_batch_is_accepted(client_factory: Factory) -> None:
    response = client_factory().post("/events/batch", json=[])
    assert response.status_code == 202
    assert response.json() == {"results": [], "published": 0, "invalid": 0, "failed": 0}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"[{", 400, "body is not valid JSON"),
        (b'{"event_type": "a.b.v1"}', 400, "body must be a JSON array of event envelopes, got object"),
    ],
)
def test_batch_shape_errors(client_factory: Factory, body: bytes, status: int, message: str) -> None:
    response = client_factory().post("/events/batch", content=body)
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_batch_limits_are_413(client_factory: Factory, tap: Tap) -> None:
    client = client_factory(max_batch_items=3, max_batch_body_bytes=20_000)
    too_many = client.post("/events/batch", json=[make_envelope() for _ in range(4)])
    assert too_many.status_code == 413
    assert too_many.json()["detail"] == (
        "batch of 4 events exceeds the limit of 3 (BLOODBANK_MAX_BATCH_ITEMS): split it"
    )
    too_big = client.post("/events/batch", content=b"[" + b" " * 20_001 + b"]")
    assert too_big.status_code == 413
    assert "(set by BLOODBANK_MAX_BATCH_BODY_BYTES)" in too_big.json()["detail"]
    assert tap.count() == 0


def test_the_spec_limit_is_1000_items(client_factory: Factory, tap: Tap) -> None:
    client = client_factory()
    assert client.post("/events/batch", json=[make_envelope() for _ in range(1001)]).status_code == 413
    response = client.post("/events/batch", json=[make_envelope() for _ in range(1000)])
    assert response.status_code == 202
    assert len(tap.take(1000)) == 1000


def test_unroutable_items_are_reported_per_item(
    client_factory: Factory, isolated: Topology, tap_factory: Callable[..., Tap]
) -> None:
    tap = tap_factory(isolated.exchange, "github.#")
    items = [make_envelope("github.pr.opened.v1"), make_envelope("n8n.workflow.completed.v1")]
    response = client_factory().post("/events/batch", json=items)
    assert response.status_code == 207
    routed, returned = response.json()["results"]
    assert routed["status"] == "published"
    assert returned["status"] == "unroutable" and "no queue is bound" in returned["detail"]
    assert tap.take(1)[0].envelope["event_id"] == items[0]["event_id"]


def test_broker_unavailable_for_every_valid_item_is_503(client_factory: Factory) -> None:
    client = client_factory(amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/", connect_timeout=1)
    response = client.post("/events/batch", json=[make_envelope(), {"event_type": "x"}])
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    failed, invalid = response.json()["results"]
    assert failed["status"] == "failed" and "not confirmed by the broker" in failed["detail"]
    assert invalid["status"] == "invalid"


def test_batch_names_the_filled_fields_per_event(client_factory: Factory, tap: Tap) -> None:
    """ADR 0030: each message of a batch names the fields Bloodbank filled for that event only."""
    full = make_envelope("github.pr.opened.v1")
    partial = {"event_type": "github.pr.opened.v1", "payload": sample_payload("github.pr.opened.v1")}
    response = client_factory().post("/events/batch", json=[full, partial])
    assert response.status_code == 202, response.text
    filled = {m.envelope["event_id"] == full["event_id"]: m.headers["x-filled-fields"] for m in tap.take(2)}
    assert filled == {True: "trace_context", False: "timestamp,version,source,trace_context"}
