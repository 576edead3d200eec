"""Options shared by the commands that operate a broker (``harness topology``, ``harness dlq``)."""

from __future__ import annotations

import argparse
import sys

from harness.config import Settings


def add_broker_options(parser: argparse.ArgumentParser) -> None:
    """``--amqp-url`` and ``--profile`` (whose ``[broker]`` table names the objects)."""
    parser.add_argument("--amqp-url", default=None, help="AMQP URL of the broker (env HARNESS_AMQP_URL)")
    parser.add_argument(
        "--profile", default=None, help="target profile (TOML) with the [broker] names (env HARNESS_PROFILE)"
    )


def broker_settings(args: argparse.Namespace, command: str) -> Settings | None:
    """The run settings (names from the profile, then ``HARNESS_*``); None, said why, without an AMQP URL."""
    settings = Settings.resolve({"amqp_url": args.amqp_url, "profile": args.profile})
    if not settings.amqp_url:
        print(
            f"harness {command}: give --amqp-url (or HARNESS_AMQP_URL), e.g. amqp://guest:guest@host:5672/%2F",
            file=sys.stderr,
        )
        return None
    return settings
