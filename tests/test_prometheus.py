"""``harness up --prometheus``: a private Prometheus scrapes the stack with the SLO rules loaded, and after a
short burst of events every panel query of the committed Grafana dashboards returns data."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pika
import pytest

from harness import grafana
from harness.backends import wait_until
from harness.metrics_contract import check_exposition
from harness.prometheus import PrometheusServer, config_text, scrape_config
from harness.slo import QUEUE_CONSUMERS, QUEUE_MESSAGES, QUEUE_READY, QUEUE_UNACKED, alerts
from holyfields import make_envelope
from holyfields.topology import Topology

needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="prometheus not found: `apt-get install -y prometheus` (./run bootstrap does it as root)",
)
BURST = 30


def test_scrape_config_follows_the_metrics_url() -> None:
    job = scrape_config("bloodbank", "https://10.0.0.1:9100/internal/metrics")
    assert job["scheme"] == "https" and job["metrics_path"] == "/internal/metrics"
    assert job["static_configs"][0]["targets"] == ["10.0.0.1:9100"]
    with pytest.raises(ValueError, match=r"bloodbank.*not an http"):
        scrape_config("bloodbank", "127.0.0.1:9100")
    assert json.loads(config_text({"a": "http://h:1/m"}, grafana.DASHBOARD_DIR / "r.yml"))["rule_files"]


def test_external_targets_are_scraped_at_their_profile_metrics_routes(tmp_path) -> None:
    from types import SimpleNamespace

    from harness.config import Settings
    from harness.stack import Stack

    profile = tmp_path / "team.toml"
    profile.write_text(
        '[bloodbank]\nmetrics = "http://127.0.0.1:9100/internal/metrics"\n[candystore]\nmetrics = ""\n'
    )
    settings = Settings.resolve(
        {
            "bloodbank_url": "http://127.0.0.1:8001",
            "candystore_url": "http://127.0.0.1:8002",
            "profile": str(profile),
        },
        environ={},
    )
    stack = Stack(settings, prometheus=True)
    stack.backend = SimpleNamespace(rabbitmq_metrics_url="")  # type: ignore[assignment]
    assert stack.scrape_targets() == {"bloodbank": "http://127.0.0.1:9100/internal/metrics"}
    stack.settings = Settings.resolve({"bloodbank_url": "http://127.0.0.1:8001/"}, environ={})
    assert stack.scrape_targets() == {"bloodbank": "http://127.0.0.1:8001/metrics"}


def test_committed_dashboards_match_their_panels() -> None:
    assert grafana.check() == []
    for stem in grafana.DASHBOARDS:
        data = json.loads((grafana.DASHBOARD_DIR / f"{stem}.json").read_text())
        assert all(panel["targets"] for panel in data["panels"]), stem


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "up", "--backend", "local", "--prometheus", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, f"harness up --prometheus printed nothing; stderr:\n{proc.stderr.read()}"  # type: ignore[union-attr]
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _client(info: dict[str, Any]) -> PrometheusServer:
    """A query client of the stack's Prometheus (the process belongs to ``harness up``)."""
    client = PrometheusServer({}, "")
    client.url = info["prometheus_url"]
    return client


def _burst(info: dict[str, Any]) -> None:
    """BURST valid events through Bloodbank, one invalid one, two bodies Candystore dead-letters."""
    headers = {"X-API-Key": info["api_key"]} if info.get("api_key") else {}
    with httpx.Client(base_url=info["bloodbank_url"], headers=headers, timeout=30) as http:
        for _ in range(BURST):
            event = make_envelope("n8n.workflow.completed.v1")
            assert http.post("/events", json=event).status_code == 202
        assert (
            http.post("/events", json={"event_type": "n8n.workflow.completed.v1", "payload": {}}).status_code
            == 422
        )
    connection = pika.BlockingConnection(pika.URLParameters(info["amqp_url"]))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for _ in range(2):
            channel.basic_publish(
                info["exchange"],
                "n8n.workflow.completed.v1",
                f"not json {uuid.uuid4()}".encode(),
                pika.BasicProperties(message_id=str(uuid.uuid4()), delivery_mode=2),
                mandatory=True,
            )
    finally:
        connection.close()


@needs_prometheus
@pytest.mark.integration
def test_prometheus_scrapes_the_stack_with_the_slo_rules(stack: dict[str, Any]) -> None:
    assert stack["prometheus_url"].startswith("http://127.0.0.1:")
    prometheus = _client(stack)
    wanted = {"bloodbank": "up", "candystore": "up", "rabbitmq": "up"}
    wait_until(
        lambda: prometheus.targets_health() == wanted,
        timeout=20,
        interval=0.5,
        describe="all scrape targets up",
    )
    loaded = {r["name"]: r["health"] for r in prometheus.rules()}
    assert {a.alert for a in alerts()} <= set(loaded)
    wait_until(lambda: all(r["health"] == "ok" for r in prometheus.rules()), timeout=10, interval=0.5)
    # the broker's plugin exposes the per-queue series the rules read
    text = httpx.get(stack["rabbitmq_metrics_url"], timeout=10).text
    problems, notes = check_exposition(text, [QUEUE_MESSAGES, QUEUE_READY, QUEUE_CONSUMERS, QUEUE_UNACKED])
    assert problems == [] and notes == []
    queue = Topology().queue
    assert any(f'queue="{queue}"' in line for line in text.splitlines() if line.startswith(QUEUE_READY.name))


@needs_prometheus
@pytest.mark.integration
def test_every_dashboard_panel_returns_data_after_a_burst(stack: dict[str, Any]) -> None:
    prometheus = _client(stack)
    _burst(stack)
    stored = f"sum(candystore_events_stored_total) >= {BURST}"
    wait_until(
        lambda: bool(prometheus.query(stored)), timeout=30, interval=0.5, describe="burst stored, scraped"
    )
    topology = Topology(queue=stack["queue"], dlq=stack["dlq"])
    pending = {
        (stem, title, expr) for stem in grafana.DASHBOARDS for title, expr in grafana.queries(stem, topology)
    }

    def answered() -> bool:
        for item in list(pending):
            if prometheus.query(item[2]):
                pending.discard(item)
        return not pending

    try:
        wait_until(answered, timeout=20, interval=0.5, describe="every panel query answered")
    except TimeoutError:
        pass
    assert not pending, "panel queries without data: " + "; ".join(
        f"{s}/{t}: {e}" for s, t, e in sorted(pending)
    )
    dead = prometheus.query("sum(candystore_events_dead_lettered_total)")
    assert float(dead[0]["value"][1]) >= 2
