"""Open a page in headless Chromium as a person would, through the DevTools protocol (no extra dependency).

:func:`check_page` loads a file in a fresh Chromium (private profile, no network: every host name resolves
to nothing), collects console errors, uncaught exceptions and failed loads, reads the page's sections and
saves a full-page screenshot. ``harness verify`` uses it to check and photograph ``reports/index.html``; the
tests use it on a fixture page.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: executables tried in order (Debian's package is ``chromium``)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = (
    "install it with `sudo apt-get install -y chromium` (Debian/Ubuntu); ./run bootstrap does so as root"
)

#: what the page reports about itself once loaded
_PAGE_FACTS = """JSON.stringify({
  title: document.title,
  sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
  headings: [...document.querySelectorAll('h2')].map(h => h.textContent.trim()),
  svgs: document.querySelectorAll('svg').length,
  width: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight
})"""


class BrowserError(Exception):
    """Chromium is missing, did not start, or the page did not load (the message says which and why)."""


def find_chromium() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageCheck:
    """What a browser saw of a page."""

    url: str
    title: str = ""
    sections: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    svgs: int = 0
    #: console errors, uncaught exceptions, failed loads (each one line)
    errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    seconds: float = 0.0


class _DevTools:
    """A minimal DevTools protocol client over the browser's websocket (flat sessions)."""

    def __init__(self, url: str, timeout: float) -> None:
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(url, max_size=64 * 1024 * 1024, open_timeout=timeout))
        self.timeout = timeout
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline, method)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"DevTools {method} failed: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, deadline: float) -> dict[str, Any]:
        for seen in self.events:
            if seen.get("method") == event:
                return seen
        while True:
            reply = self._receive(deadline, event)
            self.events.append(reply)
            if reply.get("method") == event:
                return reply

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BrowserError(f"Chromium did not answer {waiting_for} in time")
        try:
            return json.loads(self.ws.recv(timeout=left))
        except TimeoutError as exc:
            raise BrowserError(f"Chromium did not answer {waiting_for} in {self.timeout:g} s") from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            found.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exc = details.get("exception", {}).get("description") or details.get("text", "")
            found.append(f"uncaught exception: {exc}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            found.append(
                f"{entry.get('source', 'log')} error: {entry.get('text', '')} {entry.get('url', '')}".strip()
            )
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            found.append(f"load failed: {params.get('errorText', '')}")
    return found


def check_page(
    path: Path, *, screenshot: Path | None = None, timeout: float = 30.0, width: int = 1280
) -> PageCheck:
    """Open ``path`` (a local HTML file) in headless Chromium; what it saw, plus a screenshot if asked."""
    executable = find_chromium()
    if executable is None:
        raise BrowserError(f"Chromium not found (tried {', '.join(CANDIDATES)}): {INSTALL_HINT}")
    path = Path(path).resolve()
    if not path.exists():
        raise BrowserError(f"no page at {path}")
    started = time.monotonic()
    profile = Path(tempfile.mkdtemp(prefix="harness-chromium-"))
    argv = [
        executable,
        "--headless=new",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # the page must need no network
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--window-size={width},900",
        "about:blank",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    log = (profile / "chromium.log").open("wb")  # a file, not a pipe: a chatty browser never blocks
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    client: _DevTools | None = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if process.poll() is not None:
                tail = (profile / "chromium.log").read_text(errors="replace")[-800:]
                raise BrowserError(f"Chromium exited with {process.returncode} before it listened: {tail}")
            if time.monotonic() > deadline:
                raise BrowserError(f"Chromium did not open its DevTools port in {timeout:g} s")
            time.sleep(0.05)  # polling a file with a deadline, not a synchronization sleep
        port, browser_path = port_file.read_text().splitlines()[:2]
        client = _DevTools(f"ws://127.0.0.1:{port}{browser_path}", timeout)
        target = client.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = client.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            client.call(f"{domain}.enable", session=session)
        url = path.as_uri()
        navigation = client.call("Page.navigate", {"url": url}, session=session)
        if navigation.get("errorText"):
            raise BrowserError(f"Chromium could not open {url}: {navigation['errorText']}")
        client.wait_for("Page.loadEventFired", time.monotonic() + timeout)
        facts = json.loads(
            client.call(
                "Runtime.evaluate", {"expression": _PAGE_FACTS, "returnByValue": True}, session=session
            )["result"]["value"]
        )
        result = PageCheck(
            url=url,
            title=facts["title"],
            sections=facts["sections"],
            headings=facts["headings"],
            svgs=facts["svgs"],
        )
        if screenshot is not None:
            clip = {
                "x": 0,
                "y": 0,
                "width": max(width, facts["width"]),
                "height": facts["height"],
                "scale": 1,
            }
            shot = client.call(
                "Page.captureScreenshot",
                {"format": "png", "clip": clip, "captureBeyondViewport": True},
                session=session,
            )
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            result.screenshot = screenshot
        result.errors = _errors(client.events)
        with contextlib.suppress(BrowserError):
            client.call("Browser.close")
        result.seconds = round(time.monotonic() - started, 2)
        return result
    finally:
        if client is not None:
            client.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait(timeout=5)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)
