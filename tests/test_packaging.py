"""The wheel as a team would use it: built from this checkout, installed (not editable) into a fresh venv in
another folder, then ``harness verify`` and the pytest plugin run from a folder that is not the checkout.

Slow-ish (builds a wheel, starts the embedded stack twice): marked ``integration``.
The venv gets the wheel with ``--no-deps``; the project's already installed dependencies come from a
``.pth`` line naming this venv's site-packages (a plain path: the editable finder of the checkout that lives
there is not activated, so the checkout's own source tree stays invisible).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
#: what must never be a top-level module of site-packages
GENERIC = ("contracts", "load", "scenarios", "tests", "fixtures")
#: left out of the copy the wheel is built from (nothing the build reads)
NOT_SOURCES = (
    ".git",
    ".venv",
    "build",
    "dist",
    "reports",
    "*.egg-info",
    "__pycache__",
    ".hypothesis",
    "node_modules",
)


class Installed:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.python = root / "venv" / "bin" / "python"
        self.site_packages = root / "venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        self.site_packages = self.site_packages / "site-packages"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_") and k != "PYTHONPATH"}
        self.env["PACT_DO_NOT_TRACK"] = "true"

    def run(self, argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    dist = root / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, source],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wheels = sorted(dist.glob("harness33god-*.whl"))
    assert build.returncode == 0 and len(wheels) == 1, f"pip wheel failed:\n{build.stderr[-3000:]}"

    target = Installed(root)
    venv.create(root / "venv", with_pip=False)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", target.python, "install", "--no-deps", "-q", wheels[0]],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, f"pip install of the wheel failed:\n{install.stderr[-3000:]}"
    # after the wheel: the dependencies of this venv, appended to sys.path behind the wheel's packages
    deps = sysconfig.get_paths()["purelib"]
    (target.site_packages / "zz-project-dependencies.pth").write_text(deps + "\n", encoding="utf-8")
    return target


def test_wheel_installs_only_its_own_packages_and_finds_its_data(installed: Installed) -> None:
    top = sorted(p.name for p in installed.site_packages.iterdir() if not p.name.endswith((".pth", "-info")))
    assert not [name for name in top if name.removesuffix(".py") in GENERIC], top
    assert {"harness", "holyfields", "reference_impl"} <= set(top), top
    probe = installed.run(
        [
            str(installed.python),
            "-c",
            "import importlib.util as u, json, harness, holyfields, harness.corpus as c,"
            " harness.contracts._pactfile as p, reference_impl.bloodbank.openapi as o,"
            " holyfields.asyncapi as a;"
            f" assert not [m for m in {GENERIC!r} if u.find_spec(m)], 'generic module importable';"
            " print(json.dumps([harness.__file__, str(holyfields.SCHEMA_DIR), str(c.FIXTURE_DIR),"
            " str(p.PACT_DIR), str(o.OPENAPI_PATH), str(a.ASYNCAPI_FILE), str(a.ASYNCAPI_JSON_SCHEMA),"
            " len(holyfields.registry().event_types)]))",
        ],
        cwd=installed.root,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    *paths, event_types = json.loads(probe.stdout)
    for path in paths:
        assert Path(path).is_relative_to(installed.site_packages), f"{path} is not the installed copy"
        assert Path(path).exists(), f"{path} is missing from the wheel"
    assert event_types > 0


def test_harness_verify_contracts_runs_from_the_installed_wheel(installed: Installed, tmp_path: Path) -> None:
    harness = installed.python.parent / "harness"
    assert harness.is_file(), "the wheel installs no `harness` command"
    # Left out to stay near a minute, and neither asks a packaging question of its own: the misalignment
    # check (a second, nested verify: ~90 s) and the schemathesis conformance runs (~70 s). What runs: the
    # Pact consumers and providers (pact files, schemas, corpus from the wheel) and the contract tools.
    proc = installed.run(
        [
            str(harness),
            "verify",
            "--suite",
            "contracts",
            "--no-coverage",
            "--no-screenshot",
            "--no-allure",
            "--",
            "-k",
            "not misaligned and not conforms",
        ],
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["suites"]["contracts"]["passed"] > 0, summary["suites"]
    assert summary["suites"]["contracts"]["failed"] == 0, summary["findings"]


def test_team_test_file_uses_the_plugin_fixtures(installed: Installed, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_team="""
import harness


def test_publish_and_read_back(bloodbank, candystore, envelope_factory):
    envelope = envelope_factory()
    response = bloodbank.publish(envelope)
    assert response.status_code == 202, response.text
    stored = candystore.wait_stored(envelope["event_id"])
    assert stored["event_id"] == envelope["event_id"]
    assert stored["payload"] == envelope["payload"]
    print("HARNESS_FROM", harness.__file__)
"""
    )
    proc = installed.run(
        [str(installed.python), "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_team.py"],
        cwd=pytester.path,
        timeout=300,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert "1 passed" in proc.stdout, proc.stdout[-2000:]
    origin = re.search(r"HARNESS_FROM (\S+)", proc.stdout)
    assert origin and Path(origin[1]).is_relative_to(installed.site_packages), proc.stdout[-2000:]
