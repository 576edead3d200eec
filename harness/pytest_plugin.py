"""pytest plugin of the harness (registered through the ``pytest11`` entry point): options, markers, hooks.

The fixtures live in :mod:`harness.fixtures` and are re-exported here so that pytest finds them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from harness.config import OPTIONS, Settings
from harness.fixtures import *  # noqa: F403 - fixtures must be in the plugin's namespace
from harness.fixtures import SETTINGS_KEY
from harness.profile import ProfileError

MARKERS = {
    "contract": "Pact / OpenAPI contract verification (black-box)",
    "e2e": "end-to-end through Bloodbank, the broker and Candystore (black-box)",
    "dlq": "dead-letter capture (black-box)",
    "correlation": "causation chains and trace queries (black-box)",
    "fault": "fault injection: needs a backend that owns the servers",
    "security": "signatures, API keys, rate limits, hostile input (black-box)",
    "fuzz": "property-based envelope fuzzing (deterministic in CI)",
    "internal": "needs internals (kill a process, read a private table): skipped against external targets",
    "integration": "needs real RabbitMQ and/or PostgreSQL",
    "finding": "finding(title): the title of the finding when this check fails (a row of a table-driven "
    "check names its own defect)",
    "needs": "needs(capability, ...): what the check needs of the target (see harness.triage); when a "
    "capability is missing the check is reported as blocked by that finding",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "33GOD event harness")
    for name, (var, help_text) in OPTIONS.items():
        group.addoption(
            f"--{name.replace('_', '-')}",
            dest=f"harness_{name}",
            default=None,
            help=f"{help_text} [env {var}]",
        )
    group.addoption(
        "--fuzz-profile",
        dest="harness_fuzz_profile",
        default=os.environ.get("HARNESS_FUZZ_PROFILE", "ci"),
        choices=("ci", "deep"),
        help="ci: deterministic and bounded (default); deep: >= 10,000 examples",
    )
    group.addoption(
        "--load-tests",
        dest="harness_load_tests",
        default=os.environ.get("HARNESS_LOAD_TESTS", "smoke"),
        choices=("smoke", "full"),
        help="smoke: one short load run (default); full: also a --workers 2 run and a fault under load",
    )


class SettingsHandOver:
    """pytest plugin that gives a session the caller's resolved :class:`Settings` (no argv round trip)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[SETTINGS_KEY] = self.settings


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(BlockCounter(config), "harness-block-counter")
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if SETTINGS_KEY not in config.stash:  # `harness verify` hands its Settings over as one object
        given = {name: config.getoption(f"harness_{name}") for name in OPTIONS}
        try:
            config.stash[SETTINGS_KEY] = Settings.resolve(given)
        except ProfileError as exc:
            raise pytest.UsageError(str(exc)) from None
    # SIGTERM becomes an interrupt, so session fixtures (servers, databases) are torn down as on Ctrl-C.
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings: Settings = config.stash[SETTINGS_KEY]
    if settings.external_services or settings.backend == "external":
        why = "needs internals of the services/servers; the target is external"
        if settings.external_services:
            bb, cs = settings.bloodbank_url or "reference", settings.candystore_url or "reference"
            why += f" (bloodbank={bb}, candystore={cs})"
        else:
            why += " (external backend)"
        skip = pytest.mark.skip(reason=why)
        for item in items:
            if "internal" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _harness_triage(request: pytest.FixtureRequest) -> Iterator[None]:
    """Blocks a check whose needed capability is missing (one root finding, see :mod:`harness.triage`);
    after it, checks that the services it used still answer (:mod:`harness.watchdog`)."""
    from harness.triage import needs_of, require
    from harness.watchdog import SERVICE_CAPABILITY

    needs = needs_of(request.node)
    if needs:
        require(request, *needs)
    used = [service for service, capability in SERVICE_CAPABILITY.items() if capability in needs]
    watchdog = request.getfixturevalue("harness_watchdog") if used else None
    yield
    if watchdog is not None:
        watchdog.between_checks(used)


class BlockCounter:
    """Counts, on each root finding of its session's report, the checks it blocked."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from harness.report import REPORT_KEY, is_blocked, skip_reason
        from harness.triage import BLOCKED

        run = self.config.stash.get(REPORT_KEY, None)
        if run is None or not (report.skipped and is_blocked(report)):
            return
        title = skip_reason(report).split(BLOCKED, 1)[1]
        for finding in run.findings:
            if finding.get("root") and finding["title"] == title:
                finding["blocks"] = finding.get("blocks", 0) + 1
                return


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A missing capability of severity "error" fails the run, though the checks it blocked were skipped."""
    from harness.report import REPORT_KEY

    report = session.config.stash.get(REPORT_KEY, None)
    if report is None:
        return
    roots = [f for f in report.findings if f.get("root") and f["severity"] == "error"]
    if roots and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: pytest.Config) -> None:
    from harness.report import REPORT_KEY

    report = config.stash.get(REPORT_KEY, None)
    roots = [f for f in report.findings if f.get("root")] if report is not None else []
    if not roots:
        return
    write = terminalreporter.write_line  # type: ignore[attr-defined]
    terminalreporter.section("harness: root causes (checks blocked by each)")  # type: ignore[attr-defined]
    for finding in roots:
        write(f"{finding['severity'].upper()}: {finding['title']} (blocks {finding.get('blocks', 0)})")
        for line in finding["detail"].splitlines()[:4]:
            write(f"    {line}")
