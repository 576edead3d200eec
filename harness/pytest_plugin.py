"""pytest plugin of the harness (registered through the ``pytest11`` entry point): options, markers, hooks.

The fixtures live in :mod:`harness.fixtures` and are re-exported here so that pytest finds them.
"""

from __future__ import annotations

import os
import signal

import pytest

from harness.config import OPTIONS, Settings
from harness.fixtures import *  # noqa: F403 - fixtures must be in the plugin's namespace
from harness.fixtures import SETTINGS_KEY

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


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    given = {name: config.getoption(f"harness_{name}") for name in OPTIONS}
    config.stash[SETTINGS_KEY] = Settings.resolve(given)
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
