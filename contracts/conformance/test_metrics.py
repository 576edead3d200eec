"""The metrics contract, black-box: each service's ``/metrics`` (the profile's route, a full URL allowed)
exposes the names, types and label sets of SPEC §3/§4 that the SLO rules (contracts/prometheus/rules.yml)
and the dashboards read.

Each missing or mistyped metric is named in the failure and in the contract matrix (consumer
``prometheus-rules``); a metric SPEC does not require is a warning finding. A target whose profile declares no
metrics route gets one warning ("not offered") instead of a failure.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import pytest

from harness.contracts import InteractionResult, Mismatch, record
from harness.metrics_contract import check_exposition, needs_of
from harness.report import TargetWarning

pytestmark = pytest.mark.contract

CONSUMER = "prometheus-rules"


def _scrape(client: Any, component: str) -> str:
    route = client.surface.metrics
    if not route.present:
        warnings.warn(
            TargetWarning(
                f"{component}: no metrics route (not offered)",
                f"the profile declares [{component}] metrics = ''; the SLO rules and dashboards cannot read "
                f"{component} (set metrics = 'GET /metrics' or a full URL when it serves them)",
            ),
            stacklevel=2,
        )
        pytest.skip(f"{component} offers no metrics route (profile)")
    try:
        response = client.http.request(route.method, route.path)
    except httpx.TransportError as exc:
        pytest.fail(f"{component} {route}: no answer ({exc!r})", pytrace=False)
    if response.status_code != 200:
        pytest.fail(
            f"{component} {route}: answered {response.status_code}, expected 200 with the Prometheus text "
            "exposition (give the profile's metrics route when it lives elsewhere)",
            pytrace=False,
        )
    return response.text


@pytest.mark.parametrize("component", ["bloodbank", "candystore"])
def test_metrics_expose_what_the_slo_rules_read(component: str, request: pytest.FixtureRequest) -> None:
    """/metrics has every metric the SLO rules and dashboards need, with its type and labels"""
    client = request.getfixturevalue(component)
    run_report = request.getfixturevalue("run_report")
    text = _scrape(client, component)
    problems, _notes = check_exposition(text, needs_of(component))
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        if problem.severity == "warning":
            warnings.warn(
                TargetWarning(
                    f"{component}: {problem.metric} {problem.actual}",
                    f"{problem.line()}; contracts/prometheus/rules.yml reads it (not in SPEC §3/§4)",
                ),
                stacklevel=1,
            )
    route = client.surface.metrics
    record(
        run_report,
        [
            InteractionResult(
                f"{route}: metrics the SLO rules read",
                component,
                CONSUMER,
                not errors,
                [Mismatch.of(p.metric, p.expected, p.actual) for p in errors],
            )
        ],
    )
    assert not errors, f"{component} {route}: " + "; ".join(p.line() for p in errors)
