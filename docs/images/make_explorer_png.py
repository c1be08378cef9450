"""Remake docs/images/explorer.png: the explorer page of docs/animate.md, in headless Chromium.

Writes the grouped example (``--channels 4 --filters 4 --groups 2``), steps
to its sixth frame, hovers nothing, and saves a screenshot of the page's top:

    python docs/images/make_explorer_png.py

Needs Debian's ``chromium`` and ``websocket-client`` (the test extra).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))

from chromium import Browser, file_url  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "groups.html"
        subprocess.run(
            ["convcli", "animate", "--in", "4", "--k", "3", "--channels", "4", "--filters", "4",
             "--groups", "2", "-o", str(page)],
            check=True,
        )  # fmt: skip
        browser = Browser(Path(tmp) / "profile")
        try:
            browser.page.open(file_url(page))
            for _ in range(5):
                browser.page.evaluate("document.getElementById('next').click()")
            browser.page.call("Emulation.setDeviceMetricsOverride", width=1000, height=760,
                              deviceScaleFactor=1, mobile=False)  # fmt: skip
            shot = browser.page.call("Page.captureScreenshot", format="png")
        finally:
            browser.close()
    import base64

    (HERE / "explorer.png").write_bytes(base64.b64decode(shot["data"]))


if __name__ == "__main__":
    main()
