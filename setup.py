"""Build step of the wheel (see docs/adr/0010-packaging.md); the metadata lives in pyproject.toml.

The repository keeps its top-level folders; the wheel moves the ones with generic names into the packages:

    contracts/, scenarios/, load/, fixtures/envelopes/  ->  harness/_suites/...   (the suites, run by verify)
    contracts/schemas/, contracts/generated/            ->  holyfields/schemas/, holyfields/generated/
    contracts/asyncapi/                                 ->  holyfields/asyncapi/
    contracts/openapi/                                  ->  reference_impl/_openapi/

so that nothing named ``contracts``, ``load``, ``scenarios`` or ``tests`` lands at the top of site-packages.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent

#: (source folder in the repository, destination inside the wheel, file patterns copied)
TREES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("contracts", "harness/_suites/contracts", ("*.py", "*.json", "*.ts", "*.yml")),
    ("scenarios", "harness/_suites/scenarios", ("*.py",)),
    ("load", "harness/_suites/load", ("*.py",)),
    ("fixtures/envelopes", "harness/_suites/fixtures/envelopes", ("*.json",)),
    ("contracts/schemas", "holyfields/schemas", ("*.json",)),
    ("contracts/generated", "holyfields/generated", ("*.py", "*.ts")),
    ("contracts/asyncapi", "holyfields/asyncapi", ("*.json", "LICENSE", "NOTICE")),
    ("contracts/openapi", "reference_impl/_openapi", ("*.json",)),
)


class BuildWithSuites(build_py):
    """``build_py`` plus the copies of :data:`TREES`; editable installs use the checkout's folders."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source, destination, patterns in TREES:
            root = HERE / source
            for pattern in patterns:
                for file in sorted(root.rglob(pattern)):
                    if "__pycache__" in file.parts or "node_modules" in file.parts:
                        continue
                    target = Path(self.build_lib) / destination / file.relative_to(root)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(file, target)


setup(cmdclass={"build_py": BuildWithSuites})
