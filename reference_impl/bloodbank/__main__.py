"""``python -m reference_impl.bloodbank``: run the service (uvicorn), or export / check its OpenAPI."""

from __future__ import annotations

import argparse
import logging
import sys

from reference_impl.bloodbank.config import BloodbankConfig, ConfigError, describe
from reference_impl.bloodbank.openapi import EXPORT_COMMAND, OPENAPI_PATH, export_openapi, render_openapi


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_impl.bloodbank",
        description="Bloodbank reference service, configured by BLOODBANK_* / HARNESS_* vars (README.md)",
    )
    parser.add_argument(
        "--export-openapi",
        nargs="?",
        const=str(OPENAPI_PATH),
        metavar="PATH",
        help=f"write the OpenAPI document (default {OPENAPI_PATH}) and exit",
    )
    parser.add_argument(
        "--check-openapi", action="store_true", help="exit 1 when the committed document is stale"
    )
    args = parser.parse_args(argv)

    if args.export_openapi:
        print(f"wrote {export_openapi(args.export_openapi)}")
        return 0
    if args.check_openapi:
        current = OPENAPI_PATH.read_text(encoding="utf-8") if OPENAPI_PATH.is_file() else ""
        if current != render_openapi():
            print(f"{OPENAPI_PATH} is stale: regenerate it with `{EXPORT_COMMAND}`", file=sys.stderr)
            return 1
        print(f"{OPENAPI_PATH} is up to date")
        return 0

    try:
        config = BloodbankConfig.from_env()
    except ConfigError as exc:
        print(f"bloodbank: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiormq logs every refused connection at ERROR; the publisher reports outages itself, with context
    logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)
    logging.getLogger("reference_impl.bloodbank").info("starting with %s", describe(config))

    import uvicorn

    from reference_impl.bloodbank.app import create_app

    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=config.access_log,
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
