"""Headless Chromium driven over the DevTools protocol (``--remote-debugging-pipe``): no driver,
no package beyond Debian's ``chromium``.

A :class:`Browser` opens pages with the network cut off (every host name resolves to nothing,
loopback excepted), waits for the load event and for the page's scripts to settle, and records
every request the page made and every one that failed, console errors and uncaught exceptions;
tests then ask the *rendered* page (``evaluate``) and take screenshots. The flags are the ones a
closed machine needs (no background networking, component updates or sync).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--hide-scrollbars",
]


class Page:
    """What one page load did: its requests, failures, console errors and exceptions."""

    def __init__(self, url: str):
        self.url = url
        self.requests: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []  # alert(), confirm(): a script from the data would show one

    def external(self) -> list[str]:
        """Requested URLs that would leave the machine (neither file:, data:, blob: nor loopback)."""
        local = ("file:", "data:", "blob:", "about:", "http://127.0.0.1", "http://localhost")
        return [u for u in self.requests if not u.startswith(local)]


class Browser:
    """One Chromium process; :meth:`open` loads a page in a fresh tab."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 900):
        chromium = shutil.which(CHROMIUM)
        assert chromium, "chromium is not installed (bash .ci/install installs it); the Data Docs browser tests need it"
        self.width, self.height = width, height
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def fds() -> None:  # Chromium reads commands on fd 3 and writes replies on fd 4
            read, write = os.dup(to_chrome_r), os.dup(from_chrome_w)  # off 3 and 4 first
            os.dup2(read, 3)  # dup2 onto another number: inheritable across exec
            os.dup2(write, 4)

        self.proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            close_fds=False,  # subprocess would close fds 3 and 4 after preexec_fn made them
            preexec_fn=fds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._id = 0
        self._events: list[dict] = []

    # -- protocol -------------------------------------------------------------------------------
    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium exited")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params: Any) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def _pump(self, seconds: float) -> None:
        """Collect events for ``seconds`` (a no-op command answered after any pending events)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.send("Browser.getVersion")
            time.sleep(0.05)

    # -- pages ----------------------------------------------------------------------------------
    def open(self, url: str, settle: float = 0.5, timeout: float = 30) -> Tab:
        """Load ``url`` in a new tab; return once it fired ``load`` and ``settle`` seconds passed."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.send(f"{domain}.enable", session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        page = Page(url)
        self._events.clear()
        self.send("Page.navigate", session, url=url)
        deadline = time.monotonic() + timeout
        loaded = False
        while not loaded:
            event = self._read(deadline)
            self._events.append(event)
            if event.get("method") == "Page.javascriptDialogOpening":  # alert() would block the page
                self.send("Page.handleJavaScriptDialog", event.get("sessionId"), accept=True)
            loaded = event.get("method") == "Page.loadEventFired" and event.get("sessionId") == session
        self._pump(settle)
        tab = Tab(self, session, page)
        for event in self._events:
            if event.get("sessionId") == session:
                tab.record(event)
        self._events.clear()
        return tab

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


class Tab:
    """A loaded page: ask it (:meth:`evaluate`), photograph it (:meth:`screenshot`)."""

    def __init__(self, browser: Browser, session: str, page: Page):
        self.browser, self.session, self.page = browser, session, page

    def record(self, event: dict) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            self.page.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            self.page.failed.append((params.get("requestId", ""), params.get("errorText", "")))
        elif method == "Page.javascriptDialogOpening":
            self.page.dialogs.append(params.get("message", ""))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.page.errors.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.page.errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.page.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` evaluated in the page."""
        out = self.browser.send("Runtime.evaluate", self.session, expression=expression, returnByValue=True)
        if "exceptionDetails" in out:
            raise RuntimeError(out["exceptionDetails"])
        return out["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.browser.send("Page.captureScreenshot", self.session, **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


# ---------------------------------------------------------------------------------------------
# one-shot: the DOM after the page's scripts ran (--dump-dom), parsed


#: Elements that break the text flow (a browser puts a line break around them).
BLOCKS = {
    "br",
    "div",
    "p",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "pre",
    "section",
    "nav",
    "header",
    "footer",
}


class Dom(HTMLParser):
    """A dumped DOM: its visible text (inline elements joined as a browser shows them, blocks apart),
    its script elements' text, and every element's attributes."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.markup = markup
        self.elements: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._text: list[str] = []
        self._in: list[str] = []
        self.feed(markup)
        self.close()
        self.text = " ".join("".join(self._text).split())

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in BLOCKS:
            self._text.append(" ")
        if tag in ("script", "style", "title"):
            self._in.append(tag)
            if tag == "script":
                self.scripts.append("")

    def handle_endtag(self, tag):
        if tag in BLOCKS:
            self._text.append(" ")
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        if not self._in:
            self._text.append(data)
        elif self._in[-1] == "script":
            self.scripts[-1] += data

    def tags(self, name: str) -> list[dict]:
        return [attrs for tag, attrs in self.elements if tag == name]


def dump_dom(page: Path | str, profile: Path) -> str:
    """The DOM of ``page`` (a file, or an http URL) after Chromium loaded it and ran its scripts
    (``--dump-dom``)."""
    chromium = shutil.which(CHROMIUM)
    assert chromium, "chromium is not installed (bash .ci/install installs it); the Data Docs browser tests need it"
    if isinstance(page, Path):
        assert page.is_file(), page
    url = page.resolve().as_uri() if isinstance(page, Path) else page
    name = page.name if isinstance(page, Path) else page
    cmd = [
        chromium,
        *FLAGS,
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
        "--dump-dom",
        url,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish loading {name} (a script dialog such as alert() blocks it)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "</html>" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout
