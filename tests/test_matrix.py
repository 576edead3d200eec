"""can-i-deploy over the local contract matrix, with Pact Broker semantics (verification → pact content)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness._layout import suites_root
from harness.cli import main
from harness.contracts import PACT_DIR, InteractionResult, Mismatch, record
from harness.matrix import Matrix, pact_hash, record_after_verify
from harness.report import RunReport

H1, H2 = "a" * 64, "b" * 64


def _matrix(tmp_path: Path) -> Matrix:
    """candybar 1 and 2 publish the same pact (H1) to candystore; candybar 3 a changed one (H2)."""
    m = Matrix(tmp_path / "pact-matrix.json")
    m.publish("candybar", "1", "candystore", H1, when=1)
    m.publish("candybar", "2", "candystore", H1, when=2)
    m.publish("candybar", "3", "candystore", H2, when=3)
    m.verify("candystore", "A", "candybar", H1, True, when=4)
    m.verify("candystore", "B", "candybar", H1, False, when=5, failed=["a request for one event by id"])
    return m


def test_yes_after_a_green_verification_with_the_rows_relied_on(tmp_path: Path) -> None:
    m = _matrix(tmp_path)
    m.deploy("candystore", "A", "staging", when=10)
    decision = m.can_i_deploy("candybar", "1", to="staging")
    assert decision.ok, decision.reasons
    assert [
        (r["consumer_version"], r["provider_version"], r["pact_hash"], r["success"]) for r in decision.rows
    ] == [("1", "A", H1, True)]


def test_a_verification_attaches_to_the_pact_content_not_the_consumer_version(tmp_path: Path) -> None:
    m = _matrix(tmp_path)
    m.deploy("candystore", "A", "staging", when=10)
    # candybar 2 was never verified itself, but it published H1, which candystore A verified
    assert m.can_i_deploy("candybar", "2", to="staging").ok
    # candybar 3 changed the pact: nothing verified that content
    decision = m.can_i_deploy("candybar", "3", to="staging")
    assert not decision.ok and decision.reasons[0].startswith(
        "missing: no verification of the pact candybar 3"
    )


def test_provider_is_checked_against_each_consumers_latest_pact(tmp_path: Path) -> None:
    m = _matrix(tmp_path)
    decision = m.can_i_deploy("candystore", "A")  # candybar's latest pact is H2: never verified by A
    assert not decision.ok
    assert decision.reasons == [
        "missing: no verification of the pact candybar 3 → candystore A (pact bbbbbbbbbbbb)"
    ]
    m.verify("candystore", "A", "candybar", H2, True, when=6)
    assert m.can_i_deploy("candystore", "A").ok


def test_no_after_a_failing_verification_naming_what_failed(tmp_path: Path) -> None:
    m = _matrix(tmp_path)
    m.deploy("candystore", "B", "production", when=10)
    decision = m.can_i_deploy("candybar", "1", to="production")
    assert not decision.ok
    assert decision.reasons == [
        "failed: candybar 1 → candystore B (pact aaaaaaaaaaaa): a request for one event by id"
    ]
    assert decision.rows[0]["success"] is False and decision.rows[0]["provider_version"] == "B"
    assert not m.can_i_deploy("candybar", "1").ok  # without --to: the latest verification of H1 (B's)


def test_to_an_environment_uses_what_is_deployed_there(tmp_path: Path) -> None:
    m = _matrix(tmp_path)
    decision = m.can_i_deploy("candybar", "1", to="staging")
    assert not decision.ok and decision.reasons == [
        "missing: no version of candystore is deployed to staging"
    ]
    m.deploy("candystore", "A", "staging", when=10)
    assert m.can_i_deploy("candybar", "1", to="staging").ok
    # a provider with no consumer in the environment breaks nothing there
    decision = m.can_i_deploy("candystore", "B", to="staging")
    assert decision.ok and "nothing of it to break" in decision.notes[0]
    m.deploy("candybar", "1", "staging", when=11)
    assert not m.can_i_deploy("candystore", "B", to="staging").ok  # B failed candybar 1's pact (H1)
    assert m.can_i_deploy("candystore", "A", to="staging").ok


def test_no_for_an_unknown_version_or_pacticipant(tmp_path: Path) -> None:
    m = _matrix(tmp_path)
    decision = m.can_i_deploy("candystore", "Z")
    assert not decision.ok and not decision.rows
    assert "candystore version Z is unknown" in decision.reasons[0] and "A, B" in decision.reasons[0]
    assert "not a pacticipant" in m.can_i_deploy("candystor", "A").reasons[0]


def test_pact_hash_ignores_metadata(tmp_path: Path) -> None:
    pact = json.loads((PACT_DIR / "candybar-candystore.json").read_text())
    copy = tmp_path / "p.json"
    copy.write_text(json.dumps({**pact, "metadata": {"pactRust": {"ffi": "9.9.9"}}}))
    assert pact_hash(copy) == pact_hash(PACT_DIR / "candybar-candystore.json")
    pact["interactions"] = pact["interactions"][1:]
    copy.write_text(json.dumps(pact))
    assert pact_hash(copy) != pact_hash(PACT_DIR / "candybar-candystore.json")


def _verified(ok: bool) -> RunReport:
    """A run report filled the way the provider suites fill it (``harness.contracts.record``)."""
    report = RunReport()
    broken = [] if ok else [Mismatch.of("$.event_id", "uuid", "missing", "")]
    record(
        report,
        [
            InteractionResult("a health check", "candystore", "candybar", True),
            InteractionResult("a request for one event by id", "candystore", "candybar", ok, broken),
            InteractionResult("event github.pr.opened.v1", "bloodbank", "candystore", True),
            InteractionResult("OpenAPI GET /health", "candystore", "openapi", True),
        ],
    )
    return report


def test_verify_records_the_matrix_and_the_cli_answers(tmp_path: Path, capsys) -> None:
    reports = tmp_path / "reports"
    matrix = str(reports / "pact-matrix.json")
    lines = record_after_verify(
        _verified(True).contracts, reports, consumer_version="c1", provider_version="p1"
    )
    assert "candystore p1 verified candybar c1" in lines[0]
    assert main(["can-i-deploy", "--pacticipant", "candystore", "--version", "p1", "--matrix", matrix]) == 0
    out = capsys.readouterr().out
    assert (
        "can-i-deploy: yes, candystore p1" in out
        and pact_hash(PACT_DIR / "candybar-candystore.json")[:12] in out
    )

    record_after_verify(_verified(False).contracts, reports, consumer_version="c1", provider_version="p2")
    assert main(["can-i-deploy", "--pacticipant", "candystore", "--version", "p2", "--matrix", matrix]) == 1
    out = capsys.readouterr().out
    assert "can-i-deploy: no" in out and "a request for one event by id" in out and "FAILED" in out
    assert main(["can-i-deploy", "--pacticipant", "candystore", "--version", "p3", "--matrix", matrix]) == 1
    assert "unknown to the matrix" in capsys.readouterr().out

    deploy = ["record-deployment", "--pacticipant", "candystore", "--matrix", matrix]
    assert main([*deploy, "--version", "p1", "--environment", "production"]) == 0
    assert (
        main(
            [
                "can-i-deploy",
                "--pacticipant",
                "candybar",
                "--version",
                "c1",
                "--to",
                "production",
                "--matrix",
                matrix,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main([*deploy, "--version", "nope", "--environment", "production"]) == 1
    assert "unknown to the matrix" in capsys.readouterr().err
    rows = json.loads(Path(matrix).read_text())
    assert {(p["consumer"], p["provider"]) for p in rows["pacts"]} == {
        ("candybar", "candystore"),
        ("candystore", "bloodbank"),
    }  # the OpenAPI rows are not pacts


def test_versions_default_to_the_git_commit(tmp_path: Path) -> None:
    commit = subprocess.run(
        ["git", "-C", str(suites_root()), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not commit:
        pytest.skip("not a git checkout")
    record_after_verify(_verified(True).contracts, tmp_path)
    rows = json.loads((tmp_path / "pact-matrix.json").read_text())
    assert {v["provider_version"].split("+")[0] for v in rows["verifications"]} == {commit}


def test_no_matrix_is_a_no_naming_the_fix(tmp_path: Path, capsys) -> None:
    code = main(
        ["can-i-deploy", "--pacticipant", "x", "--version", "1", "--matrix", str(tmp_path / "m.json")]
    )
    assert code == 1 and "run harness verify" in capsys.readouterr().err
