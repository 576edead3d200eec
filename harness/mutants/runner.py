"""``harness mutants``: ``harness verify`` against each mutant; the mutation score and false positives.

One local backend serves every mutant; each mutant gets broker objects of its own (a name prefix), fresh
reference services (a mutant Candystore for consumer defects), its proxies, and one ``harness verify`` in a
subprocess, exactly as a team runs it against its own services.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends import create_backend, free_port
from harness.config import Settings
from harness.mutants._serve import serve
from harness.mutants.gallery import ALL_AT_ONCE, ALL_AT_ONCE_PARTS, MUTANTS, Mutant, by_name
from holyfields.topology import Topology


@dataclass
class Servers:
    """What the services of one mutant run need of the backend (its own object names)."""

    amqp_url: str
    database_url: str
    topology: Topology


def verify_subprocess(
    *,
    bloodbank_url: str,
    candystore_url: str,
    amqp_url: str,
    database_url: str,
    topology: Topology,
    settings: Settings,
    reports: Path,
    suites: list[str] | tuple[str, ...],
    extra: list[str] | None = None,
    timeout: float = 600,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], float]:
    """``harness verify`` in a subprocess against the given services (external backend): run, summary, s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env.update(topology.env())
    env["PACT_DO_NOT_TRACK"] = "true"
    # a verify of a target under test: no coverage of the harness, no page check, no Allure
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "verify",
        "--no-coverage",
        "--no-screenshot",
        "--no-allure",
    ]
    for suite in suites:
        command += ["--suite", suite]
    command += [
        f"--bloodbank-url={bloodbank_url}",
        f"--candystore-url={candystore_url}",
        "--backend=external",
        f"--amqp-url={amqp_url}",
        f"--database-url={database_url}",
        f"--signing-keys={settings.signing_keys}",
        f"--api-keys={settings.api_keys}",
        f"--reports={reports}",
        *(extra or []),
    ]
    started = time.monotonic()
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - started
    summary_file = reports / "summary.json"
    if not summary_file.exists():
        raise RuntimeError(f"harness verify wrote no summary:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run, json.loads(summary_file.read_text()), took


def _text(finding: dict[str, Any]) -> str:
    return f"{finding['title']}\n{finding.get('detail', '')}"


def judge(mutant: Mutant, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Was the defect named (by an error finding), and which other error findings are false positives?"""
    errors = [f for f in findings if f.get("severity", "error") == "error"]
    if mutant is ALL_AT_ONCE:
        table = by_name()
        patterns = {part: table[part].expect for part in ALL_AT_ONCE_PARTS}
        related = {part: table[part].related or table[part].expect for part in ALL_AT_ONCE_PARTS}
        named_parts = {
            part: next((f["title"] for f in errors if re.search(p, _text(f))), "")
            for part, p in patterns.items()
        }
        unnamed = [part for part, title in named_parts.items() if not title]
        others = [f["title"] for f in errors if not any(re.search(p, _text(f)) for p in related.values())]
        root_first = not errors or bool(errors[0].get("root")) or not any(f.get("root") for f in errors)
        return {
            "named": not unnamed,
            "finding": f"{len(patterns) - len(unnamed)} of {len(patterns)} defects named"
            + (f" (unnamed: {', '.join(unnamed)})" if unnamed else ""),
            "false_positives": others,
            "root_causes_first": root_first,
        }
    if not mutant.expect:
        return {"named": not errors, "finding": "", "false_positives": [f["title"] for f in errors]}
    hit = next((f for f in errors if re.search(mutant.expect, _text(f))), None)
    related = mutant.related or mutant.expect
    others = [f["title"] for f in errors if f is not hit and not re.search(related, _text(f))]
    return {"named": hit is not None, "finding": hit["title"] if hit else "", "false_positives": others}


def run_one(
    mutant: Mutant,
    index: int,
    backend: Any,
    settings: Settings,
    work: Path,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    from harness.services import start_reference_services

    topology = backend.topology.prefixed(f"mut{index}-")
    servers = Servers(backend.amqp_url, backend.database_url, topology)
    logs = work / mutant.name
    logs.mkdir(parents=True, exist_ok=True)
    modules = {"candystore": f"harness.mutants.candystore {mutant.consumer}"} if mutant.consumer else {}
    began = time.monotonic()
    extra: list[str] = []
    with ExitStack() as stack:
        service_servers = servers
        if mutant.faults:
            from harness.faults import FaultControl

            control = stack.enter_context(FaultControl(backend))
            service_servers = Servers(control.amqp_url, control.database_url, topology)
            extra.append(f"--fault-control={control.url}")
        # spans go to the verify run's OTLP receiver, on a port chosen here, as a team would configure it
        otlp = f"127.0.0.1:{free_port()}"
        extra.append(f"--otlp-receiver={otlp}")
        services = start_reference_services(
            service_servers,  # type: ignore[arg-type]
            settings,
            log_dir=logs,
            modules=modules,
            otlp_endpoint=f"http://{otlp}",
        )
        for service in services.values():
            stack.callback(service.stop)
        urls = {name: service.url for name, service in services.items()}
        for name in ("bloodbank", "candystore"):
            build = getattr(mutant, name)
            if build is not None:
                served = stack.enter_context(serve(build(urls[name]), f"{mutant.name}-{name}"))
                urls[name] = served.url
        if mutant.profile:
            profile = logs / "profile.toml"
            profile.write_text(mutant.profile)
            extra.append(f"--profile={profile}")
        run, summary, took = verify_subprocess(
            bloodbank_url=urls["bloodbank"],
            candystore_url=urls["candystore"],
            amqp_url=servers.amqp_url,
            database_url=servers.database_url,
            topology=servers.topology,
            settings=settings,
            reports=logs / "reports",
            suites=mutant.suites,
            extra=[*extra, "--request-timeout=5"],
        )
    verdict = judge(mutant, summary["findings"])
    row = {
        "mutant": mutant.name,
        "defect": mutant.defect,
        **verdict,
        "errors": sum(1 for f in summary["findings"] if f.get("severity", "error") == "error"),
        "blocked": sum(c.get("blocked", 0) for c in summary["suites"].values()),
        "seconds": round(time.monotonic() - began, 1),
        "verify_seconds": round(took, 1),
        "exit_code": run.returncode,
    }
    progress(
        f"  {mutant.name:26} {'named' if row['named'] else 'NOT NAMED':10} "
        f"{len(row['false_positives'])} false positive(s)  {row['seconds']:.0f} s"
    )
    return row


def run_mutants(
    names: list[str] | None = None,
    *,
    fast: bool = False,
    reference: bool = True,
    progress: Callable[[str], None] = print,
    work: Path | None = None,
) -> dict[str, Any]:
    """Run the chosen mutants (default: all, plus all-at-once and the reference stack); the scored table."""
    table = by_name()
    unknown = [n for n in names or [] if n not in table]
    if unknown:
        raise ValueError(f"unknown mutant(s) {unknown}; known: {', '.join(table)}")
    if names:
        chosen = [table[n] for n in names]
    elif fast:
        chosen = [m for m in MUTANTS if m.fast]
    else:
        chosen = [*MUTANTS, ALL_AT_ONCE]
    settings = Settings.resolve({}, environ={}).with_reference_credentials()
    rows: list[dict[str, Any]] = []
    backend = create_backend("auto")
    work = work or Path(tempfile.mkdtemp(prefix="harness-mutants-"))
    with backend:
        progress(f"harness mutants: {len(chosen)} mutant(s) on the {backend.name} backend")
        if reference and not names and not fast:
            ref = Mutant("reference", "none: the reference stack", "", ("contracts", "e2e", "correlation"))
            rows.append(run_one(ref, 0, backend, settings, work, progress))
        for index, mutant in enumerate(chosen, start=1):
            rows.append(run_one(mutant, index, backend, settings, work, progress))
    scored = [r for r in rows if r["mutant"] != "reference"]
    named = sum(1 for r in scored if r["named"])
    return {
        "rows": rows,
        "score": round(100.0 * named / len(scored), 1) if scored else None,
        "named": named,
        "mutants": len(scored),
        "false_positives": sum(len(r["false_positives"]) for r in rows),
        "reports": str(work),
    }


def table_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"  {'mutant':26} {'expected defect':58} {'named?':7} other errors (false positives)"]
    for row in result["rows"]:
        named = "yes" if row["named"] else "NO"
        others = "; ".join(row["false_positives"])[:160] or "-"
        lines.append(f"  {row['mutant']:26} {row['defect'][:58]:58} {named:7} {others}")
    if result["score"] is not None:
        lines.append(
            f"  mutation score {result['score']} % ({result['named']} of {result['mutants']} named), "
            f"{result['false_positives']} false positive(s)"
        )
    return lines


def merge_into_reports(result: dict[str, Any], reports: Path) -> None:
    """Write ``mutants.json``; add the score to ``summary.json`` and ``report.md`` when they exist."""
    from harness.report import render_markdown

    reports.mkdir(parents=True, exist_ok=True)
    (reports / "mutants.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    summary_file = reports / "summary.json"
    if summary_file.exists():
        summary = json.loads(summary_file.read_text())
        summary["mutants"] = result
        summary_file.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        (reports / "report.md").write_text(render_markdown(summary))
        from harness.dashboard import write_index

        write_index(reports)
