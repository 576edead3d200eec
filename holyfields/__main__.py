"""``python -m holyfields [--check]``: write (or check) ``event_types.schema.json`` from the folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from holyfields._registry import EVENT_TYPES_FILE, SCHEMA_DIR, Registry, render_event_types_schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m holyfields", description=__doc__)
    parser.add_argument("--dir", default=str(SCHEMA_DIR), help="schema folder (default: %(default)s)")
    parser.add_argument(
        "--check", action="store_true", help="fail if the file is out of date instead of writing"
    )
    args = parser.parse_args(argv)
    reg = Registry.load(args.dir)
    target = Path(args.dir) / EVENT_TYPES_FILE
    text = render_event_types_schema(reg)
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is out of date: run python -m holyfields", file=sys.stderr)
            return 1
        print(f"{target} is up to date ({len(reg.event_types)} event types)")
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(reg.event_types)} event types)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
