"""A real headless Chromium, driven through its DevTools protocol (for the explorer tests).

:func:`browser` starts Debian's ``chromium`` as a person's browser would
run it (headless, its own profile folder, networking cut off: a dead proxy
and the DevTools offline switch) and returns a :class:`Page` connected to its
one tab over the DevTools WebSocket. Every event the browser reports is kept,
so a test can check that no request left the machine.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

#: What the tests say when no Chromium can run here (they skip, loudly).
MISSING = (
    "\n\n!!! CHROMIUM IS NOT INSTALLED: the explorer's browser tests are SKIPPED. !!!\n"
    "!!! Install it (Debian: apt-get install -y chromium) to run them.        !!!\n"
)


def chromium_path() -> str | None:
    """The chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Page:
    """One tab, spoken to over the DevTools protocol."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self._ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer (events on the way are kept)."""
        self._next += 1
        ident = self._next
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Load ``url`` and wait until its document has loaded."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)

    def mouse(self, kind: str, x: float, y: float) -> None:
        """A real mouse event: ``moved``, ``pressed`` or ``released`` at (x, y)."""
        self.call(
            "Input.dispatchMouseEvent",
            type=f"mouse{kind.capitalize()}",
            x=x,
            y=y,
            button="left" if kind != "moved" else "none",
            clickCount=1 if kind != "moved" else 0,
        )

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the whole page."""
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def requests(self) -> list[str]:
        """Every URL the page asked the network for."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def close(self) -> None:
        self._ws.close()


class Browser:
    """A running headless Chromium and its first tab."""

    def __init__(self, profile: Path) -> None:
        exe = chromium_path()
        if exe is None:
            pytest.skip(MISSING)
        args = [
            exe,
            "--headless",
            "--no-sandbox",  # tests run as root in containers
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={profile}",
            "--proxy-server=127.0.0.1:9",  # no request could reach a network
            "--window-size=1200,900",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                self.proc.kill()
                pytest.fail(f"chromium did not start: {err[-2000:]}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        self.page = Page(page["webSocketDebuggerUrl"])
        self.page.call("Page.enable")
        self.page.call("Runtime.enable")
        self.page.call("Network.enable")
        self.page.call(
            "Network.emulateNetworkConditions",
            offline=True,
            latency=0,
            downloadThroughput=-1,
            uploadThroughput=-1,
        )

    def close(self) -> None:
        self.page.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


def file_url(path: Path) -> str:
    """A file:// URL of an absolute path."""
    return Path(os.path.abspath(path)).as_uri()


def console_errors(page: Page) -> list[str]:
    """Console errors and uncaught exceptions the page reported."""
    found = []
    for e in page.events:
        if e.get("method") == "Runtime.exceptionThrown":
            found.append(str(e["params"]["exceptionDetails"]))
        elif e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error":
            found.append(str(e["params"]["args"]))
    return [f for f in found if not re.search(r"favicon", f)]
