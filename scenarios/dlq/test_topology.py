"""The live broker has the topology of SPEC §2, checked over AMQP alone (``harness topology check``)."""

from __future__ import annotations

import pytest

from harness.topology import check_topology
from holyfields.topology import Topology

pytestmark = [pytest.mark.dlq, pytest.mark.needs("dlq")]


def test_the_broker_has_the_expected_topology(amqp_url: str, topology: Topology, candystore_url: str) -> None:
    """Broker topology differs from SPEC §2 (a queue without dead-letter arguments loses the DLQ guarantee)"""
    # candystore_url: the Candystore under test is up, so it has declared its queue
    report = check_topology(amqp_url, topology)
    problems = [f.line().strip() for f in report.findings if f.status in ("missing", "differs")]
    assert not problems, "; ".join(problems)
