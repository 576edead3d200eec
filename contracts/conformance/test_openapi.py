"""Both services against their COMMITTED OpenAPI documents, over real HTTP (so any implementation can be
checked): schemathesis generates requests per operation (examples, coverage of boundaries and negative data,
a few fuzzed cases), deterministic and bounded, and checks every answer.

Each operation is a test and a row of the contract matrix; a failure names the check, the request and the
status, e.g. ``GET /events/{event_id}: not_a_server_error: 500``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, NegativeDataRejectionConfig
from schemathesis.core.failures import FailureGroup

from harness.config import Settings
from harness.contracts import InteractionResult, Mismatch, record

pytestmark = pytest.mark.contract

OPENAPI_DIR = Path(__file__).resolve().parents[1] / "openapi"
MAX_EXAMPLES = 5

#: the claims each answer is checked against (named as in schemathesis)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]

#: failure class -> what the contract expected instead
EXPECTED = {
    "ServerError": "no 5xx (a 4xx for a client error)",
    "UndefinedStatusCode": "a status code the OpenAPI documents",
    "UndefinedContentType": "a Content-Type the OpenAPI documents",
    "MissingContentType": "a Content-Type header",
    "MalformedMediaType": "a valid Content-Type",
    "JsonSchemaError": "a body matching the documented schema",
    "AcceptedNegativeData": "a 4xx for schema-violating input",
    "MalformedJson": "a JSON body",
}

_SCHEMA_AT = re.compile(r"Schema at (\S+)")
_BODY_FIELD = re.compile(r"in body - (\w+):")

HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)


def load(name: str) -> Any:
    """The committed OpenAPI document of ``name`` as a deterministic, bounded schemathesis schema."""
    schema = schemathesis.openapi.from_path(OPENAPI_DIR / f"{name}.openapi.json")
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, no_shrink=True)
    # 413 is Bloodbank's documented answer to a batch over its item limit (schema: maxItems)
    schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
        expected_statuses=[*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
    )
    return schema


candystore_schema = load("candystore")
bloodbank_schema = load("bloodbank")


class OperationRow:
    """Failures of one operation for the contract matrix: one per kind of failure (and schema location)."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.label = ""
        self.found: dict[tuple[str, str], Mismatch] = {}

    def check(self, case: Any, base_url: str, headers: dict[str, str] | None = None) -> None:
        """Send ``case`` and check the answer; AssertionError naming every broken check."""
        self.label = case.operation.label
        response = case.call(base_url=base_url, headers=headers, timeout=15)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            new = [self._mismatch(case, response, failure) for failure in group.exceptions]
            first = new[0]
            lines = [
                f"{self.provider} {self.label}: {len(new)} broken check(s), e.g. expected {first.expected}, "
                f"actual {first.actual[:80]}"
            ]
            lines += [f"  {m.line()}" for m in new]
            raise AssertionError("\n".join(lines)) from None

    def _mismatch(self, case: Any, response: Any, failure: Any) -> Mismatch:
        kind = type(failure).__name__
        text = " ".join(str(failure.message).split())
        where = _SCHEMA_AT.search(text)
        location = where.group(1).rstrip(":") if where else ""
        if "Invalid component:" in text:  # negative data: say which part of the request was invalid
            first = "accepted; invalid " + text.split("Invalid component:", 1)[1].strip()
            field = _BODY_FIELD.search(first)
            if field and isinstance(case.body, dict) and field.group(1) in case.body:
                first += f" (sent {field.group(1)}={json.dumps(case.body[field.group(1)])[:40]})"
        else:
            first = text.split(" Validated against", 1)[0]
        first = first[:140]
        mismatch = Mismatch.of(
            f"{self.label} {location}".strip(),
            EXPECTED.get(kind, failure.title),
            f"{response.status_code}: {first}" if first else str(response.status_code),
            f"{failure.title}; request {case.method} {case.formatted_path}"[:200],
        )
        key = (kind, location)
        self.found.setdefault(key, mismatch)
        return mismatch

    def result(self) -> InteractionResult:
        mismatches = list(self.found.values())
        return InteractionResult(
            f"OpenAPI {self.label}", self.provider, "openapi", not mismatches, mismatches
        )


def _operation_row(provider: str, run_report: Any) -> Iterator[OperationRow]:
    row = OperationRow(provider)
    yield row
    if row.label:
        record(run_report, [row.result()])


@pytest.fixture
def candystore_row(run_report: Any) -> Iterator[OperationRow]:
    yield from _operation_row("candystore", run_report)


@pytest.fixture
def bloodbank_row(run_report: Any) -> Iterator[OperationRow]:
    yield from _operation_row("bloodbank", run_report)


@candystore_schema.parametrize()
@HYPOTHESIS
def test_candystore_conforms_to_its_openapi(
    case: Any, candystore_url: str, candystore_row: OperationRow
) -> None:
    """Candystore answers as its committed OpenAPI document says"""
    candystore_row.check(case, candystore_url)


@bloodbank_schema.parametrize()
@HYPOTHESIS
def test_bloodbank_conforms_to_its_openapi(
    case: Any, bloodbank_url: str, harness_settings: Settings, bloodbank_row: OperationRow
) -> None:
    """Bloodbank answers as its committed OpenAPI document says"""
    key = harness_settings.api_key
    bloodbank_row.check(case, bloodbank_url, {"X-API-Key": key} if key else None)
