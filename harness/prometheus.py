"""A private Prometheus for one run: scrapes Bloodbank, Candystore and RabbitMQ, evaluates the SLO rules.

``harness up --prometheus`` starts one beside the stack (a free loopback port, a temporary data directory,
stopped and removed with the stack); the JSON line gains ``prometheus_url``. It never uses a system
Prometheus (Debian's package starts one on 9090): the binary is run directly with its own config.

Scrape targets are URLs (``http://host:port/path``), so the metrics routes of a target profile, including
metrics served on another port, are scraped as they are.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness.backends._base import StartStop
from harness.launch import LaunchError, ManagedProcess, free_port, http, wait_until

#: scrape and rule evaluation interval of the private instance (short: runs last minutes, not months)
INTERVAL = "1s"


class PrometheusUnavailable(RuntimeError):
    """No Prometheus binary here; the message says how to install one."""


def find_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusUnavailable(
            "prometheus not found on PATH: install it with `apt-get install -y prometheus` (Debian 12: 2.42, "
            "with promtool; ./run bootstrap does it as root), or leave out --prometheus"
        )
    return found


def scrape_config(job: str, url: str, interval: str = INTERVAL) -> dict[str, Any]:
    """One ``scrape_configs`` entry for a metrics URL (scheme, host:port and path taken from it)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"scrape target of {job!r} is not an http(s) URL: {url!r}")
    return {
        "job_name": job,
        "scheme": parts.scheme,
        "metrics_path": parts.path or "/metrics",
        "scrape_interval": interval,
        "static_configs": [{"targets": [parts.netloc], "labels": {"component": job}}],
    }


def config_text(targets: dict[str, str], rules_file: Path, interval: str = INTERVAL) -> str:
    """``prometheus.yml`` (JSON is YAML) scraping ``targets`` (job -> metrics URL) with ``rules_file``."""
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules_file)],
        "scrape_configs": [scrape_config(job, url, interval) for job, url in targets.items()],
    }
    return json.dumps(config, indent=2) + "\n"


class PrometheusServer(StartStop):
    """A Prometheus process of this run, with a small query client.

    >>> with PrometheusServer({"bloodbank": "http://127.0.0.1:8682/metrics"}, rules) as p:  # doctest: +SKIP
    ...     p.query("up")
    """

    def __init__(self, targets: dict[str, str], rules_text: str, *, interval: str = INTERVAL) -> None:
        self.targets = dict(targets)
        self.rules_text = rules_text
        self.interval = interval
        self.root: Path | None = None
        self.process: ManagedProcess | None = None
        self.url = ""

    def start(self) -> PrometheusServer:
        binary = find_binary()
        self.root = Path(tempfile.mkdtemp(prefix="harness-prometheus-"))
        rules = self.root / "rules.yml"
        rules.write_text(self.rules_text)
        config = self.root / "prometheus.yml"
        config.write_text(config_text(self.targets, rules, self.interval))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = ManagedProcess(
            "prometheus",
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1d",
                "--web.enable-lifecycle",
            ],
            {"PATH": "/usr/bin:/bin", "HOME": str(self.root)},
            self.root / "prometheus.log",
            http(f"{self.url}/-/ready"),
            cwd=self.root,
            start_timeout=30.0,
        )
        try:
            self.process.start()
        except LaunchError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # -- HTTP API -------------------------------------------------------------------------------------------

    def _get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise ValueError(f"Prometheus {path} {params}: {response.status_code} {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query: the result vector (``[{metric: {...}, value: [t, "v"]}, ...]``)."""
        data = self._get("/api/v1/query", query=expr)
        return data["result"] if isinstance(data["result"], list) else [data["result"]]

    def targets_health(self) -> dict[str, str]:
        """job -> health (``up``, ``down``, ``unknown``) of the active scrape targets."""
        data = self._get("/api/v1/targets")
        return {t["labels"]["job"]: t["health"] for t in data["activeTargets"]}

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule (recording and alerting) with its health and, for alerts, its state."""
        return [rule for group in self._get("/api/v1/rules")["groups"] for rule in group["rules"]]

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing)."""
        return self._get("/api/v1/alerts")["alerts"]

    def alert_state(self, name: str) -> str:
        """``inactive``, ``pending`` or ``firing`` of the alert ``name`` now."""
        states = {a["state"] for a in self.alerts() if a["labels"].get("alertname") == name}
        return "firing" if "firing" in states else ("pending" if "pending" in states else "inactive")

    def slis(self) -> dict[str, float | None]:
        """The SLIs of SPEC §5 as Prometheus computes them (the recording rules), in the load verdict's keys
        and units (percent, milliseconds, messages); None where a rule has no value (no traffic yet)."""
        from harness.slo import SLOS

        values: dict[str, float | None] = {}
        for row in SLOS:
            if row.record is None or row.objective is None:
                continue
            result = self.query(row.record)
            value = float(result[0]["value"][1]) if result else None
            if value is not None and value == value:  # NaN: 0/0, no traffic in the window
                values[row.key] = value / row.scale
            else:
                values[row.key] = None
        return values


def compare_with_load(prometheus: PrometheusServer, summary_file: Path, timeout: float = 15.0) -> list[str]:
    """Put Prometheus's own SLIs beside the load verdict's (``prometheus`` in the load summary) and return the
    lines that show both. Waits (bounded) until the recording rules have evaluated over the run's traffic."""
    if not summary_file.is_file():
        return [f"harness load: no {summary_file}: nothing to compare with Prometheus"]
    summary = json.loads(summary_file.read_text())
    verdict = {row["key"]: row for row in summary.get("verdict", []) if "key" in row}
    found: dict[str, float | None] = {}

    def evaluated() -> bool:
        found.update(prometheus.slis())
        return found.get("publish_success_rate") is not None

    try:
        wait_until(evaluated, timeout=timeout, interval=0.5, describe="Prometheus SLIs of the run")
    except TimeoutError:
        pass
    rows = []
    for key, value in found.items():
        ours = verdict.get(key, {}).get("value")
        rows.append({"key": key, "prometheus": None if value is None else round(value, 3), "load": ours})
    summary["prometheus"] = {"url": prometheus.url, "slis": rows}
    summary_file.write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["harness load: SLIs as the load run and as Prometheus (recording rules) measured them"]
    for row in rows:
        lines.append(f"  {row['key']:26} load {row['load']!s:>10}   prometheus {row['prometheus']!s:>10}")
    return lines
