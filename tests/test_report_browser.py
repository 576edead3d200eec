"""The leadership page as a person sees it: opened in headless Chromium, no console errors, every section."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.browser import BrowserError, check_page, find_chromium
from harness.dashboard import photograph, record_run
from tests.report_fixture import write_run

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium not found: install it with `apt-get install -y chromium` (./run bootstrap does it)",
)

#: where the screenshot of the fixture page goes (beside the real run's reports/index.png)
SCREENSHOT = Path(__file__).resolve().parents[1] / "reports" / "index-fixture.png"
SECTIONS = {"summary", "criteria", "slos", "contracts", "ledger", "mutants", "findings", "coverage", "trend"}


def test_the_page_opens_in_chromium_without_errors_and_shows_every_section(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    record_run(run, when=1_700_000_000)
    index = record_run(run, when=1_700_003_600)
    seen = check_page(index, screenshot=SCREENSHOT)
    assert seen.errors == []
    assert set(seen.sections) >= SECTIONS
    assert "Success criteria (SPEC §5)" in seen.headings and "Contract matrix" in seen.headings
    assert seen.svgs >= 5  # ledger (2), coverage, checks and latency/throughput trends
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and SCREENSHOT.stat().st_size > 20_000


def test_the_browser_check_catches_console_errors_and_network_use(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>t</title></head><body><img src="http://example.invalid/x.png">'
        '<script>console.error("boom"); missingFunction();</script></body></html>'
    )
    errors = check_page(page).errors
    assert "console.error: boom" in errors
    assert any("missingFunction" in e for e in errors) and any("ERR_NAME_NOT_RESOLVED" in e for e in errors)
    with pytest.raises(BrowserError, match="no page at"):
        check_page(tmp_path / "absent.html")


def test_verify_photographs_the_page_beside_it(tmp_path: Path) -> None:
    index = record_run(write_run(tmp_path, extras=False))
    lines = photograph(index)
    assert lines[0].startswith("harness verify: page checked in Chromium") and len(lines) == 1, lines
    assert (tmp_path / "index.png").stat().st_size > 10_000
