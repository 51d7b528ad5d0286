"""Shared test setup: paths, golden files, and capability markers.

A test marked ``requires_tcpdump`` / ``requires_tshark`` / ``requires_tcpflow`` /
``requires_chromium`` / ``requires_root`` is skipped, with the reason printed, where
the machine lacks that capability; under CI (CI=true) a missing capability fails
instead, since CI must run everything.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]  # the plugin tests run pytest in-process

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "pcaps" / "conns"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
# The public corpus: beside the clone by default (../shared/corpus/public); elsewhere,
# PCAPDIFF_CORPUS=/path/to/corpus/public.
CORPUS = Path(os.environ.get("PCAPDIFF_CORPUS") or ROOT.parent / "shared" / "corpus" / "public")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden")


class Golden:
    """Compare a JSON-able value with tests/golden/<name>.json (or rewrite it)."""

    def __init__(self, directory: Path, update: bool) -> None:
        self.directory, self.update = directory, update

    def check(self, name: str, actual: Any) -> None:
        path = self.directory / f"{name}.json"
        text = json.dumps(actual, indent=1, sort_keys=True) + "\n"
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return
        assert path.exists(), f"no golden file {path}; run pytest --update-golden"
        assert json.loads(text) == json.loads(path.read_text()), f"differs from {path}"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    return Golden(GOLDEN_DIR, update=bool(request.config.getoption("--update-golden")))


def _missing(marker: str) -> str:
    if marker == "requires_tcpdump" and not shutil.which("tcpdump"):
        return "tcpdump is not installed"
    if marker == "requires_tshark" and not shutil.which("tshark"):
        return "tshark is not installed"
    if marker == "requires_tcpflow" and not shutil.which("tcpflow"):
        return "tcpflow is not installed"
    if marker == "requires_chromium" and not shutil.which("chromium"):
        return "chromium is not installed (Debian's package)"
    if marker == "requires_root":
        if os.geteuid() != 0:
            return "needs root (network namespaces)"
        if not shutil.which("ip"):
            return "iproute2 (ip) is not installed"
    return ""


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in (
        "requires_tcpdump",
        "requires_tshark",
        "requires_tcpflow",
        "requires_chromium",
        "requires_root",
    ):
        if item.get_closest_marker(marker) is None:
            continue
        reason = _missing(marker)
        if reason and IN_CI:
            pytest.fail(f"CI must run every test, but {reason}")
        if reason:
            pytest.skip(reason)


@contextlib.contextmanager
def loopback_namespace(tag: str, addr: str = "192.0.2.1") -> Iterator[str]:
    """A network namespace of the test's own with ``addr`` on its loopback; its
    processes are killed and the namespace deleted, by name, whatever happens."""
    name = f"pcapdiff-{tag}{os.getpid()}"

    def ip(*args: str, check: bool = True) -> None:
        subprocess.run(["ip", *args], capture_output=True, check=check, timeout=30)

    ip("netns", "del", name, check=False)  # a leftover of a killed run
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        ip("-n", name, "addr", "add", f"{addr}/32", "dev", "lo")
        yield name
    finally:
        pids = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        ip("netns", "del", name, check=False)


def drain_terminal(leader: int, quiet_s: float = 60, max_reads: int = 100_000) -> bytes:
    """Everything a process wrote to its pseudo-terminal (``leader``, our end) until it
    closed its end; bounded by a quiet spell and a number of reads."""
    import select

    seen = b""
    for _ in range(max_reads):
        ready, _, _ = select.select([leader], [], [], quiet_s)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        seen += chunk
    return seen
