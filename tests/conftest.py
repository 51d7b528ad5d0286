"""Shared test setup: paths, golden files, and capability markers.

A test marked ``requires_tcpdump`` / ``requires_tshark`` / ``requires_root`` is
skipped, with the reason printed, where the machine lacks that capability; under CI
(CI=true) a missing capability fails instead, since CI must run everything.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "pcaps" / "conns"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
CORPUS = ROOT.parent / "shared" / "corpus" / "public"
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
    if marker == "requires_root":
        if os.geteuid() != 0:
            return "needs root (network namespaces)"
        if not shutil.which("ip"):
            return "iproute2 (ip) is not installed"
    return ""


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in ("requires_tcpdump", "requires_tshark", "requires_root"):
        if item.get_closest_marker(marker) is None:
            continue
        reason = _missing(marker)
        if reason and IN_CI:
            pytest.fail(f"CI must run every test, but {reason}")
        if reason:
            pytest.skip(reason)
