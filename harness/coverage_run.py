"""Line and branch coverage of ``harness``, ``reference_impl`` and ``holyfields`` while verify runs.

The verify process measures itself (from the moment :meth:`VerifyCoverage.start` is called: the few harness
modules imported before, such as ``harness.cli``, lose their module-level lines) and every Python process it
starts while measuring — the reference Bloodbank and Candystore — measures itself too: coverage.py's own
``.pth`` hook starts it in any interpreter that sees ``COVERAGE_PROCESS_START``. A service stopped with
SIGTERM saves its data at exit; one killed with SIGKILL by a fault check loses what it measured since it
started (SIGTERM is handled: uvicorn re-raises it after its graceful shutdown, which skips ``atexit``).
:meth:`VerifyCoverage.finish` combines the data files and writes ``coverage.xml`` (Cobertura) and
``coverage/`` (HTML) into the reports directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

#: what is measured (import names: the same in a checkout and in an installed wheel)
PACKAGES = ("harness", "reference_impl", "holyfields")
ENV = "COVERAGE_PROCESS_START"

RC = """\
[run]
branch = True
parallel = True
# uvicorn re-raises SIGTERM after its graceful shutdown, so atexit never runs: coverage saves on SIGTERM
sigterm = True
data_file = {data}
source_pkgs = {packages}
omit =
    */contracts/generated/*

disable_warnings = module-not-measured, module-not-imported, no-data-collected

[report]
ignore_errors = True
"""


class VerifyCoverage:
    """Measure a verify run: ``start()`` before the suites, ``finish()`` after them (rows per component)."""

    def __init__(self, reports: Path) -> None:
        self.reports = Path(reports).resolve()  # the services run elsewhere: an absolute data path
        self.work = self.reports / ".coverage-data"
        self.rcfile = self.work / "coveragerc"
        self._cov: Any = None
        self._env_before: str | None = None

    def start(self) -> VerifyCoverage:
        import coverage

        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.rcfile.write_text(RC.format(data=self.work / ".coverage", packages=", ".join(PACKAGES)))
        self._env_before = os.environ.get(ENV)
        os.environ[ENV] = str(self.rcfile)  # children (the reference services) measure themselves
        self._cov = coverage.Coverage(config_file=str(self.rcfile))
        self._cov.start()
        return self

    def finish(self) -> list[dict[str, Any]] | None:
        """Stop, combine, write ``coverage.xml`` and ``coverage/index.html``; the rows per component."""
        if self._cov is None:
            return None
        import coverage

        from harness.dashboard import coverage_by_component

        self._cov.stop()
        self._cov.save()
        self._cov = None
        if self._env_before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = self._env_before
        combined = coverage.Coverage(config_file=str(self.rcfile))
        combined.combine([str(self.work)], keep=False)
        combined.save()
        xml = self.reports / "coverage.xml"
        try:
            combined.xml_report(outfile=str(xml))
            combined.html_report(directory=str(self.reports / "coverage"))
        except coverage.exceptions.NoDataError:
            return None
        return coverage_by_component(xml)


def coverage_lines(rows: list[dict[str, Any]] | None, reports: Path) -> list[str]:
    """What verify prints about coverage."""
    if not rows:
        return ["harness verify: coverage: nothing measured"]
    lines = [f"harness verify: coverage by component ({reports / 'coverage.xml'}, {reports / 'coverage'}/)"]
    for row in rows:
        branches = "-" if row["branch_rate"] is None else f"{row['branch_rate']} %"
        lines.append(
            f"  {row['component']:12} lines {row['line_rate']} % ({row['covered']}/{row['lines']}), "
            f"branches {branches}"
        )
    return lines
