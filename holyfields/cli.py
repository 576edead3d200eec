"""``harness schemas generate|check|diff``.

    harness schemas generate [--out DIR] [--schemas DIR]  write Python + TypeScript types + Zod schemas
    harness schemas check    [--out DIR] [--schemas DIR]  exit 1 when the generated files drifted
    harness schemas diff OLD NEW [--json]                 classify a change: patch, minor or major

``--out`` defaults to ``contracts/generated``, ``--schemas`` to ``contracts/schemas``.

Exit codes of ``diff``: 0 when the change is none/patch/minor (compatible), 1 when it is major (breaking),
2 when the arguments cannot be compared (missing path, a file against a folder, unreadable JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from holyfields._codegen import GENERATED_DIR, REGENERATE_HINT, check, generate
from holyfields._diff import diff_paths
from holyfields._loader import SCHEMA_DIR

EXIT_OK, EXIT_MAJOR_OR_DRIFT, EXIT_USAGE = 0, 1, 2


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Fill the ``harness schemas`` parser with its ``generate``, ``check`` and ``diff`` actions."""
    actions = parser.add_subparsers(dest="schemas_action", required=True, metavar="{generate,check,diff}")
    for name, help_text in (
        ("generate", "write the pydantic v2 models, TypeScript types and Zod schemas of the schemas"),
        ("check", "exit 1 when the committed generated files differ from what `generate` would write"),
    ):
        child = actions.add_parser(name, help=help_text, description=help_text)
        child.add_argument(
            "--out", type=Path, default=GENERATED_DIR, help="output folder (default: %(default)s)"
        )
        child.add_argument(
            "--schemas", type=Path, default=SCHEMA_DIR, help="schema folder (default: %(default)s)"
        )
    diff = actions.add_parser(
        "diff",
        help="classify the change between two schema files or folders as patch, minor or major",
        description="Classify the change from OLD to NEW (two schema files, or two schema folders) per "
        "SPEC §1. Exit code 0: none/patch/minor (compatible); 1: major (breaking); 2: cannot compare.",
    )
    diff.add_argument("old", type=Path, help="the old schema file or folder")
    diff.add_argument("new", type=Path, help="the new schema file or folder")
    diff.add_argument("--json", action="store_true", help="print the result as one JSON document")


def run(args: argparse.Namespace) -> int:
    """Run the action chosen on the command line; return the exit code."""
    action = args.schemas_action
    try:
        if action == "generate":
            written = generate(args.out, args.schemas)
            for path in written:
                print(f"wrote {_display(path)}")
            print(f"generated types are up to date in {_display(args.out)} ({len(written)} file(s) changed)")
            return EXIT_OK
        if action == "check":
            drifts = check(args.out, args.schemas)
            for drift in drifts:
                print(drift.message(), file=sys.stderr)
                if drift.diff:
                    print(drift.diff, file=sys.stderr)
            if drifts:
                print(
                    f"{len(drifts)} generated file(s) drifted from the schemas: {REGENERATE_HINT}",
                    file=sys.stderr,
                )
                return EXIT_MAJOR_OR_DRIFT
            print(f"generated types in {_display(args.out)} match the schemas")
            return EXIT_OK
        result = diff_paths(args.old, args.new)
    except ValueError as exc:
        print(f"harness schemas {action}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(result.render())
    return EXIT_MAJOR_OR_DRIFT if result.bump == "major" else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """``python -m holyfields.cli ...`` (the same as ``harness schemas ...``)."""
    parser = argparse.ArgumentParser(
        prog="harness schemas", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
