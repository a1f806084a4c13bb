# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open an HTML file in headless Chromium and report what it draws, as JSON.

Talks the Chrome DevTools Protocol over a pipe (--remote-debugging-pipe: fd 3 in, fd 4
out, messages NUL-terminated), so it needs no Python package beyond the stdlib and no
network port. Reports console messages of level error, uncaught exceptions, failed
loads, and the fleet picture as laid out: per node section its name, status and strategy,
per GPU bar its width and the offset and width of each box in it (in CSS pixels), and a
PNG screenshot when asked for.

    python tests/scripts/browser_check.py PAGE.html [--screenshot OUT.png]

Chromium: Debian's chromium-headless-shell (or chromium), found on PATH or named by
$FGPU_CHROMIUM. Exit 0 with the JSON on stdout; 2 when no Chromium is found.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser")
TIMEOUT_S = 30

# What the page draws, read in the page: the geometry the browser computed.
LAYOUT_JS = r"""
(() => Array.from(document.querySelectorAll('section.node')).map(section => ({
  node: section.dataset.node,
  ok: section.dataset.ok === 'true',
  strategy: section.dataset.strategy,
  problems: Array.from(section.querySelectorAll('.problems li')).map(li => li.textContent),
  gpus: Array.from(section.querySelectorAll('.gpu')).map(gpu => {
    const bar = gpu.querySelector('.bar').getBoundingClientRect();
    return {
      index: Number(gpu.dataset.gpu),
      width: bar.width,
      boxes: Array.from(gpu.querySelectorAll('.inst')).map(box => {
        const r = box.getBoundingClientRect();
        return {profile: box.dataset.profile || null,
                replica: box.dataset.replica === undefined ? null : Number(box.dataset.replica),
                left: r.left - bar.left, width: r.width, visible: r.width > 0 && r.height > 0};
      }),
    };
  }),
})))()
"""


def find_chromium() -> str | None:
    named = os.environ.get("FGPU_CHROMIUM")
    if named:
        return named
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium, driven over its DevTools pipe."""

    def __init__(self, chromium: str):
        self.profile = tempfile.mkdtemp(prefix="fgpu-chromium-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def pipe_fds():  # in the child: the browser reads fd 3 and writes fd 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
             "--window-size=1280,900", "about:blank"],
            preexec_fn=pipe_fds, pass_fds=(3, 4), stdin=subprocess.DEVNULL,  # noqa: PLW1509
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def close(self):
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise RuntimeError("Chromium did not answer in %ds" % TIMEOUT_S)
            chunk = os.read(self.from_browser, 65536)
            if not chunk:
                raise RuntimeError("Chromium exited: %s" % self.proc.stderr.read().decode(
                    errors="replace")[-2000:])
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None):
        """Sends one command and returns its result; events seen meanwhile are kept."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError("%s: %s" % (method, answer["error"]))
                return answer.get("result", {})
            self.events.append(answer)

    def wait_event(self, method, session):
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            self.events.append(self._read_message(deadline))


def check(page: Path, screenshot: Path | None, chromium: str) -> dict:
    browser = Browser(chromium)
    try:
        targets = browser.send("Target.getTargets")["targetInfos"]
        target = next(t["targetId"] for t in targets if t["type"] == "page")
        session = browser.send("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(domain + ".enable", session=session)
        browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired", session)
        layout = browser.send("Runtime.evaluate", {"expression": LAYOUT_JS,
                                                   "returnByValue": True},
                              session=session)["result"]["value"]
        title = browser.send("Runtime.evaluate", {"expression": "document.title",
                                                  "returnByValue": True},
                             session=session)["result"]["value"]
        if screenshot:
            data = browser.send("Page.captureScreenshot", {"format": "png",
                                                           "captureBeyondViewport": True},
                                session=session)["data"]
            screenshot.write_bytes(base64.b64decode(data))
        errors = []
        for event in browser.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                     for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                errors.append("exception: " + params["exceptionDetails"].get("text", ""))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append("log: " + params["entry"].get("text", ""))
            elif method == "Network.loadingFailed":
                errors.append("load failed: " + params.get("errorText", ""))
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    errors.append("external request: " + url)
        return {"title": title, "errors": errors, "nodes": layout}
    finally:
        browser.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if not chromium:
        print("no Chromium found (apt-get install chromium-headless-shell, or set "
              "FGPU_CHROMIUM)", file=sys.stderr)
        return 2
    json.dump(check(args.page, args.screenshot, chromium), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
