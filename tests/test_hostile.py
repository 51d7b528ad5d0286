"""Hostile captures: packet text never reaches a terminal, a pipe or JSON raw (issue 9)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapdiff import compare
from pcapdiff.cli import cli
from pcapdiff.text import safe_text, wire_text

from .conftest import ROOT
from .craft import client_hello, exchange, write_pcap

# Anything a terminal would act on: C0 but the line feeds we print, DEL, C1, bidi.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
ENV = {"NO_COLOR": "1", "COLUMNS": "200"}

HOST = b"evil\x1b]0;pwned\x07\x1b[2J\nfake-row\x00\xe2\x80\xae\xff\xfe"
PATH = b"/a\x1b[31mred\x9b2J\x7f"
REASON = b"OK\x1b[8m hidden \xc2\x9b"


def hostile_capture(tmp_path: Path) -> Path:
    request = b"GET " + PATH + b" HTTP/1.1\r\nHost: " + HOST + b"\r\n\r\n"
    response = b"HTTP/1.1 200 " + REASON + b"\r\nContent-Length: 0\r\n\r\n"
    frames = exchange(request, response)
    frames += exchange(client_hello(b"tls\x1b[2J\xe2\x80\xae.example"), None, port=443, cport=40001)
    return write_pcap(tmp_path / "hostile.pcap", frames)


def outputs(capture: Path) -> dict[str, str]:
    runner = CliRunner()
    out = {}
    for name, args in {
        "conns table": ["conns", str(capture)],
        "conns json": ["conns", "--json", str(capture)],
        "compare table": ["compare", str(capture), "--port", "80", "--port", "443"],
        "compare json": ["compare", "--json", str(capture), "--port", "80", "--port", "443"],
    }.items():
        result = runner.invoke(cli, args, env=ENV)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        out[name] = result.stdout
        out[name + " (stderr)"] = result.stderr
    return out


def test_packet_text_is_escaped_everywhere(tmp_path: Path) -> None:
    for name, text in outputs(hostile_capture(tmp_path)).items():
        assert not UNSAFE.search(text), (name, UNSAFE.findall(text))
        assert "fake-row" not in text.split("\n")[0]  # no forged line of its own
        if name.endswith("json"):
            json.loads(text)
    shown = outputs(hostile_capture(tmp_path))
    conn = json.loads(shown["conns json"])["connections"][0]
    assert (
        conn["request"]["host"]
        == "evil\\x1b]0;pwned\\x07\\x1b[2J\\x0afake-row\\x00\\u202e\\xff\\xfe"
    )
    assert conn["request"]["target"] == "/a\\x1b[31mred\\x9b2J\\x7f"
    assert conn["response"]["reason"] == "OK\\x1b[8m hidden \\x9b"
    assert "\\x1b]0;pwned" in shown["conns table"]  # visible, as escapes


def test_the_escaping_function() -> None:
    assert wire_text(b"caf\xc3\xa9 \xe9") == "café \\xe9"  # UTF-8 kept, the rest escaped
    assert safe_text("a\u202eb\u2066c\x85d") == "a\\u202eb\\u2066c\\x85d"
    assert safe_text("plain /path?q=1") == "plain /path?q=1"


def test_a_stdout_that_cannot_encode_the_text(tmp_path: Path) -> None:
    request = "GET /caf\u00e9 HTTP/1.1\r\nHost: \u00fcber.example\r\n\r\n".encode()
    capture = write_pcap(tmp_path / "utf8.pcap", exchange(request, b"HTTP/1.1 200 OK\r\n\r\n"))
    for args in (
        ["conns", str(capture)],
        ["conns", "--json", str(capture)],
        ["compare", str(capture)],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "pcapdiff", *args],
            capture_output=True,
            env={**os.environ, "PYTHONIOENCODING": "ascii"},
            check=False,
        )
        assert b"Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode in (0, 1), proc.stderr


def test_status_codes_of_any_length(tmp_path: Path) -> None:
    """4,301 digits once crashed int(); 20 digits crashed the JSON encoder."""
    for digits in (20, 4301, 60_000):
        response = b"HTTP/1.1 " + b"9" * digits + b" OK\r\n\r\n"
        capture = write_pcap(
            tmp_path / f"status{digits}.pcap",
            exchange(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", response),
        )
        for name, text in outputs(capture).items():
            assert "Traceback" not in text, name
        doc = json.loads(CliRunner().invoke(cli, ["conns", "--json", str(capture)], env=ENV).stdout)
        (conn,) = doc["connections"]
        assert conn["response"]["status"] == 0
        assert conn["response"]["reason"].startswith("malformed status line")
        assert conn["exchange"]["problem"].startswith("invalid")


wire_bytes = st.binary(min_size=0, max_size=60)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=wire_bytes, host=wire_bytes, reason=wire_bytes, sni=wire_bytes, status=wire_bytes)
def test_random_bytes_in_start_lines_headers_and_hellos(
    tmp_path: Path, path: bytes, host: bytes, reason: bytes, sni: bytes, status: bytes
) -> None:
    request = b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    response = b"HTTP/1.1 " + status + b" " + reason + b"\r\n\r\n"
    frames = exchange(request, response) + exchange(client_hello(sni), None, port=443, cport=40001)
    capture = write_pcap(tmp_path / "random.pcap", frames)
    for name, text in outputs(capture).items():
        assert not UNSAFE.search(text), (name, UNSAFE.findall(text))
        assert "Traceback" not in text


# --- output that cannot be written, input that cannot be decompressed ----------------


def many_connections(tmp_path: Path, n: int = 3000) -> Path:
    frames = []
    for i in range(n):
        frames += exchange(
            b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n", cport=10000 + i
        )
    return write_pcap(tmp_path / "many.pcap", frames)


def pcapdiff_sh(command: str) -> subprocess.CompletedProcess[str]:
    """A shell line with `pcapdiff` standing for this Python's pcapdiff."""
    line = command.replace("pcapdiff", f"{sys.executable} -m pcapdiff")
    return subprocess.run(
        ["bash", "-c", line], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_full_disk_a_closed_stdout_and_a_broken_pipe(tmp_path: Path) -> None:
    capture = many_connections(tmp_path)
    full = pcapdiff_sh(f"pcapdiff conns {capture} > /dev/full")
    assert full.returncode == 2
    assert full.stderr.strip() == "error: writing the output failed: No space left on device"
    closed = pcapdiff_sh(f"pcapdiff conns {capture} >&-")
    assert closed.returncode == 2
    assert "Traceback" not in closed.stderr
    assert closed.stderr.strip().startswith("error: ")
    piped = pcapdiff_sh(f"pcapdiff conns {capture} | head -n 1; echo exit=${{PIPESTATUS[0]}}")
    assert piped.stdout.splitlines()[-1] == "exit=2"
    assert (
        piped.stderr.strip() == "error: the output was closed before it was complete (broken pipe)"
    )


def corrupt(data: bytes, at: float) -> bytes:
    """``data`` with 64 bytes at fraction ``at`` of it overwritten."""
    pos = max(20, int(len(data) * at))
    return data[:pos] + bytes(range(64)) + data[pos + 64 :]


def test_bad_compressed_data_is_one_line(tmp_path: Path) -> None:
    import gzip
    import lzma

    plain = many_connections(tmp_path, 300).read_bytes()
    cases = {
        "start.pcap.gz": corrupt(gzip.compress(plain), 0.0),
        "middle.pcap.gz": corrupt(gzip.compress(plain), 0.5),
        "start.pcap.xz": corrupt(lzma.compress(plain), 0.0),
        "middle.pcap.xz": corrupt(lzma.compress(plain), 0.5),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        for command in (
            f"pcapdiff conns {path}",
            f"pcapdiff conns - < {path}",
            f"pcapdiff compare {path} {path}",
        ):
            proc = pcapdiff_sh(command)
            assert proc.returncode == 2, (command, proc.stderr)
            assert "Traceback" not in proc.stderr
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1, (command, proc.stderr)
            assert lines[0].startswith("error: ")
            assert name in lines[0] or "<stdin>" in lines[0] or "-" in lines[0], lines[0]


def test_json_cut_by_an_error_is_still_a_document(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "late.pcap.gz"
    # past the reader's first 1 MiB, and past connections that closed long before
    path.write_bytes(corrupt(gzip.compress(many_connections(tmp_path, 5000).read_bytes()), 0.9))
    proc = pcapdiff_sh(f"pcapdiff conns --json {path}")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["error"] is not None
    assert doc["error"] in proc.stderr
    assert doc["summary"]["connections"] == len(doc["connections"]) > 0


# --- options and sidecars ---------------------------------------------------------------


def test_non_finite_numbers_are_refused_by_every_option(tmp_path: Path) -> None:
    capture = ROOT / "fixtures" / "pcaps" / "conns" / "http_ok.pcap"
    runner = CliRunner()
    commands = [
        ["compare", str(capture), "--clock-offset", "{}"],
        ["conns", str(capture), "--idle-timeout", "{}"],
        ["probe", "http://www.example.com/", "--origin-ip", "192.0.2.1", "--connect-timeout", "{}"],
        ["probe", "http://www.example.com/", "--origin-ip", "192.0.2.1", "--read-timeout", "{}"],
        ["probe", "http://www.example.com/", "--origin-ip", "192.0.2.1", "--interval", "{}"],
        ["capture", "--role", "edge", "-o", str(tmp_path / "x.pcap"), "--duration", "{}"],
    ]
    for command in commands:
        for value in ("nan", "inf", "-inf", "1e300"):
            args = [a.replace("{}", value) for a in command]
            result = runner.invoke(cli, args, env=ENV)
            assert result.exit_code == 2, (args, result.output)
            assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("sidecar", "field"),
    [
        ({"start": "abcd"}, "start"),
        ({"clock": []}, "clock"),
        ({"clock": None}, "clock"),
        ({"start": None}, "start"),
        ({"stop": True}, "stop"),
    ],
)
def test_a_bad_sidecar_is_a_warning_naming_the_field(
    tmp_path: Path, sidecar: dict[str, object], field: str
) -> None:
    capture = tmp_path / "origin.pcap"
    capture.write_bytes((ROOT / "fixtures" / "pcaps" / "conns" / "http_ok.pcap").read_bytes())
    good = {
        "schema": "pcapdiff/capture-meta/1",
        "role": "origin",
        "host": "web1",
        "interface": "eth0",
        "filter": "tcp",
        "argv": [],
        "tool_version": "tcpdump",
        "start": 1_700_000_000.0,
        "clock": {},
    }
    (tmp_path / "origin.pcap.json").write_text(json.dumps({**good, **sidecar}))
    result = compare(ROOT / "fixtures" / "pcaps" / "conns" / "http_ok.pcap", capture)
    problems = [w for w in result.warnings if "sidecar is ignored" in w]
    assert len(problems) == 1
    assert f"field {field!r}" in problems[0]
    assert result.verdicts  # the capture itself was analysed


# --- pcapng blocks shorter than their fixed fields -----------------------------------


def pcapng(*blocks: bytes) -> bytes:
    return b"".join(blocks)


def block(block_type: int, body: bytes, length: int | None = None) -> bytes:
    """A pcapng block whose length field says ``length`` (default: the truth)."""
    import struct

    real = 12 + len(body)
    told = real if length is None else length
    return struct.pack("<II", block_type, told) + body + struct.pack("<I", told)


def test_short_pcapng_blocks(tmp_path: Path) -> None:
    import struct

    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", 1, 0, 65535))

    def run(data: bytes) -> tuple[int, str, str]:
        path = tmp_path / "f.pcapng"
        path.write_bytes(data)
        proc = pcapdiff_sh(f"pcapdiff conns --json {path}")
        return proc.returncode, proc.stdout, proc.stderr

    # A packet block that claims 12 or 16 bytes: counted, skipped, the rest still read.
    for length in (12, 16):
        code, out, _ = run(
            pcapng(shb, idb, block(6, b"", length=length)[: length - 4] + struct.pack("<I", length))
        )
        assert code == 0, out
        assert json.loads(out)["capture"]["anomalies"] == {"truncated_block": 1}
    for bad in (
        pcapng(shb[:8] + struct.pack("<I", 12)[:0] + struct.pack("<I", 0x1A2B3C4D)),  # SHB cut
        pcapng(block(0x0A0D0D0A, b"", length=12)),  # an SHB of 12 bytes
        pcapng(shb, block(1, b"", length=12)),  # an IDB of 12 bytes
        pcapng(shb[:4]),  # a file of 4 bytes
        pcapng(shb[:8]),  # and of 8
    ):
        code, _, err = run(bad)
        assert code == 2, err
        assert err.count("\n") == 1
        assert err.startswith("error: ")


def test_capture_to_stdout_is_refused_and_failures_quote_the_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["capture", "--role", "edge", "-o", "-"], env=ENV)
    assert result.exit_code == 2
    assert "'-' is not a file" in result.output
    assert not Path("-.json").exists()
    from pcapdiff.capture.run import _one_line

    line = _one_line(["tcpdump", "-i", "eth0", "-w", "a;b $(reboot).pcap"], "no such device\n")
    assert "(command: tcpdump -i eth0 -w 'a;b $(reboot).pcap')" in line


def test_sidecar_text_is_escaped(tmp_path: Path) -> None:
    capture = tmp_path / "origin.pcap"
    capture.write_bytes((ROOT / "fixtures" / "pcaps" / "conns" / "http_ok.pcap").read_bytes())
    sidecar = {
        "schema": "pcapdiff/capture-meta/1",
        "role": "edge\x1b[2J",
        "host": "web1\x1b]0;pwned\x07\u202e",
        "interface": "eth0",
        "filter": "tcp",
        "argv": [],
        "tool_version": "tcpdump",
        "start": 1_700_000_000.0,
        "clock": {"synchronized": False, "source": "chronyc\x9b"},
    }
    (tmp_path / "origin.pcap.json").write_text(json.dumps(sidecar))
    result = CliRunner().invoke(
        cli,
        ["compare", str(ROOT / "fixtures" / "pcaps" / "conns" / "http_ok.pcap"), str(capture)],
        env=ENV,
    )
    shown = result.stdout + result.stderr
    assert "web1\\x1b]0;pwned\\x07\\u202e" in shown
    assert not UNSAFE.search(shown), UNSAFE.findall(shown)
