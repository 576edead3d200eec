"""``python -m reference_impl.candystore``: run the service (uvicorn; the consumer shares its event loop).

``--export-openapi [PATH]`` writes the OpenAPI document instead (default: the committed contract file).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from reference_impl._contract import openapi_file

CONTRACT = openapi_file("candystore.openapi.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.candystore", description=__doc__)
    parser.add_argument(
        "--export-openapi",
        nargs="?",
        const=str(CONTRACT),
        metavar="PATH",
        help=f"write the OpenAPI document to PATH ('-' = stdout; default {CONTRACT}) and exit",
    )
    args = parser.parse_args(argv)

    from reference_impl.candystore.api import create_app, export_openapi
    from reference_impl.candystore.config import ConfigError, Settings

    if args.export_openapi:
        text = export_openapi()
        if args.export_openapi == "-":
            sys.stdout.write(text)
        else:
            target = Path(args.export_openapi)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
        return 0

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"candystore: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    import uvicorn

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
        ws="websockets-sansio",
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
