"""Real headless Chromium (Debian's package), driven over the DevTools protocol: load a
page, and collect every console message, uncaught exception, log entry (CSP
violations land there) and network request it made; query its DOM."""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import websocket  # websocket-client

START_TIMEOUT_S = 30.0
LOAD_TIMEOUT_S = 30.0


class PageLoad(NamedTuple):
    url: str
    console: list[dict[str, Any]]  # Runtime.consoleAPICalled
    exceptions: list[dict[str, Any]]  # Runtime.exceptionThrown
    log: list[dict[str, Any]]  # Log.entryAdded: errors, CSP violations, ...
    requests: list[str]  # every URL the page asked for, itself included


class Chromium:
    """One browser, one page target, for the test's life."""

    def __init__(self, profile: Path) -> None:
        binary = shutil.which("chromium")
        assert binary, "chromium is not installed"
        self.proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",  # root in a container: the sandbox cannot start
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + START_TIMEOUT_S
            while not (port_file.exists() and len(port_file.read_text().split()) == 2):
                assert self.proc.poll() is None, "chromium exited at start"
                assert time.monotonic() < deadline, "chromium did not open its DevTools port"
                time.sleep(0.05)
            port, path = port_file.read_text().split()
            self.ws = websocket.create_connection(
                f"ws://127.0.0.1:{port}{path}", timeout=LOAD_TIMEOUT_S, suppress_origin=True
            )
            self.ids = itertools.count(1)
            self.events: list[dict[str, Any]] = []
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
            for domain in ("Runtime", "Log", "Network", "Page"):
                self.call(f"{domain}.enable", session=True)
        except BaseException:
            self.close()
            raise

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command; events that come meanwhile are kept for ``load``."""
        message_id = next(self.ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == message_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)
        raise AssertionError(f"{method}: no answer in {LOAD_TIMEOUT_S} s")

    def load(self, page: Path) -> PageLoad:
        """Navigate to PAGE and wait for its load event (and a moment for late work)."""
        url = page.resolve().as_uri()
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while not any(e["method"] == "Page.loadEventFired" for e in self.events):
            assert time.monotonic() < deadline, f"{url}: no load event"
            self.events.append(json.loads(self.ws.recv()))
        # what the page might still do after load: give it a moment, then collect
        self.ws.settimeout(0.5)
        with contextlib.suppress(websocket.WebSocketTimeoutException):
            for _ in range(10_000):
                self.events.append(json.loads(self.ws.recv()))
        self.ws.settimeout(LOAD_TIMEOUT_S)

        def params(method: str) -> list[dict[str, Any]]:
            return [e["params"] for e in self.events if e.get("method") == method]

        return PageLoad(
            url,
            params("Runtime.consoleAPICalled"),
            params("Runtime.exceptionThrown"),
            [p["entry"] for p in params("Log.entryAdded")],
            [p["request"]["url"] for p in params("Network.requestWillBeSent")],
        )

    def evaluate(self, expression: str) -> Any:
        """A JavaScript expression's value in the page, by DevTools (the page itself may
        run no script: its CSP forbids every one, and DevTools is not the page)."""
        reply = self.call(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True
        )
        assert "exceptionDetails" not in reply, reply["exceptionDetails"]
        return reply["result"].get("value")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[Chromium]:
    browser = Chromium(profile)
    try:
        yield browser
    finally:
        browser.close()
