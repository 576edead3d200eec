"""What ``harness verify`` says about targets it has never seen (SPEC §6, §7): root causes, not cascades."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.backends import Backend
from harness.config import Settings
from harness.mutants import serve
from harness.mutants.apps import all_not_found, renamed_publish, stops_answering_after
from harness.mutants.runner import verify_subprocess
from holyfields.topology import Topology

pytestmark = [pytest.mark.internal, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]


def run_verify(
    backend: Backend,
    settings: Settings,
    reports: Path,
    *,
    bloodbank_url: str,
    candystore_url: str,
    suites: list[str],
    extra: list[str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], float]:
    """``harness verify`` in a subprocess, as a team runs it against its own services."""
    return verify_subprocess(
        bloodbank_url=bloodbank_url,
        candystore_url=candystore_url,
        amqp_url=backend.amqp_url,
        database_url=backend.database_url,
        topology=backend.topology,
        settings=settings,
        reports=reports,
        suites=suites,
        extra=extra,
    )


@pytest.fixture(scope="module")
def reference(reference_services: dict[str, Any]) -> dict[str, str]:
    """URLs of this session's reference Bloodbank and Candystore (what the mutants stand in front of)."""
    if {"candystore", "bloodbank"} - set(reference_services):
        pytest.skip("needs the reference services of this session")
    return {name: service.url for name, service in reference_services.items()}


def test_a_bloodbank_answering_404_everywhere_is_one_root_finding(
    reference: dict[str, str], backend: Backend, harness_settings: Settings, tmp_path: Path
) -> None:
    """A Bloodbank whose every route is 404: one root finding, dependants blocked, Candystore still checked"""
    with serve(all_not_found(), "all-404") as bloodbank:
        run, summary, took = run_verify(
            backend,
            harness_settings,
            tmp_path / "reports",
            bloodbank_url=bloodbank.url,
            candystore_url=reference["candystore"],
            suites=["e2e", "correlation", "dlq", "security", "fuzz", "contracts"],
        )
    output = run.stdout + run.stderr
    findings = summary["findings"]
    errors = [f for f in findings if f["severity"] == "error"]
    titles = "\n".join(f"  [{f['severity']}] {f['title']}" for f in findings)
    assert run.returncode == 1, f"verify did not fail against an all-404 Bloodbank:\n{output[-4000:]}"
    assert findings and findings[0]["title"] == "No publish route: POST /events answered 404", titles
    assert findings[0]["root"] and findings[0]["blocks"] >= 20, findings[0]
    assert len(errors) <= 10, f"{len(errors)} error findings (a cascade):\n{titles}"
    blocked = sum(counts["blocked"] for counts in summary["suites"].values())
    assert blocked >= 20, summary["suites"]
    assert summary["suites"]["dlq"]["passed"] >= 5, f"Candystore checks did not run: {summary['suites']}"
    print(f"all-404 Bloodbank: {len(errors)} error findings, {blocked} blocked, {took:.1f} s\n{titles}")


def test_a_bloodbank_that_stops_answering_is_named_with_its_last_request(
    reference: dict[str, str], backend: Backend, harness_settings: Settings, tmp_path: Path
) -> None:
    """A Bloodbank that stops answering after one request: that request named, the run ends in bounded time"""
    with serve(stops_answering_after(reference["bloodbank"], 1), "wedged") as bloodbank:
        run, summary, took = run_verify(
            backend,
            harness_settings,
            tmp_path / "reports",
            bloodbank_url=bloodbank.url,
            candystore_url=reference["candystore"],
            suites=["e2e", "security"],
            extra=["--request-timeout=2"],
        )
    findings = summary["findings"]
    titles = "\n".join(f"  [{f['severity']}] {f['title']}" for f in findings)
    assert run.returncode == 1, titles
    assert findings[0]["title"].startswith("Bloodbank stopped answering after: POST /events {"), titles
    assert "<- no answer" in findings[0]["detail"], findings[0]["detail"]
    bare = [f["title"] for f in findings if any(w in f["title"] for w in ("Timeout", "ConnectError"))]
    assert not bare, f"bare exceptions as findings: {bare}"
    assert took < 120, f"verify took {took:.0f} s against a target that stopped answering"
    print(f"wedged Bloodbank: {len(findings)} findings in {took:.1f} s\n{titles}")


def test_a_profile_names_a_renamed_publish_route_and_its_success_status(
    reference: dict[str, str], backend: Backend, harness_settings: Settings, tmp_path: Path
) -> None:
    """A publish route renamed and answering 200: one root finding without a profile, none with one"""
    profile = tmp_path / "team.toml"
    profile.write_text('[bloodbank]\npublish = "POST /api/v2/publish"\nsuccess = [200]\n')
    with serve(renamed_publish(reference["bloodbank"]), "renamed") as bloodbank:
        urls = {"bloodbank_url": bloodbank.url, "candystore_url": reference["candystore"]}
        bare, bare_summary, _ = run_verify(
            backend, harness_settings, tmp_path / "bare", suites=["e2e"], **urls
        )
        told, told_summary, took = run_verify(
            backend,
            harness_settings,
            tmp_path / "told",
            suites=["e2e"],
            extra=[f"--profile={profile}"],
            **urls,
        )
    titles = [f["title"] for f in bare_summary["findings"]]
    assert bare.returncode == 1 and titles == ["No publish route: POST /events answered 404"], titles
    e2e = told_summary["suites"]["e2e"]
    assert told.returncode == 0, [f["title"] for f in told_summary["findings"]]
    assert e2e["passed"] >= 20 and e2e["failed"] == 0 and e2e["blocked"] == 0, e2e
    print(f"renamed publish route with a profile: e2e {e2e} in {took:.1f} s")


def _probe(*args: str, topology: Topology | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    """``harness probe`` in a subprocess, with the broker names of ``topology`` (SPEC defaults without)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env.update(topology.env() if topology is not None else {})
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "harness.cli", "probe", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return run, time.monotonic() - started


def test_probe_reports_the_reference_stack_complete_and_drafts_a_profile(
    reference: dict[str, str], backend: Backend, harness_settings: Settings, tmp_path: Path
) -> None:
    """harness probe finds everything on the reference stack and writes a profile that loads"""
    from harness.profile import Profile

    draft = tmp_path / "draft.toml"
    run, took = _probe(
        f"--bloodbank-url={reference['bloodbank']}",
        f"--candystore-url={reference['candystore']}",
        f"--signing-keys={harness_settings.signing_keys}",
        f"--api-keys={harness_settings.api_keys}",
        f"--amqp-url={backend.amqp_url}",
        f"--write-profile={draft}",
        topology=backend.topology,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("publish: works", "read_by_id: works", "trace: works", "dlq: works", "0 missing"):
        assert line in run.stdout, run.stdout
    assert str(Profile.load(draft).bloodbank.publish) == "POST /events"
    assert took < 30, f"probe took {took:.1f} s"


def test_probe_of_an_all_404_bloodbank_names_what_is_missing_without_crashing(tmp_path: Path) -> None:
    """harness probe against a Bloodbank that answers 404 everywhere: missing routes listed, no traceback"""
    with serve(all_not_found(), "all-404") as bloodbank:
        run, took = _probe(f"--bloodbank-url={bloodbank.url}")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert "publish: No publish route: POST /events answered 404" in run.stdout, run.stdout
    assert "health: GET /healthz answered 404" in run.stdout, run.stdout
    assert took < 15, f"probe took {took:.1f} s"


def test_a_bloodbank_that_never_answers_is_named_as_not_running(
    reference: dict[str, str], backend: Backend, harness_settings: Settings, tmp_path: Path
) -> None:
    """Nothing listens at the Bloodbank URL: one root finding saying so, not 'stopped answering'"""
    from harness.backends import free_port

    nowhere = f"http://127.0.0.1:{free_port()}"
    run, summary, _ = run_verify(
        backend,
        harness_settings,
        tmp_path / "reports",
        bloodbank_url=nowhere,
        candystore_url=reference["candystore"],
        suites=["e2e"],
    )
    titles = [f["title"] for f in summary["findings"]]
    assert run.returncode == 1 and titles == [
        f"Bloodbank does not answer at {nowhere} (is it running there? --bloodbank-url)"
    ], titles
