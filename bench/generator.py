"""How close the load generator gets to wrk on the same endpoint, so a user knows when the generator, not the
service, is the limit.

    python -m bench.generator [--seconds 8] [--out bench/results/generator.json]

On one embedded stack (private servers + reference services, no API keys, no rate limit): ``wrk`` (Debian's
package) drives ``POST /events`` with one envelope over 16 connections for ``--seconds``; then the harness's
own load runner (locust, open model, HTTP single publishes only) is asked for 1.5 x wrk's rate on the same
endpoint and reports what it achieved. The ratio is the generator's ceiling relative to wrk on this machine.
Without wrk the result says so (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._common import machine, write_result  # noqa: E402
from harness._layout import suites_root  # noqa: E402
from harness.config import Settings  # noqa: E402
from harness.stack import Stack  # noqa: E402
from holyfields import make_envelope  # noqa: E402

CONNECTIONS = 16


def _wrk(url: str, seconds: float, work: Path) -> dict[str, Any]:
    binary = shutil.which("wrk")
    if binary is None:
        return {"available": False, "why": "wrk is not installed (apt-get install -y wrk)"}
    script = work / "post.lua"
    body = json.dumps(make_envelope("github.pr.opened.v1")).replace("\\", "\\\\").replace("'", "\\'")
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = '{body}'\nwrk.headers['Content-Type'] = 'application/json'\n"
    )
    run = subprocess.run(
        [binary, "-t2", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "-s", str(script), url + "/events"],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", run.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", run.stdout)
    if run.returncode != 0 or rate is None:
        raise RuntimeError(f"wrk failed: {run.stdout[-1500:]}{run.stderr[-1500:]}")
    return {
        "available": True,
        "requests_per_s": float(rate[1]),
        "non_2xx": int(non2xx[1]) if non2xx else 0,
        "connections": CONNECTIONS,
    }


def _generator(info: dict[str, Any], settings: Settings, rate: float, seconds: float, work: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(suites_root()), env.get("PYTHONPATH")]))
    env.update(settings.topology.env())
    reports = work / "load"
    argv = [
        sys.executable,
        "-m",
        "load.runner",
        f"--bloodbank-url={info['bloodbank_url']}",
        f"--candystore-url={info['candystore_url']}",
        f"--amqp-url={info['amqp_url']}",
        f"--rate={rate:g}",
        f"--duration={seconds:g}",
        "--mix=http=100",
        "--stream-watchers=0",
        f"--reports={reports}",
    ]
    subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 240, check=False)
    summary = json.loads((reports / "load" / "summary.json").read_text())
    return {
        "target_rate": summary["target_rate"],
        "achieved_rate": summary["achieved_rate"],
        "published": summary["published"],
    }


def run(seconds: float, out: Path) -> dict[str, Any]:
    settings = Settings(rate_limited=False)
    with tempfile.TemporaryDirectory(prefix="bench-generator-") as tmp, Stack(settings) as stack:
        info = stack.info()
        wrk = _wrk(info["bloodbank_url"], seconds, Path(tmp))
        rate = round(1.5 * wrk["requests_per_s"]) if wrk["available"] else 2000
        generator = _generator(info, settings, rate, seconds, Path(tmp))
    result: dict[str, Any] = {
        "benchmark": "load generator ceiling against wrk (POST /events of the reference Bloodbank)",
        "machine": machine(),
        "settings": {"seconds": seconds},
        "wrk": wrk,
        "generator": generator,
    }
    if wrk["available"]:
        result["generator_to_wrk"] = round(generator["achieved_rate"] / wrk["requests_per_s"], 3)
    write_result(out, result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measurement")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "generator.json")
    args = parser.parse_args(argv)
    result = run(args.seconds, args.out)
    wrk, generator = result["wrk"], result["generator"]
    if wrk["available"]:
        print(
            f"wrk {wrk['requests_per_s']:.0f} req/s; generator asked {generator['target_rate']:g}/s, "
            f"achieved {generator['achieved_rate']:g}/s: {result['generator_to_wrk']:.2f} x wrk"
        )
    else:
        print(f"{wrk['why']}; generator achieved {generator['achieved_rate']:g}/s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
