"""The CLI in-process: filters, JSON, exit codes and one-line errors."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pcapdiff.cli import cli, main
from pcapdiff.conns import scan_connections
from pcapdiff.render.conns_table import render_conns_table, render_footer
from pcapdiff.render.console import out_console
from pcapdiff.render.times import TimeFormat

from .conftest import FIXTURES, IN_CI, ROOT

ENV = {"NO_COLOR": "1", "COLUMNS": "200"}


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=ENV)


def conns_json(*args: str) -> dict:
    result = run("conns", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_table_lists_connections_and_footer() -> None:
    result = run("conns", str(FIXTURES / "every_state.pcap"))
    assert result.exit_code == 0
    assert "RSTOS0" in result.stdout
    assert "GET www.example.com/images/a.jpg" in result.stdout
    assert "45 packets (45 TCP, 0 malformed)" in result.stdout
    assert "13 of 13 connections shown" in result.stdout


@pytest.mark.parametrize("columns", [200, 60])  # a table, then blocks
@pytest.mark.parametrize("filters", [(), ("--state", "SF")])
def test_the_table_streamed_from_its_spool_is_the_table_of_every_connection(
    columns: int, filters: tuple[str, ...]
) -> None:
    # The CLI keeps each row on disk as its connection ends (render/spool.py) and lays
    # the table out at the end: exactly the table of the connections collected.
    path = ROOT / "fixtures" / "pcaps" / "compare" / "every_outcome" / "edge.pcap"
    result = CliRunner().invoke(
        cli, ["conns", str(path), *filters], env={"NO_COLOR": "1", "COLUMNS": str(columns)}
    )
    assert result.exit_code == 0, result.output
    scan = scan_connections(path)
    every = list(scan)
    chosen = [c for c in every if not filters or c.conn_state == "SF"]
    out = io.StringIO()
    console = out_console(out, width=columns)
    times = TimeFormat(reference_ns=scan.summary.first_ts_ns)
    render_conns_table(sorted(chosen, key=lambda c: c.first_frame), console, times=times)
    render_footer(scan.summary, len(chosen), len(every), console, times)
    assert result.stdout == out.getvalue()
    assert len(every) > 10
    assert 0 < len(chosen) < len(every) if filters else chosen == every


def test_filters() -> None:
    path = str(FIXTURES / "every_state.pcap")
    doc = conns_json(path, "--state", "S0", "--state", "REJ")
    assert [c["conn_state"] for c in doc["connections"]] == ["S0", "REJ"]
    assert doc["filters"]["state"] == ["S0", "REJ"]
    assert conns_json(path, "--port", "41007")["summary"]["by_state"] == {"RSTR": 1}
    assert conns_json(path, "--host", "203.0.113.0/24")["summary"]["connections"] == 13
    assert conns_json(path, "--host", "2001:db8::/32")["summary"]["connections"] == 0
    assert (
        conns_json(str(FIXTURES / "http_ok_ipv6.pcap"), "--host", "2001:db8:2::10")["connections"][
            0
        ]["server"]
        == "[2001:db8:2::10]:80"
    )


def _documented_fields(schema: str = "pcapdiff/conns/1") -> set[str]:
    """The field table under the heading that names ``schema`` in docs/json.md."""
    text = (ROOT / "docs" / "json.md").read_text()
    sections = re.split(r"^## ", text, flags=re.M)
    section = next(s for s in sections if f"`{schema}`" in s.splitlines()[0])
    return set(re.findall(r"^\| `([a-z_.\[\]]+)` \|", section, flags=re.M))


def _emitted_fields(
    value: Any,
    prefix: str = "",
    open_maps: tuple[str, ...] = ("capture.anomalies", "summary.by_state"),
) -> set[str]:
    """Every field path in a JSON document; the keys of open maps (codes, states) are
    data, not fields."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else key
            if prefix in open_maps:
                continue
            out.add(name)
            out |= _emitted_fields(item, name, open_maps)
    elif isinstance(value, list):
        for item in value:
            out |= _emitted_fields(item, prefix + "[]", open_maps)
    return out


def test_json_fields_are_exactly_the_documented_ones() -> None:
    emitted: set[str] = set()
    for name in (
        "every_state.pcap",
        "tls_alert.pcap",
        "two_interfaces.pcapng",
        "damaged_packet.pcap",
    ):
        emitted |= _emitted_fields(conns_json(str(FIXTURES / name)))
    documented = _documented_fields()
    assert emitted - documented == set(), "fields missing from docs/json.md"
    assert documented - emitted == set(), "documented fields never emitted"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["conns", "--port", "99999", "x.pcap"], "--port: 99999 is not in the range"),
        (["conns", "--host", "not-an-ip", "x.pcap"], "--host: 'not-an-ip' is not an address"),
        (["conns", "--bogus", "x.pcap"], "No such option '--bogus'"),
        (["conns"], "Missing argument"),
        (["conns", "/nonexistent/file.pcap"], "/nonexistent/file.pcap: cannot open"),
        (["conns", str(ROOT / "docs" / "json.md")], "not a pcap or pcapng"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_truncated_file_warns_and_strict_fails(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(FIXTURES / "truncated_tail.pcap")
    assert main(["conns", "--json", path]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err
    assert "frame 11 (byte 896)" in captured.err
    assert json.loads(captured.out)["capture"]["truncated_tail"].startswith("frame 11")
    assert main(["conns", "--strict", path]) == 2
    assert "frame 11" in capsys.readouterr().err


def test_stdin_and_console_script() -> None:
    data = (FIXTURES / "http_ok.pcap.gz").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "pcapdiff", "conns", "--json", "-"],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["capture"]["compression"] == "gzip"
    assert doc["connections"][0]["request"]["host"] == "www.example.com"


def test_help_has_examples() -> None:
    result = run("conns", "--help")
    assert result.exit_code == 0
    assert "tcpdump -i any -w - port 80 | pcapdiff conns -" in result.stdout


def test_broken_pipe_is_quiet(tmp_path: Path) -> None:
    script = f"{sys.executable} -m pcapdiff conns {FIXTURES / 'every_state.pcap'} | head -n 1"
    proc = subprocess.run(
        script, shell=True, capture_output=True, text=True, timeout=60, check=False
    )
    assert "Traceback" not in proc.stderr


def test_compare_json_fields_are_exactly_the_documented_ones() -> None:
    emitted: set[str] = set()
    cases = ROOT / "fixtures" / "pcaps" / "compare"
    folder = cases / "every_outcome"
    for args in (
        [str(folder / "edge.pcap"), str(folder / "origin.pcap")],
        [str(folder / "edge.pcap")],
        # unpaired origin connections, and connections that are not origin pulls
        [str(cases / "edge_cut_mid_traffic" / f) for f in ("edge.pcap", "origin.pcap")],
        [str(cases / "mixed_with_noise" / f) for f in ("edge.pcap", "origin.pcap")],
    ):
        result = CliRunner().invoke(cli, ["compare", "--json", *args], env=ENV)
        assert result.exit_code == 1, result.output
        emitted |= _emitted_fields(json.loads(result.stdout), open_maps=("summary",))
    documented = _documented_fields("pcapdiff/compare/1")
    assert emitted - documented == set(), "fields missing from docs/json.md"
    assert documented - emitted == set(), "documented fields never emitted"


@pytest.mark.parametrize("command", ["conns", "compare"])
def test_a_full_disk_under_the_tables_rows_is_one_line_and_exit_2(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the tables keep their rows in a temporary file (render/spool.py): on a full disk
    # (/dev/full: every write ENOSPC) the CLI says so in one line, no traceback
    if not Path("/dev/full").exists():
        if IN_CI:
            raise AssertionError("CI must run every test, but this machine has no /dev/full")
        pytest.skip("this machine has no /dev/full")
    import pcapdiff.render.spool as spool

    monkeypatch.setattr(spool.tempfile, "TemporaryFile", lambda **_: open("/dev/full", "w+b"))  # noqa: SIM115
    path = ROOT / "fixtures" / "pcaps" / "compare" / "every_outcome" / "edge.pcap"
    assert main([command, str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: the table's rows could not be kept in {spool.tempfile.gettempdir()}: "
        "No space left on device (set TMPDIR to a directory with room, or write --json)"
    ]


# What `conns --json` must not load on an uncompressed capture: the decompressors (an
# xz, gzip or bzip2 file loads its own) and the table's spool (tempfile, shutil).
UNNEEDED_FOR_JSON = ("bz2", "gzip", "lzma", "tempfile", "shutil", "pcapdiff.render.spool")


@pytest.mark.parametrize("capture", ["every_state.pcap", "http_ok.pcap.gz"])
def test_conns_json_loads_only_what_its_capture_needs(capture: str) -> None:
    """Every module is part of each run's start, before the first packet: JSON of a
    plain capture loads no decompressor and no spool; a gzip file loads gzip alone."""
    script = (
        "import sys, runpy\n"
        f"sys.argv = ['pcapdiff', 'conns', '--json', '--no-progress', "
        f"{str(FIXTURES / capture)!r}]\n"
        "try:\n"
        "    runpy.run_module('pcapdiff', run_name='__main__')\n"
        "except SystemExit as end:\n"
        "    assert end.code == 0, end.code\n"
        f"print([m for m in {UNNEEDED_FOR_JSON!r} if m in sys.modules], file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["connections"]
    loaded = out.stderr.strip().splitlines()[-1]
    assert loaded == ("['gzip']" if capture.endswith(".gz") else "[]")


# What `compare --json` must not load: the table's (rich, the spool and its tempfile,
# which loads shutil and through it every decompressor) and the page's.
UNNEEDED_FOR_COMPARE_JSON = (
    "rich",
    "pcapdiff.render.compare_table",
    "pcapdiff.render.spool",
    "pcapdiff.render.html",
    "tempfile",
    "bz2",
    "lzma",
)


def test_compare_json_loads_neither_the_table_nor_the_page() -> None:
    """A fifth of compare --json's start on the real edge pair was modules only the
    table and the page use (20 ms)."""
    pair = ROOT / "fixtures" / "pcaps" / "compare" / "every_outcome"
    script = (
        "import sys, runpy\n"
        "sys.argv = ['pcapdiff', 'compare', '--json', '--no-progress', "
        f"{str(pair / 'edge.pcap')!r}, {str(pair / 'origin.pcap')!r}]\n"
        "try:\n"
        "    runpy.run_module('pcapdiff', run_name='__main__')\n"
        "except SystemExit as end:\n"
        "    assert end.code == 1, end.code\n"
        f"print([m for m in {UNNEEDED_FOR_COMPARE_JSON!r} if m in sys.modules], file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert len(json.loads(out.stdout)["connections"]) > 5
    assert out.stderr.strip().splitlines()[-1] == "[]"
