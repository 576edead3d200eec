"""``harness verify``: every suite (or the chosen ones) in one pytest session, summarised in ``reports/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from harness._layout import suites_root
from harness.backends._external import redact_url
from harness.config import OPTIONS, Settings
from harness.report import RunReport, SuiteCollector, contract_matrix_lines

ROOT = suites_root()

#: suite name -> test paths (relative to the project root)
SUITES: dict[str, list[str]] = {
    "contracts": ["contracts"],
    "e2e": ["scenarios/e2e"],
    "correlation": ["scenarios/correlation"],
    "dlq": ["scenarios/dlq"],
    "fuzz": ["scenarios/fuzz"],
    "security": ["scenarios/security"],
    "faults": ["scenarios/faults"],
    "stream": ["scenarios/stream"],
}


def suite_paths(names: list[str] | None) -> dict[str, list[Path]]:
    chosen = names or list(SUITES)
    return {name: [ROOT / p for p in SUITES[name] if (ROOT / p).exists()] for name in chosen}


def public_target(settings: Settings) -> dict[str, str]:
    """What the run targeted, fit for a report: passwords in URLs and secrets of keys left out."""
    target = {name: getattr(settings, name) for name in OPTIONS}
    for name in ("amqp_url", "database_url"):
        target[name] = redact_url(target[name])
    target["signing_keys"] = ", ".join(f"{kid}:***" for kid in settings.keyring)
    target["api_keys"] = f"{len([k for k in settings.api_keys.split(',') if k.strip()])} key(s)"
    return target


def _types_drift() -> bool:
    """True when the committed generated types differ from the schemas (``harness schemas check``)."""
    from holyfields import check

    return bool(check())


def run_verify(
    settings: Settings,
    *,
    suites: list[str] | None,
    reports: Path,
    fuzz_profile: str | None = None,
    extra: list[str] | None = None,
    consumer_version: str | None = None,
    provider_version: str | None = None,
    coverage: bool = True,
    screenshot: bool = True,
    allure: bool = True,
    load: str | None = None,
    prometheus: bool = False,
) -> int:
    """Run the suites in-process; write ``summary.json``, ``report.md``, ``junit.xml``, ``index.html`` (and a
    line of ``history.jsonl``), with ``coverage``: ``coverage.xml`` and ``coverage/``; 0 when all pass."""
    paths = suite_paths(suites)
    targets = [str(p) for ps in paths.values() for p in ps]
    if not targets:
        print(f"harness verify: no test files for suites {', '.join(paths)}", file=sys.stderr)
        return 2
    report = RunReport(target=public_target(settings))
    args = [
        *targets,
        "-q",
        "-p",
        "no:cacheprovider",
        f"--rootdir={ROOT}",
        f"--junitxml={reports / 'junit.xml'}",
    ]
    if fuzz_profile:
        args.append(f"--fuzz-profile={fuzz_profile}")
    args += extra or []
    from harness.pytest_plugin import SettingsHandOver

    collector = SuiteCollector(report, paths, progress=sys.stdout)
    plugins: list[object] = [SettingsHandOver(settings), collector]
    from harness.allure_run import RESULTS, AllureEvidence, allure_pytest_missing, render

    allure_note = allure_pytest_missing() if allure else None
    if allure and allure_note is None:
        args += [f"--alluredir={reports / RESULTS}", "--clean-alluredir"]
        plugins.append(AllureEvidence(collector.suite_of, report))
    os.environ.setdefault("PACT_DO_NOT_TRACK", "true")  # no usage report from the Pact libraries
    sys.path.insert(0, str(ROOT))  # `from scenarios import ...` inside the suites, checkout or wheel
    from harness.coverage_run import VerifyCoverage, coverage_lines

    measured = VerifyCoverage(reports).start() if coverage else None
    try:
        code = pytest.main(args, plugins=plugins)
    finally:
        sys.path.remove(str(ROOT))
        if measured is not None:
            report.coverage = measured.finish() or []
    report.checks["generated types"] = not _types_drift()
    load_ok = run_load_slis(settings, load, reports, report, prometheus=prometheus) if load else True
    path = report.write(reports)
    from harness.dashboard import photograph, record_run
    from harness.matrix import record_after_verify

    notes = record_after_verify(
        report.contracts,
        reports,
        consumer_version=consumer_version,
        provider_version=provider_version,
        external_provider=bool(settings.bloodbank_url or settings.candystore_url),
    )
    if measured is not None:
        notes += coverage_lines(report.coverage, reports)
    if allure:
        notes += [allure_note] if allure_note else render(reports)
    index = record_run(reports)  # last: the page links what exists
    if screenshot:
        notes += photograph(index)
    print(f"\nharness verify: summary per suite (details in {path.parent}/report.md, page {index})")
    print(f"  {'suite':14} {'passed':>7} {'failed':>7} {'blocked':>8} {'skipped':>8}")
    for name, counts in sorted(report.suites.items()):
        print(
            f"  {name:14} {counts['passed']:7} {counts['failed']:7} {counts.get('blocked', 0):8} "
            f"{counts['skipped']:8}"
        )
    if report.contracts:
        print("\nharness verify: contract matrix (per interaction)")
        for line in contract_matrix_lines(report.contracts):
            print(line)
    for line in notes:
        print(line)
    if report.findings:
        print(
            f"\nharness verify: {report.errors} error(s), {len(report.findings) - report.errors} warning(s)"
        )
    for finding in report.ordered_findings():
        label = "ERROR" if finding["severity"] == "error" else "warn "
        blocks = f" [root cause, blocks {finding['blocks']}]" if finding.get("root") else ""
        first = finding["detail"].splitlines()[0] if finding["detail"] else ""
        print(f"  {label} {finding['title']}{blocks}: {first}")
    broken_contracts = any(not row["ok"] for row in report.contracts)
    usable = code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED)
    # The exit code follows errors only: warnings (legal, worth knowing) never fail a run.
    if not usable or report.errors or report.failed or broken_contracts or not load_ok:
        return 1
    return 0


def run_load_slis(
    settings: Settings, preset: str, reports: Path, report: RunReport, *, prometheus: bool = False
) -> bool:
    """``harness load --profile PRESET`` against the same target; its SLI table goes into the run's report,
    with ``prometheus`` each SLI as a private Prometheus computed it too (the SLO recording rules).

    False when the load run missed an SLO or wrote no summary."""
    import json
    import subprocess

    argv = [sys.executable, "-m", "harness.cli", "load", "--profile", preset, "--reports", str(reports)]
    if prometheus:
        argv.append("--prometheus")
    # the same target, handed over as HARNESS_* variables (keys stay off the command line)
    env = dict(os.environ)
    env.update(
        {var: str(getattr(settings, name)) for name, (var, _) in OPTIONS.items() if getattr(settings, name)}
    )
    path = reports / "load" / "summary.json"
    path.unlink(missing_ok=True)  # never judge an earlier run's summary
    print(f"\nharness verify: load run ({preset})", flush=True)
    subprocess.run(argv, env=env, check=False)
    if not path.exists():
        report.add_sli(f"load run ({preset})", 0.0, slo="a summary", ok=False)
        return False
    summary = json.loads(path.read_text())
    seen = {r["key"]: r["prometheus"] for r in (summary.get("prometheus") or {}).get("slis", [])}
    for row in summary["verdict"]:
        if row["value"] is not None:
            ok = row["status"] in ("met", "not measured")
            report.add_sli(
                f"load: {row['sli']}",
                row["value"],
                slo=row["slo"],
                ok=ok,
                unit=f" {row['unit']}",
                prometheus=seen.get(row.get("key", "")),
            )
    if prometheus and not seen:
        report.add_sli("load: SLIs from Prometheus", 0.0, slo="recording rules evaluated", ok=False)
    return bool(summary["passed"])
