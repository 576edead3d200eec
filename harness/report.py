"""What a verification run found, collected while pytest runs and written to ``reports/``.

Suites add ledger verdicts and findings through the ``run_report`` fixture; the collector plugin counts
outcomes per suite and turns every failure into a finding. ``reports/summary.json`` is::

    {"suites": {name: {"passed", "failed", "skipped", "blocked"}}, "ledger": {...},
     "findings": [{"id", "title", "detail", "severity", "root", "blocks"}],
     "contracts": [{"interaction", "provider", "consumer", "ok",
                    "mismatches": [{"path", "expected", "actual", "mismatch"}]}]}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pytest

REPORT_KEY = pytest.StashKey["RunReport"]()


class TargetWarning(UserWarning):
    """Legal but worth knowing (a ``warning`` finding, never a failure): ``warnings.warn(TargetWarning(
    "title", "detail"))`` from any check; the same title is reported once."""

    def __init__(self, title: str, detail: str = "") -> None:
        super().__init__(title)
        self.title, self.detail = title, detail


@dataclass
class RunReport:
    """Outcomes per suite, ledger verdicts and findings of one run."""

    suites: dict[str, dict[str, int]] = field(default_factory=dict)
    ledger: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, str]] = field(default_factory=list)
    slis: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    contracts: list[dict[str, Any]] = field(default_factory=list)
    target: dict[str, Any] = field(default_factory=dict)
    #: line/branch coverage per component (``harness.coverage_run``), empty when not measured
    coverage: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def count(self, suite: str, outcome: str) -> None:
        counts = self.suites.setdefault(suite, {"passed": 0, "failed": 0, "skipped": 0, "blocked": 0})
        counts[outcome] = counts.get(outcome, 0) + 1

    def add_finding(
        self, id: str, title: str, detail: str, *, severity: str = "error", root: bool = False
    ) -> dict[str, Any]:
        """Record a finding: ``error`` (a defect, fails the run) or ``warning`` (worth knowing, legal).

        ``root`` marks a missing capability that blocks other checks (listed first, with ``blocks``)."""
        if severity not in ("error", "warning"):
            raise ValueError(f"severity must be 'error' or 'warning', not {severity!r}")
        finding: dict[str, Any] = {"id": id, "title": title, "detail": detail, "severity": severity}
        if root:
            finding.update(root=True, blocks=0)
        self.findings.append(finding)
        return finding

    def ordered_findings(self) -> list[dict[str, Any]]:
        """Root causes first, then errors, then warnings (each in the order found)."""
        return sorted(self.findings, key=lambda f: (not f.get("root"), f.get("severity", "error") != "error"))

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.get("severity", "error") == "error")

    def add_ledger(self, name: str, verdict: dict[str, Any]) -> None:
        self.ledger[name] = verdict

    def add_contract(
        self,
        interaction: str,
        provider: str,
        consumer: str,
        ok: bool,
        mismatches: list[dict[str, str]] | None = None,
    ) -> None:
        """One row of the contract matrix (a later row for the same interaction replaces the earlier one)."""
        row = {
            "interaction": interaction,
            "provider": provider,
            "consumer": consumer,
            "ok": ok,
            "mismatches": list(mismatches or []),
        }
        key = (consumer, provider, interaction)
        self.contracts = [
            r for r in self.contracts if (r["consumer"], r["provider"], r["interaction"]) != key
        ]
        self.contracts.append(row)

    def add_sli(
        self, name: str, value: float, *, slo: str, ok: bool, unit: str = "", prometheus: float | None = None
    ) -> None:
        """A measured service-level indicator (SPEC §5), e.g. correlation integrity 100 % (SLO 100 %);
        ``prometheus``: the same SLI as a Prometheus scraping the run computed it (its recording rule)."""
        self.slis[name] = {"value": value, "unit": unit, "slo": slo, "ok": ok}
        if prometheus is not None:
            self.slis[name]["prometheus"] = prometheus

    @property
    def failed(self) -> int:
        return sum(counts["failed"] for counts in self.suites.values())

    def summary(self) -> dict[str, Any]:
        return {
            "suites": self.suites,
            "ledger": self.ledger,
            "findings": self.ordered_findings(),
            "slis": self.slis,
            "checks": self.checks,
            "contracts": self.contracts,
            "target": self.target,
            "coverage": self.coverage,
            "duration_seconds": round(time.time() - self.started, 1),
        }

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "summary.json"
        path.write_text(json.dumps(self.summary(), indent=2, sort_keys=True, default=str) + "\n")
        (directory / "report.md").write_text(render_markdown(self.summary()))
        return path


def _title(item: pytest.Item | None, report: pytest.TestReport) -> str:
    marker = item.get_closest_marker("finding") if item is not None else None
    if marker is not None and marker.args:  # a row of a table-driven check names its own defect
        return str(marker.args[0])
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    if doc and doc.strip():
        return doc.strip().splitlines()[0]
    return report.nodeid.split("::")[-1]


#: exception raised by a check -> what it means, in words a team understands
PLAIN_WORDS = {
    "httpx.ReadTimeout": "the service did not answer in time",
    "httpx.ConnectTimeout": "the service could not be reached in time",
    "httpx.ConnectError": "the service refused the connection (is it running at that URL?)",
    "httpx.RemoteProtocolError": "the service closed the connection without an answer",
    "httpx.ReadError": "the connection to the service broke while reading its answer",
}


def _detail(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = (crash.message if crash is not None else str(report.longrepr)).strip()
    for exception, meaning in PLAIN_WORDS.items():
        if text.startswith(exception):
            text = f"{meaning} ({text})"
            break
    return text[:2000]


class SuiteCollector:
    """pytest plugin: counts outcomes per suite (by path) and records failures as findings."""

    def __init__(
        self, report: RunReport, suites: dict[str, list[Path]], progress: TextIO | None = None
    ) -> None:
        self.report = report
        self.suites = {name: [p.resolve() for p in paths] for name, paths in suites.items()}
        self._items: dict[str, pytest.Item] = {}
        #: where the live progress goes (None: pytest's own dots)
        self.progress = progress
        self._current = ""
        self._totals: dict[str, int] = {}

    def suite_of(self, path: Path) -> str:
        path = path.resolve()
        for name, roots in self.suites.items():
            if any(path == root or root in path.parents for root in roots):
                return name
        return "other"

    @pytest.hookimpl
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[REPORT_KEY] = self.report

    @pytest.hookimpl
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self._items = {item.nodeid: item for item in items}
        self._totals = {}
        for item in items:
            suite = self.suite_of(Path(item.path))
            self._totals[suite] = self._totals.get(suite, 0) + 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        """With live progress, no dots: the outcome is counted, the letter left out."""
        if self.progress is None or (report.when != "call" and report.passed):
            return None
        return (report.outcome, "", "")

    def _show(self, suite: str, final: bool = False) -> None:
        if self.progress is None or not suite:
            return
        counts = self.report.suites.get(suite, {})
        done = sum(counts.values())
        line = f"  {suite:12} {done:4}/{self._totals.get(suite, done):<4} checks: " + ", ".join(
            f"{counts.get(k, 0)} {k}" for k in ("passed", "failed", "blocked", "skipped")
        )
        live = getattr(self.progress, "isatty", lambda: False)()
        if live:
            self.progress.write("\r" + line + ("\n" if final else ""))
        elif final:
            self.progress.write(line + "\n")
        self.progress.flush()

    @pytest.hookimpl
    def pytest_sessionfinish(self) -> None:
        self._show(self._current, final=True)

    def _finding(self, report: pytest.TestReport, item: pytest.Item | None) -> None:
        """One finding per check: the failed cases of a parametrized check are grouped under it."""
        check, _, case = report.nodeid.partition("[")
        detail = _detail(report)
        for finding in self.report.findings:
            if finding["id"] == check and case:
                finding["cases"] = finding.get("cases", 1) + 1
                finding["detail"] = (finding["detail"] + f"\n[{case} {detail.splitlines()[0][:300]}")[:4000]
                return
        if case:
            detail = f"[{case} {detail}"
        self.report.add_finding(check if case else report.nodeid, _title(item, report), detail)

    @pytest.hookimpl
    def pytest_warning_recorded(self, warning_message: Any, nodeid: str) -> None:
        warning = warning_message.message
        if isinstance(warning, TargetWarning) and not any(
            f["title"] == warning.title for f in self.report.findings
        ):
            self.report.add_finding(nodeid or "warning", warning.title, warning.detail, severity="warning")

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        item = self._items.get(report.nodeid)
        suite = self.suite_of(Path(item.path)) if item is not None else "other"
        if suite != self._current:
            self._show(self._current, final=True)
            self._current = suite
            if self.progress is not None:
                self.progress.write(
                    f"harness verify: running {suite} ({self._totals.get(suite, 0)} checks)\n"
                )
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = "skipped" if report.skipped else ("passed" if report.passed else "failed")
            if report.skipped and is_blocked(report):
                outcome = "blocked"
            self.report.count(suite, outcome)
            if report.failed:
                self._finding(report, item)
            self._show(suite)
        elif report.when == "teardown" and report.failed:
            self.report.count(suite, "failed")
            self.report.add_finding(report.nodeid + " (teardown)", _title(item, report), _detail(report))


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr)


def is_blocked(report: pytest.TestReport) -> bool:
    """True for a check skipped because a capability it needs is missing (see :mod:`harness.triage`)."""
    from harness.triage import BLOCKED

    return BLOCKED in skip_reason(report)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def contract_matrix_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The contract matrix for a terminal: a line per interaction, then path/expected/actual per mismatch."""
    if not rows:
        return []
    width = min(max(len(row["interaction"]) for row in rows), 72)
    who = max(10, *(len(row["consumer"]) for row in rows))  # "candybar-ts" is 11
    lines = [f"  {'consumer':{who}} {'provider':10} {'interaction':{width}} result"]
    for row in rows:
        verdict = "pass" if row["ok"] else "FAIL"
        name = row["interaction"][:width]
        lines.append(f"  {row['consumer']:{who}} {row['provider']:10} {name:{width}} {verdict}")
    for row in rows:
        if row["ok"]:
            continue
        lines.append(f"  FAIL {row['consumer']} -> {row['provider']}: {row['interaction']}")
        for m in row["mismatches"]:
            lines.append(f"      {m['path']}: expected {m['expected']}, actual {m['actual']}")
            if m.get("mismatch"):
                lines.append(f"        ({m['mismatch']})")
    return lines


def _all(values: list[bool]) -> str:
    return "not measured" if not values else ("met" if all(values) else "NOT MET")


def success_criteria(summary: dict[str, Any]) -> list[dict[str, str]]:
    """The phase success criteria of SPEC §5, judged from what this run measured."""
    ledger = list(summary.get("ledger", {}).values())
    suites = summary.get("suites", {})
    slis = summary.get("slis", {})
    contracts = summary.get("contracts", [])
    checks = summary.get("checks", {})

    def suite_ok(name: str) -> list[bool]:
        counts = suites.get(name)
        return [] if not counts or not counts["passed"] + counts["failed"] else [counts["failed"] == 0]

    def pairs(consumer: str, provider: str) -> list[bool]:
        return [row["ok"] for row in contracts if row["consumer"] == consumer and row["provider"] == provider]

    def endpoints(*paths: str) -> list[bool]:
        return [
            row["ok"]
            for row in contracts
            if row["consumer"] == "openapi" and any(row["interaction"].endswith(path) for path in paths)
        ]

    recovery = [v["recovery_seconds"] for v in ledger if v.get("recovery_seconds") is not None]
    rows = [
        (
            "1",
            "0 events lost",
            _all([v["lost"] == 0 and v["duplicated"] == 0 for v in ledger]),
            f"{sum(v.get('accepted', 0) for v in ledger)} events through {len(ledger)} fault runs",
        ),
        (
            "1",
            "100 % of events validated before storage",
            _all(suite_ok("dlq") + suite_ok("fuzz")),
            "invalid envelopes and payloads dead-lettered with a reason; fuzzing never stored one",
        ),
        (
            "1",
            "every component has health endpoints",
            _all(endpoints("/health", "/healthz", "/readyz")),
            "GET /health, /healthz, /readyz conform to their OpenAPI",
        ),
        (
            "1",
            "full correlation tracking",
            _all(
                [sli["ok"] for name, sli in slis.items() if "correlation" in name] + suite_ok("correlation")
            ),
            ", ".join(f"{n} {s['value']}{s.get('unit', '')}" for n, s in slis.items() if "correlation" in n),
        ),
        (
            "2",
            "contract tests cover every integration",
            _all(
                [
                    bool(pairs("candybar", "candystore")) and all(pairs("candybar", "candystore")),
                    bool(pairs("candystore", "bloodbank")) and all(pairs("candystore", "bloodbank")),
                ]
                if contracts
                else []
            ),
            "Candybar→Candystore (HTTP), Bloodbank→Candystore (messages)",
        ),
        (
            "2",
            "generated types match the schemas (no drift)",
            _all([checks["generated types"]] if "generated types" in checks else []),
            "harness schemas check",
        ),
        (
            "3",
            "trace context on every event",
            _all(suite_ok("e2e")),
            "e2e: trace_context stored with every event",
        ),
        (
            "3",
            "metrics on every component",
            _all(endpoints("/metrics") + [r["ok"] for r in contracts if r["consumer"] == "prometheus-rules"]),
            "GET /metrics on both services; the metrics the SLO rules read (metrics contract)",
        ),
        (
            "3",
            "recovery < 30 s",
            _all([r < 30 for r in recovery]),
            f"slowest recovery {max(recovery):.1f} s" if recovery else "",
        ),
    ]
    return [{"phase": p, "criterion": c, "status": st, "evidence": e} for p, c, st, e in rows]


def render_markdown(summary: dict[str, Any]) -> str:
    """A readable report for people: suites, ledger verdicts, findings."""
    lines = ["# 33GOD event harness — verification report", ""]
    target = summary.get("target") or {}
    if target:
        lines += ["## Target", "", "| what | value |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in sorted(target.items()) if v]
        lines.append("")
    lines += ["## Success criteria", "", "| phase | criterion | status | evidence |", "|---|---|---|---|"]
    for row in success_criteria(summary):
        lines.append(f"| {row['phase']} | {row['criterion']} | {row['status']} | {_cell(row['evidence'])} |")
    lines += [
        "",
        "## Suites",
        "",
        "| suite | passed | failed | blocked | skipped |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, counts in sorted(summary["suites"].items()):
        lines.append(
            f"| {name} | {counts['passed']} | {counts['failed']} | {counts.get('blocked', 0)} | "
            f"{counts['skipped']} |"
        )
    if summary.get("ledger"):
        lines += [
            "",
            "## Event ledger (zero-loss verdicts)",
            "",
            "| run | accepted | stored | dead-lettered | lost | duplicated | recovery s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, v in sorted(summary["ledger"].items()):
            lines.append(
                f"| {name} | {v.get('accepted', '')} | {v.get('stored', '')} | "
                f"{v.get('dead_lettered', '')} | "
                f"{v.get('lost', '')} | {v.get('duplicated', '')} | {v.get('recovery_seconds', '')} |"
            )
    if summary.get("slis"):
        lines += [
            "",
            "## Service levels measured",
            "",
        ]
        both = any("prometheus" in sli for sli in summary["slis"].values())
        if both:
            lines += ["| SLI | value | Prometheus | SLO | verdict |", "|---|---:|---:|---|---|"]
        else:
            lines += ["| SLI | value | SLO | verdict |", "|---|---:|---|---|"]
        for name, sli in sorted(summary["slis"].items()):
            verdict = "met" if sli["ok"] else "MISSED"
            value = f"{sli['value']}{sli.get('unit', '')}"
            if both:
                seen = sli.get("prometheus")
                value += " | " + ("-" if seen is None else f"{seen}{sli.get('unit', '')}")
            lines.append(f"| {name} | {value} | {sli['slo']} | {verdict} |")
    if summary.get("contracts"):
        lines += ["", "## Contract matrix", "", "| consumer | provider | interaction | result |"]
        lines.append("|---|---|---|---|")
        for row in summary["contracts"]:
            verdict = "pass" if row["ok"] else f"**FAIL** ({len(row['mismatches'])})"
            lines.append(f"| {row['consumer']} | {row['provider']} | {row['interaction']} | {verdict} |")
        failed = [row for row in summary["contracts"] if not row["ok"]]
        if failed:
            lines += ["", "| interaction | path | expected | actual |", "|---|---|---|---|"]
            for row in failed:
                for m in row["mismatches"]:
                    cells = (row["interaction"], m["path"], m["expected"], m["actual"])
                    lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    mutants = summary.get("mutants")
    if mutants:
        lines += [
            "",
            "## Mutation score (what the harness says about implementations it has never seen)",
            "",
            f"{mutants['score']} % of {mutants['mutants']} mutants named, "
            f"{mutants['false_positives']} false positive(s).",
            "",
            "| mutant | defect | named | other error findings |",
            "|---|---|---|---|",
        ]
        for row in mutants["rows"]:
            others = "; ".join(row["false_positives"]) or "-"
            named = "yes" if row["named"] else "**NO**"
            lines.append(f"| {row['mutant']} | {_cell(row['defect'])} | {named} | {_cell(others)} |")
    if summary.get("coverage"):
        lines += [
            "",
            "## Coverage by component",
            "",
            "| component | lines | branches |",
            "|---|---:|---:|",
        ]
        for row in summary["coverage"]:
            branches = "-" if row.get("branch_rate") is None else f"{row['branch_rate']} %"
            covered = f"{row['line_rate']} % ({row['covered']}/{row['lines']})"
            lines.append(f"| {row['component']} | {covered} | {branches} |")
    lines += ["", "## Findings", ""]
    if not summary["findings"]:
        lines.append("None: every check passed.")
    roots = [f for f in summary["findings"] if f.get("root")]
    if roots:
        lines += ["Root causes first: each blocks the checks that need what it names.", ""]
    for finding in summary["findings"]:
        severity = finding.get("severity", "error")
        blocks = f", blocks {finding['blocks']} check(s)" if finding.get("root") else ""
        lines += [
            f"- **{finding['title']}** ({severity}{blocks}; `{finding['id']}`)",
            "",
            "  ```",
            *("  " + line for line in finding["detail"].splitlines()[:20]),
            "  ```",
        ]
    lines.append("")
    return "\n".join(lines)
