"""The live broker has the topology of SPEC §2 (``harness topology check``)."""

from __future__ import annotations

import os

import pytest

from harness.backends import Backend
from harness.topology import check_topology
from holyfields.topology import Topology

pytestmark = [pytest.mark.dlq, pytest.mark.needs("dlq")]


def test_the_broker_has_the_expected_topology(
    amqp_url: str, topology: Topology, candystore_url: str, backend: Backend
) -> None:
    """Broker topology differs from SPEC §2 (a queue without dead-letter arguments loses the DLQ guarantee)"""
    # candystore_url: the Candystore under test is up, so it has declared its queue. The management API is
    # used when given (HARNESS_MANAGEMENT_URL) or when the local backend enabled it; else AMQP alone.
    management = os.environ.get("HARNESS_MANAGEMENT_URL") or backend.management_url or None
    report = check_topology(amqp_url, topology, management)
    problems = [f.line().strip() for f in report.findings if f.status in ("missing", "differs")]
    assert not problems, "; ".join(problems)
