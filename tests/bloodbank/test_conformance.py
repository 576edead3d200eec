"""The running service answers what its committed OpenAPI document says (schemathesis, deterministic).

Positive cases must be accepted (a sink queue makes every event routable); negative cases must be rejected
with a documented 4xx; every response must match its documented schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, NegativeDataRejectionConfig

from harness.backends import Backend, free_port, run_id
from harness.janitor import delete_topology
from harness.services import ServiceProcess, service_env
from holyfields.topology import Topology
from reference_impl.bloodbank.openapi import OPENAPI_PATH

from .helpers import open_connection

pytestmark = [pytest.mark.integration, pytest.mark.contract]

SCHEMA = schemathesis.openapi.from_dict(json.loads(OPENAPI_PATH.read_text(encoding="utf-8")))
# 413 is Bloodbank's documented answer to a batch over its item limit (schema: maxItems): a rejection too
SCHEMA.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
    expected_statuses=[*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
#: operations with a body to get wrong (a free-form string path parameter cannot be invalid)
WITH_INPUT = [op for op in OPERATIONS if op.method.upper() == "POST"]


@pytest.fixture(scope="module")
def service(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One Bloodbank process on its own topology, with a capped sink queue that makes every event routable."""
    topology = Topology().prefixed(f"conformance-{run_id()}.")
    connection = open_connection(backend.amqp_url)
    channel = connection.channel()
    channel.exchange_declare(topology.exchange, "topic", durable=True)
    sink = channel.queue_declare("", exclusive=True, arguments={"x-max-length": 1000}).method.queue
    channel.queue_bind(sink, topology.exchange, "#")
    port = free_port()
    process = ServiceProcess(
        name="bloodbank",
        env=service_env("bloodbank", backend, port),
        port=port,
        log=tmp_path_factory.mktemp("conformance") / "bloodbank.log",
        extra_env={**topology.env(), "BLOODBANK_PUBLISH_RETRIES": "0"},
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()
        connection.close()
        delete_topology(backend.amqp_url, topology, strict=False)


def _run(operation: Any, mode: str, base_url: str, examples: int) -> None:
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def check(case: Any) -> None:
        case.call_and_validate(base_url=base_url)

    check()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_valid_requests_get_documented_answers(operation: Any, service: ServiceProcess) -> None:
    _run(operation, "positive", service.url, examples=25)


@pytest.mark.parametrize("operation", WITH_INPUT, ids=lambda op: op.label)
def test_invalid_requests_are_rejected_as_documented(operation: Any, service: ServiceProcess) -> None:
    _run(operation, "negative", service.url, examples=25)
