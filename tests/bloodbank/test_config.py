"""Configuration from the environment: defaults, parsing, errors that name the variable, README in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from holyfields.topology import Topology
from reference_impl.bloodbank.config import ENV_DEFAULTS, BloodbankConfig, ConfigError, RetryConfig, describe

README = Path(__file__).resolve().parents[2] / "reference_impl" / "bloodbank" / "README.md"


def test_defaults_follow_the_spec() -> None:
    config = BloodbankConfig.from_env({})
    assert config.port == 8682
    assert config.topology == Topology()
    assert config.retry.delays() == [1.0, 2.0, 4.0]
    assert config.signer is None and config.api_keys == () and config.rate_limit == 0
    assert config.max_batch_items == 1000


def test_reads_the_variables_the_harness_sets() -> None:
    env = {
        "BLOODBANK_AMQP_URL": "amqp://u:p@127.0.0.1:5999/",
        "BLOODBANK_HOST": "127.0.0.1",
        "BLOODBANK_PORT": "9001",
        **Topology().prefixed("x.").env(),
    }
    config = BloodbankConfig.from_env(env)
    assert (config.amqp_url, config.port) == ("amqp://u:p@127.0.0.1:5999/", 9001)
    assert config.topology.exchange == "x.bloodbank.events.v1"
    assert config.topology.dlq == "x.dlq.all"


def test_reads_signing_keys_api_keys_rate_limit_and_retry() -> None:
    config = BloodbankConfig.from_env(
        {
            "BLOODBANK_SIGNING_KEYS": "k1:a, k2:b",
            "BLOODBANK_SIGNING_KEY_ID": "k2",
            "BLOODBANK_API_KEYS": "one, two",
            "BLOODBANK_RATE_LIMIT": "2.5",
            "BLOODBANK_PUBLISH_RETRIES": "4",
            "BLOODBANK_RETRY_BASE_DELAY": "0.5",
            "BLOODBANK_RETRY_MAX_DELAY": "2",
        }
    )
    assert config.signer is not None and config.signer.active_key_id == "k2"
    assert set(config.signer.keys) == {"k1", "k2"}
    assert config.api_keys == ("one", "two")
    assert config.effective_burst == 3
    assert config.retry == RetryConfig(4, 0.5, 2.0)
    assert config.retry.delays() == [0.5, 1.0, 2.0, 2.0]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BLOODBANK_PORT": "http"}, "BLOODBANK_PORT='http' is not an integer"),
        ({"BLOODBANK_PORT": "70000"}, "BLOODBANK_PORT='70000' must be between 0 and 65535"),
        ({"BLOODBANK_PUBLISH_RETRIES": "-1"}, "BLOODBANK_PUBLISH_RETRIES='-1' must be >= 0"),
        ({"BLOODBANK_CONFIRM_TIMEOUT": "0"}, "BLOODBANK_CONFIRM_TIMEOUT='0' must be > 0"),
        ({"BLOODBANK_RETRY_BASE_DELAY": "soon"}, "BLOODBANK_RETRY_BASE_DELAY='soon' is not a number"),
        ({"BLOODBANK_SIGNING_KEYS": "nocolon"}, "BLOODBANK_SIGNING_KEYS .*not of the form id:secret"),
        ({"BLOODBANK_SIGNING_KEY_ID": "k1"}, "BLOODBANK_SIGNING_KEYS is empty"),
        ({"BLOODBANK_SOURCE_TYPE": "robot"}, "BLOODBANK_SOURCE_TYPE='robot': choose one of manual"),
        ({"BLOODBANK_ACCESS_LOG": "maybe"}, "BLOODBANK_ACCESS_LOG='maybe': use true or false"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BloodbankConfig.from_env(env)


def test_describe_hides_secrets() -> None:
    config = BloodbankConfig.from_env(
        {"BLOODBANK_AMQP_URL": "amqp://user:hunter2@h:1/", "BLOODBANK_SIGNING_KEYS": "k1:topsecret"}
    )
    text = str(describe(config))
    assert "hunter2" not in text and "topsecret" not in text and "user:***@h:1" in text


def test_readme_documents_every_variable_with_its_default() -> None:
    text = README.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| `([^`]*)`", text, flags=re.M))
    for name, default in ENV_DEFAULTS.items():
        assert name in rows, f"README.md does not document {name}"
        if default:
            assert rows[name] == default, (
                f"README.md gives {name} the default {rows[name]!r}, code {default!r}"
            )
    for name in ("HARNESS_EXCHANGE", "HARNESS_DLX", "HARNESS_DLQ"):
        assert name in rows, f"README.md does not document {name}"
