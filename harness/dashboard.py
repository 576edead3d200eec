"""``reports/index.html``: one self-contained page for leadership, built from the files of a run.

Everything is read from one directory (``reports/`` by default), so the page can be rebuilt at any time
(``harness report``) and tests can feed it a small fixture directory:

- ``summary.json`` (required: written by ``harness verify``), ``junit.xml`` (test ids as evidence);
- ``load/summary.json`` (``harness load``; an older ``load.json`` too), ``mutants.json`` (``harness
  mutants``), ``coverage.xml`` (Cobertura),
  ``pact-matrix.json`` (``harness can-i-deploy``), ``history.jsonl`` (one line per verify) — each optional:
  what is absent is shown as "not run" / "not measured", never guessed.

The page has no script and no external resource: inline CSS and SVG only, so it opens from ``file://`` and
prints as it looks.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from harness.report import success_criteria

INDEX = "index.html"
HISTORY = "history.jsonl"
#: how many past runs the page shows side by side
HISTORY_SHOWN = 10

#: success criterion -> the suites whose checks are its evidence, and the page section with its figures
EVIDENCE: dict[str, tuple[tuple[str, ...], str]] = {
    "0 events lost": (("faults",), "ledger"),
    "100 % of events validated before storage": (("dlq", "fuzz"), "findings"),
    "every component has health endpoints": (("contracts",), "contracts"),
    "full correlation tracking": (("correlation",), "slos"),
    "contract tests cover every integration": (("contracts",), "contracts"),
    "generated types match the schemas (no drift)": ((), "criteria"),
    "trace context on every event": (("e2e",), "suites"),
    "metrics on every component": (("contracts",), "contracts"),
    "recovery < 30 s": (("faults",), "ledger"),
}

#: source path prefix -> component (coverage by component); the first match wins
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("reference_impl/bloodbank", "Bloodbank"),
    ("reference_impl/candystore", "Candystore"),
    ("holyfields", "Holyfields"),
    ("harness", "harness"),
)


#: files of the run the page links to when they are there (relative links: the directory travels whole)
DETAIL_FILES = (
    ("allure/index.html", "Allure report (every check, with its evidence)"),
    ("coverage/index.html", "coverage (HTML)"),
    ("report.md", "report.md"),
    ("summary.json", "summary.json"),
    ("junit.xml", "junit.xml"),
)


class ReportInputError(Exception):
    """The directory holds no run to build a page from (the message says what to run)."""


@dataclass
class RunFiles:
    """What one run left in its reports directory (``None`` / empty: not there)."""

    directory: Path
    summary: dict[str, Any]
    tests: list[dict[str, str]] = field(default_factory=list)
    load: dict[str, Any] | None = None
    mutants: dict[str, Any] | None = None
    coverage: list[dict[str, Any]] | None = None
    matrix: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    #: when the run's summary was written (its file's time)
    finished_at: float | None = None
    built_at: float = field(default_factory=time.time)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReportInputError(
            f"{path} is not valid JSON ({exc}): re-run the command that writes it"
        ) from exc


def junit_tests(path: Path) -> list[dict[str, str]]:
    """Every test case of a JUnit XML file: ``{id, outcome, time}`` (outcome passed/failed/skipped)."""
    if not path.exists():
        return []
    try:
        root = ET.parse(path).getroot()  # noqa: S314 (written by this run's pytest)
    except ET.ParseError:
        return []
    tests = []
    for case in root.iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        module = classname.replace(".", "/")
        test_id = f"{module}.py::{name}" if module else name
        outcome = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        tests.append({"id": test_id, "outcome": outcome, "time": case.get("time", "")})
    return tests


def component_of(filename: str) -> str | None:
    name = filename.replace("\\", "/")
    for prefix, component in COMPONENTS:
        if name == prefix or name.startswith(prefix + "/") or f"/{prefix}/" in name:
            return component
    return None


def coverage_by_component(path: Path) -> list[dict[str, Any]] | None:
    """Line and branch coverage per component from a Cobertura file (``None`` when there is none)."""
    if not path.exists():
        return None
    try:
        root = ET.parse(path).getroot()  # noqa: S314 (written by this run's coverage.py)
    except ET.ParseError as exc:
        raise ReportInputError(f"{path} is not Cobertura XML ({exc})") from exc
    totals: dict[str, dict[str, int]] = {}
    for cls in root.iter("class"):
        component = component_of(cls.get("filename", ""))
        if component is None:
            continue
        t = totals.setdefault(component, {"lines": 0, "covered": 0, "branches": 0, "branches_covered": 0})
        for line in cls.iter("line"):
            t["lines"] += 1
            t["covered"] += int(line.get("hits", "0")) > 0
            cond = line.get("condition-coverage")  # "50% (1/2)"
            if line.get("branch") == "true" and cond and "(" in cond:
                done, _, total = cond.split("(")[1].rstrip(")").partition("/")
                t["branches"] += int(total)
                t["branches_covered"] += int(done)
    rows = []
    for _, component in COMPONENTS:
        t = totals.get(component)
        if t is None:
            continue
        rows.append(
            {
                "component": component,
                **t,
                "line_rate": round(100.0 * t["covered"] / t["lines"], 1) if t["lines"] else None,
                "branch_rate": round(100.0 * t["branches_covered"] / t["branches"], 1)
                if t["branches"]
                else None,
            }
        )
    return rows


def total_coverage(rows: list[dict[str, Any]] | None) -> float | None:
    if not rows:
        return None
    lines = sum(r["lines"] for r in rows)
    return round(100.0 * sum(r["covered"] for r in rows) / lines, 1) if lines else None


def read_history(path: Path) -> list[dict[str, Any]]:
    """The runs recorded so far, oldest first (a damaged line is skipped, not fatal)."""
    if not path.exists():
        return []
    runs = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            runs.append(entry)
    return runs


def load_summary(directory: Path) -> dict[str, Any] | None:
    """The latest load run of a reports directory in the page's terms: ``load/summary.json`` of ``harness
    load`` (what ``harness verify --load`` leaves), else an older ``load.json``; None when there is none."""
    path = directory / "load" / "summary.json"
    if not path.exists():
        path = directory / "load.json"
        if not path.exists():
            return None
        load = _json(path)
        load.setdefault("finished_at", path.stat().st_mtime)
        return load
    load = _json(path)
    config = load.get("config") or {}
    users = config.get("users")
    http = (load.get("requests") or {}).get("HTTP publish") or {}
    started, elapsed = load.get("started_at"), load.get("elapsed_seconds")
    load.setdefault("finished_at", started + elapsed if started and elapsed else path.stat().st_mtime)
    load.setdefault("throughput_rps", load.get("achieved_rate"))
    load.setdefault("publish_latency_ms", {"p50": http.get("p50_ms"), "p99": http.get("p99_ms")})
    if isinstance(users, dict):  # users of each kind
        load["config"] = {**config, "users": sum(users.values())}
    return load


def load_run(directory: Path) -> RunFiles:
    """Read a reports directory; :class:`ReportInputError` when it holds no ``summary.json``."""
    directory = Path(directory)
    summary_file = directory / "summary.json"
    if not summary_file.exists():
        raise ReportInputError(
            f"no {summary_file}: run `harness verify` first (or pass --reports DIR of an earlier run)"
        )
    summary = _json(summary_file)
    load = load_summary(directory)
    mutants = summary.get("mutants")
    if mutants is None and (directory / "mutants.json").exists():
        mutants = _json(directory / "mutants.json")
    matrix_file = directory / "pact-matrix.json"
    return RunFiles(
        directory=directory,
        summary=summary,
        tests=junit_tests(directory / "junit.xml"),
        load=load,
        mutants=mutants,
        coverage=coverage_by_component(directory / "coverage.xml"),
        matrix=_json(matrix_file) if matrix_file.exists() else None,
        history=read_history(directory / HISTORY),
        finished_at=summary_file.stat().st_mtime,
    )


def history_entry(run: RunFiles, when: float | None = None) -> dict[str, Any]:
    """One line of ``history.jsonl``: the figures the page compares across runs."""
    summary = run.summary
    suites = summary.get("suites", {})
    findings = summary.get("findings", [])
    tests = {k: sum(c.get(k, 0) for c in suites.values()) for k in ("passed", "failed", "blocked", "skipped")}
    ledger = summary.get("ledger", {})
    entry: dict[str, Any] = {
        "when": round(when if when is not None else time.time(), 1),
        "duration_seconds": summary.get("duration_seconds"),
        "tests": tests,
        "findings": {
            "error": sum(1 for f in findings if f.get("severity", "error") == "error"),
            "warning": sum(1 for f in findings if f.get("severity") == "warning"),
        },
        "coverage": total_coverage(run.coverage),
        "lost": sum(v.get("lost", 0) for v in ledger.values()) if ledger else None,
        "criteria_met": sum(1 for r in success_criteria(summary) if r["status"] == "met"),
        "load": None,
    }
    if run.load:
        entry["load"] = {
            "finished_at": run.load.get("finished_at"),
            "throughput_rps": run.load.get("throughput_rps"),
            "publish_p50_ms": (run.load.get("publish_latency_ms") or {}).get("p50"),
            "publish_p99_ms": (run.load.get("publish_latency_ms") or {}).get("p99"),
            "e2e_p99_ms": (run.load.get("e2e_latency_ms") or {}).get("p99"),
            "passed": run.load.get("passed"),
        }
    return entry


def append_history(directory: Path, entry: dict[str, Any]) -> Path:
    path = Path(directory) / HISTORY
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(entry, sort_keys=True) + "\n")
    return path


# ---------------------------------------------------------------------------------------------- rendering

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f4f6f9}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#c9d1e0}
main{padding:8px 28px 40px;max-width:1280px}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;box-shadow:0 1px 2px #0002}
h2{font-size:17px;margin:0 0 10px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e3e7ee;vertical-align:top}
th{background:#f0f2f6;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.b{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}
.ok{background:#d7f5df;color:#11602a}.bad{background:#fde0e0;color:#9b1c1c}
.na{background:#eceff3;color:#59606d}.warn{background:#fff1cc;color:#7a5300}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 150px;background:#f7f9fc;border-radius:6px;padding:10px 12px}
.card b{display:block;font-size:22px}
code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f0f2f6;padding:0 3px;border-radius:3px}
details summary{cursor:pointer;color:#2b5cb8}
pre{white-space:pre-wrap;font:12px ui-monospace,Menlo,Consolas,monospace;background:#f7f9fc;padding:8px}
.muted{color:#6b7280}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}
"""


def _badge(status: str) -> str:
    s = status.lower()
    cls = "ok" if s in ("met", "pass", "passed", "yes", "named") else "na"
    if s in ("not met", "fail", "failed", "missed", "alert", "error", "no"):
        cls = "bad"
    elif s == "warning":
        cls = "warn"
    return f'<span class="b {cls}">{escape(status)}</span>'


def _fmt(value: Any, unit: str = "") -> str:
    if value is None or value == "":
        return "&ndash;"
    if isinstance(value, float):
        value = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{escape(str(value))}{escape(unit)}"


def _when(epoch: float | None) -> str:
    if not epoch:
        return "&ndash;"
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M UTC")


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th{' class=n' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _not_run(what: str, how: str) -> str:
    return f'<p>{_badge("not run")} {escape(what)} — <span class="muted">{escape(how)}</span></p>'


def bar_chart(title: str, labels: list[str], series: dict[str, list[float]], colors: dict[str, str]) -> str:
    """Grouped horizontal bars, one group per label (inline SVG, no script)."""
    if not labels:
        return ""
    peak = max([v for values in series.values() for v in values] + [1])
    bar, gap, left, width = 10, 8, 190, 420
    group = bar * len(series) + gap
    height = 30 + group * len(labels) + 24
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{left + width + 80}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<text x="0" y="14" font-weight="600">{escape(title)}</text>',
    ]
    for i, label in enumerate(labels):
        y0 = 26 + i * group
        parts.append(f'<text x="0" y="{y0 + bar * len(series) / 2 + 4}">{escape(label[:30])}</text>')
        for j, (name, values) in enumerate(series.items()):
            value = values[i]
            w = 0 if peak == 0 else width * value / peak
            y = y0 + j * bar
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 1}" fill="{colors[name]}">'
                f"<title>{escape(name)}: {value:g}</title></rect>"
            )
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 2}">{value:g}</text>')
    x = left
    for name in series:
        parts.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{colors[name]}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 5}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, labels: list[str], series: dict[str, list[float | None]], unit: str) -> str:
    """Lines across runs (inline SVG); a missing value leaves a gap."""
    points = [v for values in series.values() for v in values if v is not None]
    if not labels or not points:
        return ""
    colors = ["#2b5cb8", "#c2410c", "#15803d", "#7c3aed"]
    left, top, width, height = 50, 24, 520, 150
    peak = max(points) or 1.0
    step = width / max(1, len(labels) - 1)
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{left + width + 40}" '
        f'height="{top + height + 50}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<text x="0" y="14" font-weight="600">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" stroke="#9aa3b2"/>',
        f'<text x="0" y="{top + 10}">{peak:.4g}{escape(unit)}</text>',
        f'<text x="0" y="{top + height}">0</text>',
    ]
    for i, label in enumerate(labels):
        parts.append(f'<text x="{left + i * step - 10:.1f}" y="{top + height + 14}">{escape(label)}</text>')
    for k, (name, values) in enumerate(series.items()):
        color = colors[k % len(colors)]
        segment: list[str] = []
        for i, value in enumerate([*values, None]):
            if value is None:
                if len(segment) > 1:
                    parts.append(
                        f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                        f'points="{" ".join(segment)}"/>'
                    )
                segment = []
                continue
            x, y = left + i * step, top + height - height * value / peak
            segment.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{escape(name)} '
                f"{value:g}{escape(unit)}</title></circle>"
            )
        parts.append(
            f'<rect x="{left + k * 130}" y="{top + height + 26}" width="10" height="10" fill="{color}"/>'
        )
        parts.append(f'<text x="{left + k * 130 + 14}" y="{top + height + 35}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _criteria(run: RunFiles) -> str:
    rows = []
    for row in success_criteria(run.summary):
        suites, anchor = EVIDENCE.get(row["criterion"], ((), "criteria"))
        ids = [t for t in run.tests if any(t["id"].startswith(_suite_prefix(s)) for s in suites)]
        failed = [t for t in ids if t["outcome"] == "failed"]
        counts = ", ".join(
            f"{s}: {c.get('passed', 0)} passed, {c.get('failed', 0)} failed"
            for s in suites
            if (c := run.summary.get("suites", {}).get(s))
        )
        evidence = [escape(row["evidence"])] if row["evidence"] else []
        if counts:
            evidence.append(f'<a href="#{anchor}">{escape(counts)}</a>')
        if ids:
            shown = (failed or ids)[:12]
            items = "".join(f"<li><code>{escape(t['id'])}</code> {_badge(t['outcome'])}</li>" for t in shown)
            more = f"<li class=muted>… {len(ids) - len(shown)} more</li>" if len(ids) > len(shown) else ""
            label = f"{len(failed)} failed of {len(ids)} test(s)" if failed else f"{len(ids)} test(s)"
            evidence.append(f"<details><summary>{label}</summary><ul>{items}{more}</ul></details>")
        rows.append(
            [escape(row["phase"]), escape(row["criterion"]), _badge(row["status"]), "<br>".join(evidence)]
        )
    return _table(["phase", "criterion", "status", "evidence"], rows)


def _suite_prefix(suite: str) -> str:
    from harness.verify import SUITES

    return SUITES.get(suite, [suite])[0]


def _headline(run: RunFiles) -> str:
    summary = run.summary
    suites = summary.get("suites", {})
    findings = summary.get("findings", [])
    passed = sum(c.get("passed", 0) for c in suites.values())
    failed = sum(c.get("failed", 0) for c in suites.values())
    blocked = sum(c.get("blocked", 0) for c in suites.values())
    errors = sum(1 for f in findings if f.get("severity", "error") == "error")
    criteria = success_criteria(summary)
    met = sum(1 for r in criteria if r["status"] == "met")
    cov = total_coverage(run.coverage)
    mutants = run.mutants or {}
    cards = [
        ("success criteria met", f"{met} / {len(criteria)}"),
        ("checks passed", str(passed)),
        ("checks failed", str(failed)),
        ("blocked", str(blocked)),
        ("error findings", str(errors)),
        ("coverage", "not measured" if cov is None else f"{cov} %"),
        ("mutation score", "not run" if mutants.get("score") is None else f"{mutants['score']} %"),
    ]
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{escape(v)}</b>{escape(k)}</div>' for k, v in cards)
        + "</div>"
    )


def _suites(run: RunFiles) -> str:
    rows = [
        [escape(name), *(_fmt(c.get(k, 0)) for k in ("passed", "failed", "blocked", "skipped"))]
        for name, c in sorted(run.summary.get("suites", {}).items())
    ]
    if not rows:
        return _not_run("no suite ran", "run `harness verify`")
    return _table(["suite", "passed", "failed", "blocked", "skipped"], rows, {1, 2, 3, 4})


def _slos(run: RunFiles) -> str:
    parts = []
    if run.load:
        load = run.load
        cfg = load.get("config", {})
        verdict = _badge("met" if load.get("passed") else "missed")
        if "target_rate" in load:  # harness load (open model)
            finished, seconds = _when(load.get("finished_at")), _fmt(cfg.get("duration_seconds"))
            parts.append(
                f"<p>Latest load run, finished {finished}: "
                f"{_fmt(load.get('published'))} events published at {_fmt(load.get('achieved_rate'))} "
                f"events/s (target {_fmt(load.get('target_rate'))}) for {seconds} s "
                f"by {_fmt(cfg.get('users'))} users; {_fmt(load.get('stored'))} stored, "
                f"{_fmt(load.get('lost'))} lost, {_fmt(load.get('duplicated'))} duplicated — "
                f"verdict {verdict}</p>"
            )
        else:
            finished = _when(load.get("finished_at"))
            parts.append(
                f"<p>Latest load run, finished {finished}: {_fmt(load.get('requests'))} "
                f"requests, {_fmt(load.get('throughput_rps'))} req/s, {_fmt(cfg.get('users'))} users &times; "
                f"{_fmt(cfg.get('rate_per_user'))} req/s for {_fmt(cfg.get('duration_seconds'))} s — verdict "
                f"{verdict}</p>"
            )
        seen = {r["key"]: r.get("prometheus") for r in (load.get("prometheus") or {}).get("slis", [])}
        rows = [
            [
                escape(r["sli"]),
                _fmt(r.get("value"), " " + r.get("unit", "")),
                *([_fmt(seen.get(r.get("key")), " " + r.get("unit", ""))] if seen else []),
                escape(r.get("slo", "")),
                escape(r.get("alert", "")),
                _badge(r.get("status", "not measured")),
            ]
            for r in load.get("verdict", [])
        ]
        head = ["SLI", "value", *(["Prometheus"] if seen else []), "SLO", "alert", "status"]
        parts.append(_table(head, rows, {1, 2} if seen else {1}))
        if seen:
            parts.append(
                "<p>Prometheus: the same SLIs as the SLO recording rules computed them from the services' "
                "own metrics, scraped every second during the run.</p>"
            )
        pub, e2e = load.get("publish_latency_ms") or {}, load.get("e2e_latency_ms") or {}
        parts.append(
            _table(
                ["latency", "p50", "p99", "sample"],
                [
                    [
                        "publish (HTTP answer)",
                        _fmt(pub.get("p50"), " ms"),
                        _fmt(pub.get("p99"), " ms"),
                        "every request",
                    ],
                    [
                        "publish → stored",
                        _fmt(e2e.get("p50"), " ms"),
                        _fmt(e2e.get("p99"), " ms"),
                        f"every event ({_fmt(e2e.get('measured'))}, {_fmt(e2e.get('measured_percent'))} %)"
                        if "measured" in e2e
                        else f"{_fmt(e2e.get('stored'))} of {_fmt(e2e.get('sampled'))} sampled",
                    ],
                ],
                {1, 2},
            )
        )
    else:
        parts.append(
            _not_run("no load run in this directory", "run `harness load` to measure the SLOs of SPEC §5")
        )
    slis = run.summary.get("slis", {})
    if slis:
        parts.append("<p>Measured by the suites of this verify:</p>")
        parts.append(
            _table(
                ["SLI", "value", "SLO", "status"],
                [
                    [
                        escape(n),
                        _fmt(s.get("value"), s.get("unit", "")),
                        escape(str(s.get("slo", ""))),
                        _badge("met" if s.get("ok") else "missed"),
                    ]
                    for n, s in sorted(slis.items())
                ],
                {1},
            )
        )
    return "".join(parts)


def _latest_verification(matrix: dict[str, Any] | None, consumer: str, provider: str) -> dict[str, Any]:
    rows = [
        v
        for v in (matrix or {}).get("verifications", [])
        if v["consumer"] == consumer and v["provider"] == provider
    ]
    if not rows:
        return {}
    latest = max(rows, key=lambda v: v.get("verified_at", 0))
    pact = next(
        (
            p
            for p in sorted((matrix or {}).get("pacts", []), key=lambda p: -p.get("published_at", 0))
            if p["consumer"] == consumer
            and p["provider"] == provider
            and p["pact_hash"] == latest["pact_hash"]
        ),
        {},
    )
    return {**latest, "consumer_version": pact.get("consumer_version")}


def _contracts(run: RunFiles) -> str:
    contracts = run.summary.get("contracts", [])
    if not contracts:
        return _not_run("no contract was verified", "run `harness verify --suite contracts`")
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in contracts:
        pairs.setdefault((row["consumer"], row["provider"]), []).append(row)
    rows = []
    for (consumer, provider), items in sorted(pairs.items()):
        ok = sum(1 for r in items if r["ok"])
        v = _latest_verification(run.matrix, consumer, provider)
        rows.append(
            [
                escape(consumer),
                _fmt(v.get("consumer_version")),
                escape(provider),
                _fmt(v.get("provider_version")),
                f"<code>{escape(v['pact_hash'][:12])}</code>" if v.get("pact_hash") else "&ndash;",
                _when(v.get("verified_at") or run.finished_at),
                f"{ok} / {len(items)}",
                _badge("pass" if ok == len(items) else "FAIL"),
            ]
        )
    parts = [
        _table(
            [
                "consumer",
                "version",
                "provider",
                "version",
                "pact",
                "verified at",
                "interactions ok",
                "result",
            ],
            rows,
            {6},
        )
    ]
    failed = [r for r in contracts if not r["ok"]]
    if failed:
        mism = [
            [
                escape(f"{r['consumer']} → {r['provider']}: {r['interaction']}"),
                f"<code>{escape(m['path'])}</code>",
                escape(str(m["expected"])),
                escape(str(m["actual"])),
            ]
            for r in failed
            for m in r.get("mismatches", [])
        ]
        parts.append(
            "<p>Broken interactions:</p>" + _table(["interaction", "path", "expected", "actual"], mism)
        )
    parts.append(
        f"<details><summary>every interaction ({len(contracts)})</summary>"
        + _table(
            ["consumer", "provider", "interaction", "result"],
            [
                [
                    escape(r["consumer"]),
                    escape(r["provider"]),
                    escape(r["interaction"]),
                    _badge("pass" if r["ok"] else "FAIL"),
                ]
                for r in contracts
            ],
        )
        + "</details>"
    )
    return "".join(parts)


def _ledger(run: RunFiles) -> str:
    ledger = run.summary.get("ledger", {})
    if not ledger:
        return _not_run("no fault run", "run `harness verify --suite faults`")
    names = sorted(ledger)
    keys = ("accepted", "stored", "dead_lettered", "lost", "duplicated")
    rows = []
    for name in names:
        v = ledger[name]
        clean = v.get("lost", 0) == 0 and v.get("duplicated", 0) == 0
        rows.append(
            [
                escape(name),
                *(_fmt(v.get(k)) for k in keys),
                _fmt(v.get("recovery_seconds")),
                _badge("pass" if clean else "FAIL"),
            ]
        )
    table = _table(
        ["fault run", *[k.replace("_", " ") for k in keys], "recovery s", "zero loss"], rows, set(range(1, 7))
    )
    chart = bar_chart(
        "events per fault run",
        names,
        {
            k.replace("_", " "): [float(ledger[n].get(k) or 0) for n in names]
            for k in ("accepted", "stored", "lost", "duplicated")
        },
        {"accepted": "#94a3b8", "stored": "#15803d", "lost": "#b91c1c", "duplicated": "#c2410c"},
    )
    recovery = [float(ledger[n].get("recovery_seconds") or 0) for n in names]
    chart2 = bar_chart(
        "recovery after the fault (s, SLO < 30)", names, {"recovery s": recovery}, {"recovery s": "#2b5cb8"}
    )
    return table + chart + chart2


def _mutants(run: RunFiles) -> str:
    mutants = run.mutants
    if not mutants or mutants.get("score") is None:
        return _not_run("mutation score not measured", "run `harness mutants` (about 25 min on 2 cores)")
    head = (
        f"<p><b>{_fmt(mutants['score'])} %</b> of {_fmt(mutants.get('mutants'))} mutants named, "
        f"{_fmt(mutants.get('false_positives'))} false positive(s).</p>"
    )
    rows = [
        [
            escape(r["mutant"]),
            escape(r.get("defect", "")),
            _badge("named" if r.get("named") else "no"),
            escape("; ".join(r.get("false_positives", []))) or "&ndash;",
        ]
        for r in mutants.get("rows", [])
    ]
    return head + _table(["mutant", "defect", "named", "other error findings"], rows)


def _findings(run: RunFiles) -> str:
    findings = run.summary.get("findings", [])
    if not findings:
        return f"<p>{_badge('met')} None: every check passed.</p>"
    groups = {
        "root cause": [f for f in findings if f.get("root")],
        "error": [f for f in findings if not f.get("root") and f.get("severity", "error") == "error"],
        "warning": [f for f in findings if not f.get("root") and f.get("severity") == "warning"],
    }
    parts = [
        _table(
            ["severity", "count"],
            [
                [_badge(k if k != "root cause" else "error") + f" {escape(k)}", _fmt(len(v))]
                for k, v in groups.items()
            ],
            {1},
        )
    ]
    for severity, items in groups.items():
        for f in items:
            blocks = f", blocks {f.get('blocks', 0)} check(s)" if f.get("root") else ""
            parts.append(
                f"<details><summary>{escape(severity)}{escape(blocks)}: <b>{escape(f['title'])}</b></summary>"
                f"<p><code>{escape(f['id'])}</code></p>"
                f"<pre>{escape(f.get('detail', '')[:3000])}</pre></details>"
            )
    return "".join(parts)


def _coverage(run: RunFiles) -> str:
    if not run.coverage:
        return (
            f"<p>{_badge('not measured')} no <code>coverage.xml</code> in this directory — "
            '<span class="muted">coverage is written when verify runs under coverage</span></p>'
        )
    rows = [
        [
            escape(r["component"]),
            _fmt(r["line_rate"], " %"),
            f"{r['covered']} / {r['lines']}",
            _fmt(r["branch_rate"], " %"),
            f"{r['branches_covered']} / {r['branches']}",
        ]
        for r in run.coverage
    ]
    chart = bar_chart(
        "line coverage by component (%)",
        [r["component"] for r in run.coverage],
        {"lines %": [float(r["line_rate"] or 0) for r in run.coverage]},
        {"lines %": "#15803d"},
    )
    return _table(["component", "lines", "lines hit", "branches", "branches hit"], rows, {1, 2, 3, 4}) + chart


def _trend(run: RunFiles) -> str:
    history = [dict(e) for e in run.history[-HISTORY_SHOWN:]]
    if not history:
        return _not_run("no earlier run recorded", f"each `harness verify` appends a line to {HISTORY}")
    seen: set[Any] = set()
    for entry in history:  # a load run is shown once: later verifies that found the same load.json say so
        finished = (entry.get("load") or {}).get("finished_at")
        if finished is not None and finished in seen:
            entry["load"] = None
            entry["load_repeated"] = True
        seen.add(finished)
    labels = [f"#{len(run.history) - len(history) + i + 1}" for i in range(len(history))]
    metrics: list[tuple[str, Any]] = [
        ("when", lambda e: _when(e.get("when"))),
        ("checks passed", lambda e: _fmt(e.get("tests", {}).get("passed"))),
        ("checks failed", lambda e: _fmt(e.get("tests", {}).get("failed"))),
        ("blocked", lambda e: _fmt(e.get("tests", {}).get("blocked"))),
        ("error findings", lambda e: _fmt(e.get("findings", {}).get("error"))),
        ("warnings", lambda e: _fmt(e.get("findings", {}).get("warning"))),
        ("criteria met", lambda e: _fmt(e.get("criteria_met"))),
        ("events lost", lambda e: _fmt(e.get("lost"))),
        (
            "coverage",
            lambda e: _fmt(e.get("coverage"), " %") if e.get("coverage") is not None else "not measured",
        ),
        (
            "throughput",
            lambda e: (
                _fmt((e.get("load") or {}).get("throughput_rps"), " req/s") if e.get("load") else _no_load(e)
            ),
        ),
        (
            "publish p99",
            lambda e: (
                _fmt((e.get("load") or {}).get("publish_p99_ms"), " ms") if e.get("load") else _no_load(e)
            ),
        ),
        (
            "publish → stored p99",
            lambda e: _fmt((e.get("load") or {}).get("e2e_p99_ms"), " ms") if e.get("load") else _no_load(e),
        ),
        ("duration", lambda e: _fmt(e.get("duration_seconds"), " s")),
    ]
    rows = [[escape(name), *(get(e) for e in history)] for name, get in metrics]
    table = _table(["run", *labels], rows)

    def load(key: str) -> list[float | None]:
        return [(e.get("load") or {}).get(key) for e in history]

    latency = line_chart(
        "latency percentiles across runs",
        labels,
        {
            "publish p50": load("publish_p50_ms"),
            "publish p99": load("publish_p99_ms"),
            "publish → stored p99": load("e2e_p99_ms"),
        },
        " ms",
    )
    throughput = line_chart("throughput across runs", labels, {"req/s": load("throughput_rps")}, " req/s")
    checks = line_chart(
        "checks and findings across runs",
        labels,
        {
            "passed": [e.get("tests", {}).get("passed") for e in history],
            "failed": [e.get("tests", {}).get("failed") for e in history],
            "error findings": [e.get("findings", {}).get("error") for e in history],
        },
        "",
    )
    notes = (
        ""
        if latency
        else '<p class="muted">No load run in these runs: latency and throughput are not plotted.</p>'
    )
    return table + checks + latency + throughput + notes


def _no_load(entry: dict[str, Any]) -> str:
    return '<span class="muted">same load run</span>' if entry.get("load_repeated") else "not run"


def render_index(run: RunFiles) -> str:
    """The page (a string of HTML, no script, no external resource)."""
    target = run.summary.get("target") or {}
    url_bits = [f"{k} {v}" for k, v in sorted(target.items()) if k.endswith("_url") and v]
    subtitle = f"run finished {_when(run.finished_at)}, page built {_when(run.built_at)} from {run.directory}"
    if url_bits:
        subtitle += " · target: " + ", ".join(url_bits)
    sections = [
        ("criteria", "Success criteria (SPEC §5)", _criteria(run)),
        ("slos", "Service levels (latest load run)", _slos(run)),
        ("contracts", "Contract matrix", _contracts(run)),
        ("ledger", "Fault ledger (zero loss, measured)", _ledger(run)),
        ("mutants", "Mutation score", _mutants(run)),
        ("findings", "Findings by severity", _findings(run)),
        ("coverage", "Coverage by component", _coverage(run)),
        ("trend", "Last runs side by side", _trend(run)),
        ("suites", "Suites", _suites(run)),
    ]
    nav = " · ".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title, _ in sections)
    files = [(name, label) for name, label in DETAIL_FILES if (run.directory / name).exists()]
    if files:
        nav += "<br>In this directory: " + " · ".join(
            f'<a href="{escape(name)}">{escape(label)}</a>' for name, label in files
        )
    body = "".join(
        f'<section id="{sid}"><h2>{escape(title)}</h2>{html}</section>' for sid, title, html in sections
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>33GOD event harness — leadership report</title>"
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>33GOD event harness — leadership report</h1><p>{escape(subtitle)}</p></header>"
        f'<main><section id="summary"><h2>At a glance</h2>{_headline(run)}'
        f'<p class="muted">{nav}</p></section>'
        f"{body}</main></body></html>\n"
    )


def write_index(directory: Path, *, out: Path | None = None) -> Path:
    """Build ``index.html`` from the run files in ``directory`` (without running anything)."""
    run = load_run(directory)
    path = out or Path(directory) / INDEX
    path.write_text(render_index(run))
    return path


def record_run(directory: Path, when: float | None = None) -> Path:
    """After a verify: append the run to ``history.jsonl``, then build the page (it shows that run too)."""
    append_history(directory, history_entry(load_run(directory), when))
    return write_index(directory)


def photograph(index: Path, screenshot: Path | None = None) -> list[str]:
    """Open the page in headless Chromium (when there is one) and save ``index.png`` beside it; the lines
    ``harness verify`` prints (console errors of the page included, as a warning)."""
    from harness.browser import BrowserError, check_page, find_chromium

    if find_chromium() is None:
        return ["harness verify: no Chromium, so no screenshot of the page (apt-get install -y chromium)"]
    screenshot = screenshot or index.with_suffix(".png")
    try:
        seen = check_page(index, screenshot=screenshot)
    except BrowserError as exc:
        return [f"harness verify: the page was not photographed: {exc}"]
    lines = [f"harness verify: page checked in Chromium in {seen.seconds:g} s, screenshot {screenshot}"]
    lines += [f"  warning: the page logged {error}" for error in seen.errors]
    return lines
