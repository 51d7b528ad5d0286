"""Progress bars, on a real pseudo-terminal: one per capture, on stderr only."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from .conftest import ROOT, drain_terminal

sys.path.insert(0, str(ROOT / "scripts"))
from synth_capture import write_capture


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("progress")
    edge, origin = folder / "edge-side.pcap", folder / "origin-side.pcap"
    write_capture(edge, 300_000, twin=origin)
    return edge, origin


def run_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """pcapdiff with stderr on a pseudo-terminal: (exit code, stdout, what the terminal got)."""
    leader, follower = pty.openpty()
    out_file = tempfile.TemporaryFile()  # noqa: SIM115 - not a pipe: a full one stalls the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcapdiff", *args],
        stdout=out_file,
        stderr=follower,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(follower)
    seen = drain_terminal(leader)
    proc.wait(timeout=60)
    os.close(leader)
    out_file.seek(0)
    out = out_file.read().decode()
    out_file.close()
    return proc.returncode, out, seen.decode(errors="replace")


def test_compare_shows_one_bar_per_capture(pair: tuple[Path, Path]) -> None:
    edge, origin = pair
    code, out, terminal = run_on_a_terminal("compare", "--json", str(edge), str(origin))
    assert code in (0, 1)
    json.loads(out)  # the bars never touch stdout
    assert "edge-side.pcap" in terminal
    assert "origin-side.pcap" in terminal
    assert "[progress.description]" not in terminal
    assert "MB" in terminal  # bytes read of the size


def test_conns_bar_names_its_file(pair: tuple[Path, Path]) -> None:
    """Streamed JSON goes to stdout while the bar shows (rich redirected it once)."""
    code, out, terminal = run_on_a_terminal("conns", "--json", str(pair[0]))
    assert code == 0
    json.loads(out)
    assert '"schema"' not in terminal
    assert "edge-side.pcap" in terminal
    assert "[progress.description]" not in terminal


@pytest.mark.parametrize("command", [["syncheck", "--json"], ["flows", "--json"]])
def test_every_reading_command_has_a_bar(pair: tuple[Path, Path], command: list[str]) -> None:
    code, out, terminal = run_on_a_terminal(*command, str(pair[1]))
    assert code in (0, 1)
    json.loads(out)
    assert "origin-side.pcap" in terminal
    assert "MB" in terminal


def test_no_bar_when_stderr_is_not_a_terminal(pair: tuple[Path, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pcapdiff", "compare", "--json", str(pair[0]), str(pair[1])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "edge-side.pcap" not in proc.stderr
    assert "\x1b" not in proc.stderr
