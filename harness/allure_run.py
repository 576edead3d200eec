"""Allure results of a verify run (``reports/allure-results/``), rendered offline into ``reports/allure/``.

allure-pytest writes the results; :class:`AllureEvidence` (a pytest plugin) gives every check the labels a
reader filters by — ``suite`` (the verify suite), ``feature`` (the component it is about), ``severity`` — and
attaches the evidence where there is some: the ledger verdicts a check recorded, the pact file a contract
check verified against, the dead letters (headers included) a check saw, and the failure message (which
names the offending request and response). :func:`render` turns the results into one HTML file with the npm
package ``allure`` (Allure 3, Node only) installed by ``./run bootstrap`` under ``tools/allure/``; without it,
the report says how to render.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness._layout import suites_root

RESULTS = "allure-results"
RENDERED = "allure"

#: verify suite -> (component, severity); a component named in the test's path wins over the suite's
SUITE_LABELS: dict[str, tuple[str, str]] = {
    "faults": ("pipeline", "blocker"),  # data loss gates Phase 1
    "dlq": ("Candystore", "blocker"),
    "contracts": ("contracts", "critical"),
    "e2e": ("pipeline", "critical"),
    "correlation": ("Candystore", "critical"),
    "security": ("pipeline", "critical"),
    "stream": ("Candystore", "normal"),
    "fuzz": ("Bloodbank", "normal"),
}
COMPONENT_WORDS = (("bloodbank", "Bloodbank"), ("candystore", "Candystore"), ("candybar", "Candybar"))


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


class AllureEvidence:
    """pytest plugin (with allure-pytest active): labels per check, evidence attached to it."""

    def __init__(self, suite_of: Any, report: Any) -> None:
        #: path -> verify suite name (``SuiteCollector.suite_of``)
        self.suite_of = suite_of
        self.report = report

    @pytest.hookimpl
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            suite = self.suite_of(Path(item.path))
            component, severity = SUITE_LABELS.get(suite, ("harness", "normal"))
            name = Path(item.path).name.lower()
            component = next((c for word, c in COMPONENT_WORDS if word in name), component)
            item.add_marker(pytest.mark.allure_label(suite, label_type="parentSuite"))
            item.add_marker(pytest.mark.allure_label(component, label_type="feature"))
            item.add_marker(pytest.mark.allure_label(severity, label_type="severity"))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        import allure

        ledger_before = dict(self.report.ledger)
        outcome = yield
        for name, verdict in self.report.ledger.items():
            if ledger_before.get(name) is not verdict:
                allure.attach(_json(verdict), f"ledger verdict {name}", allure.attachment_type.JSON)
        pact = getattr(getattr(item, "module", None), "PACT", None)
        if isinstance(pact, Path) and pact.exists():
            allure.attach.file(str(pact), f"pact {pact.name}", allure.attachment_type.JSON)
        tap = getattr(item, "funcargs", {}).get("dlq_tap")
        letters = getattr(tap, "letters", None) or []
        if letters:
            shown = [
                {
                    "event_id": letter.event_id,
                    "reason": letter.reason,
                    "routing_key": letter.routing_key,
                    "headers": letter.headers,
                }
                for letter in letters[:20]
            ]
            allure.attach(_json(shown), "dead letters (headers)", allure.attachment_type.JSON)
        excinfo = outcome.excinfo
        if excinfo is not None and not isinstance(excinfo[1], pytest.skip.Exception):
            allure.attach(str(excinfo[1])[:20_000], "failure", allure.attachment_type.TEXT)


def allure_pytest_missing() -> str | None:
    """Why no Allure results can be written (allure-pytest not installed), or None."""
    import importlib.util

    if importlib.util.find_spec("allure_pytest") is None:
        return "harness verify: no Allure results: allure-pytest is not installed (pip install allure-pytest)"
    return None


def find_allure() -> str | None:
    """The Allure 3 command: ``tools/allure/node_modules/.bin/allure`` of the checkout, else on PATH."""
    local = suites_root() / "tools" / "allure" / "node_modules" / ".bin" / "allure"
    if local.exists():
        return str(local)
    return shutil.which("allure")


def render(reports: Path, timeout: float = 300.0) -> list[str]:
    """Render ``allure-results`` into ``allure/index.html`` (one file, opens offline); the lines to print."""
    results = Path(reports) / RESULTS
    out = Path(reports) / RENDERED
    how = f"npx allure generate {results} --output {out} (npm package allure 3.x, Node >= 20)"
    if not results.is_dir() or not any(results.iterdir()):
        return [f"harness verify: no Allure results in {results}"]
    command = find_allure()
    if command is None or shutil.which("node") is None:
        return [f"harness verify: Allure results in {results}; Node/allure not installed, render with: {how}"]
    config = suites_root() / "tools" / "allure" / "allurerc.json"
    argv = [command, "generate", str(results), "--output", str(out)]
    if config.exists():
        argv += ["--config", str(config)]
    env = {**os.environ, "ALLURE_NO_ANALYTICS": "true", "NO_COLOR": "1"}  # a report that calls no one
    started = time.monotonic()
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"harness verify: Allure rendering failed ({exc}); render with: {how}"]
    took = time.monotonic() - started
    if done.returncode != 0 or not (out / "index.html").exists():
        tail = (done.stderr or done.stdout).strip()[-500:]
        return [f"harness verify: Allure rendering failed (exit {done.returncode}): {tail}"]
    return [f"harness verify: Allure report {out / 'index.html'} (rendered in {took:.1f} s)"]
