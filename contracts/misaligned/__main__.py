"""``python -m contracts.misaligned {candystore|bloodbank} --upstream URL --port N``"""

from __future__ import annotations

import argparse

import uvicorn

from contracts.misaligned.proxy import bloodbank_app, candystore_app

APPS = {"candystore": candystore_app, "bloodbank": bloodbank_app}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m contracts.misaligned", description=__doc__)
    parser.add_argument("service", choices=sorted(APPS))
    parser.add_argument("--upstream", required=True, help="base URL of the real service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(APPS[args.service](args.upstream), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
