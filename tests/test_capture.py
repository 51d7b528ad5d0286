"""pcapdiff capture: filters, argv, clean stops, the sidecar, and compare reading it."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcapdiff import compare, read_connections
from pcapdiff.capture import CaptureSpec, bpf_filter, capture_argv, read_sidecar
from pcapdiff.capture.sidecar import CaptureMeta, write_sidecar
from pcapdiff.cli import main

from .conftest import ROOT, loopback_namespace


def test_filter_for_hosts_networks_and_ports() -> None:
    assert bpf_filter(["198.51.100.7"], [80]) == (
        "((host 198.51.100.7) and ((tcp and (port 80)) or icmp or icmp6))"
        " or (icmp and (icmp[0] = 3 or icmp[0] = 11 or icmp[0] = 12)"
        " and (icmp[20:4] = 0xc6336407 or icmp[24:4] = 0xc6336407))"
    )
    assert bpf_filter(["198.51.100.0/24", "2001:db8::/32", "2001:db8::1"], [80, 443]) == (
        "((net 198.51.100.0/24 or net 2001:db8::/32 or host 2001:db8::1) and "
        "((tcp and (port 80 or port 443)) or icmp or icmp6))"
        " or (icmp and (icmp[0] = 3 or icmp[0] = 11 or icmp[0] = 12)"
        " and (icmp[20:4] & 0xffffff00 = 0xc6336400 or icmp[24:4] & 0xffffff00 = 0xc6336400))"
        " or (icmp6 and (ip6[40] = 1 or ip6[40] = 2 or ip6[40] = 3 or ip6[40] = 4)"
        " and (ip6[56:4] = 0x20010db8 or ip6[72:4] = 0x20010db8"
        " or (ip6[56:4] = 0x20010db8 and ip6[60:4] = 0x00000000 and ip6[64:4] = 0x00000000"
        " and ip6[68:4] = 0x00000001)"
        " or (ip6[72:4] = 0x20010db8 and ip6[76:4] = 0x00000000 and ip6[80:4] = 0x00000000"
        " and ip6[84:4] = 0x00000001)))"
    )
    assert bpf_filter([], []) == "(tcp or icmp or icmp6)"
    with pytest.raises(ValueError, match="not an IP address"):
        bpf_filter(["origin.example.com"], [])


def test_tcpdump_argv() -> None:
    spec = CaptureSpec(
        role="origin",
        output=Path("o.pcap"),
        peers=("198.51.100.0/24",),
        ports=(443,),
        count=100,
        max_size_mb=50,
        files=4,
    )
    argv = capture_argv(spec)
    assert argv[:3] == ["tcpdump", "-i", "any"]
    for flag in ("-n", "-U", "--immediate-mode"):
        assert flag in argv
    assert argv[argv.index("-s") + 1] == "0"  # whole packets: payload is evidence
    assert argv[argv.index("-B") + 1] == "16384"  # KiB: bursts are not dropped
    assert argv[argv.index("-Z") + 1] == "root"  # rotated files need the rights
    assert argv[argv.index("-w") + 1] == "o.pcap"
    assert argv[argv.index("-c") + 1] == "100"
    assert argv[argv.index("-C") + 1] == "50"
    assert argv[argv.index("-W") + 1] == "4"  # a ring: the newest files are kept
    assert argv[-1] == bpf_filter(["198.51.100.0/24"], [443])


def test_dumpcap_argv_for_pcapng() -> None:
    spec = CaptureSpec(
        role="edge", output=Path("e.pcapng"), ports=(80,), pcapng=True, max_size_mb=10, files=3
    )
    argv = capture_argv(spec, "dumpcap")
    assert argv[:2] == ["dumpcap", "-q"]
    assert argv[argv.index("-f") + 1] == bpf_filter([], [80])
    assert argv[argv.index("-B") + 1] == "16"  # MiB, dumpcap's unit
    assert "filesize:10000" in argv
    assert "files:3" in argv


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--role", "edge", "--peer", "origin.example.com", "-o", "x.pcap"],
            "--peer: 'origin.example.com' is not an address",
        ),
        (["--role", "middle", "-o", "x.pcap"], "'middle' is not one of"),
        (["--role", "edge"], "Missing option '-o'"),
        (["--role", "edge", "--port", "0", "-o", "x.pcap"], "--port: 0 is not in the range"),
    ],
)
def test_bad_options_are_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["capture", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


@pytest.mark.requires_tcpdump
@pytest.mark.requires_root
def test_tcpdump_failure_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.pcap"
    assert main(["capture", "--role", "edge", "-i", "nosuchif0", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: tcpdump failed:")
    assert "nosuchif0" in err


# --- live: a namespace of our own, 192.0.2.1 on its loopback ------------------------

ADDR, PORT = "192.0.2.1", 8080


@pytest.fixture
def netns() -> Iterator[str]:
    with loopback_namespace("c", ADDR) as name:
        yield name


TRAFFIC = f"""
import socket, threading, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("{ADDR}", {PORT})); srv.listen()
def serve():
    conn, _ = srv.accept(); conn.recv(1000)
    conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"); conn.close()
threading.Thread(target=serve, daemon=True).start()
c = socket.create_connection(("{ADDR}", {PORT}), timeout=5)
c.sendall(b"GET / HTTP/1.1\\r\\nHost: origin.example\\r\\n\\r\\n")
while c.recv(1000): pass
c.close(); time.sleep(0.3)
"""


def capture_command(out: Path, interface: str, *extra: str) -> list[str]:
    """`pcapdiff capture` as the origin, for ADDR:PORT on ``interface``."""
    return [
        sys.executable,
        "-m",
        "pcapdiff",
        "capture",
        "--role",
        "origin",
        "--peer",
        ADDR,
        "--port",
        str(PORT),
        "-i",
        interface,
        "-o",
        str(out),
        *extra,
    ]


def wait_for(proc: subprocess.Popen[str], prefix: str) -> str:
    """Read stderr lines until one starts with prefix (bounded); returns what was read."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if line.startswith(prefix):
            return seen
        if not line and proc.poll() is not None:
            break
    pytest.fail(f"no {prefix!r} line; got: {seen!r}")


def start_capture(ns: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, *capture_command(out, "lo", *extra)],
        stderr=subprocess.PIPE,
        text=True,
    )
    line = wait_for(proc, "capturing:").splitlines()[-1]
    assert line.startswith("capturing: tcpdump -i lo"), line
    return proc


@pytest.mark.requires_tcpdump
@pytest.mark.requires_root
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_leaves_a_readable_capture_and_sidecar(
    netns: str, tmp_path: Path, stop: signal.Signals
) -> None:
    out = tmp_path / "origin.pcap"
    proc = start_capture(netns, out)
    traffic = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", TRAFFIC],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert traffic.returncode == 0, traffic.stderr
    proc.send_signal(stop)
    rest = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0, rest
    assert f"wrote {out}" in rest
    conns, summary = read_connections(out)
    assert summary.truncated_tail == ""
    assert [c.conn_state for c in conns] == ["SF"]
    assert conns[0].request is not None
    assert conns[0].request.host == "origin.example"
    meta = read_sidecar(out)
    assert meta is not None
    assert meta.role == "origin"
    assert meta.interface == "lo"
    assert meta.filter == bpf_filter([ADDR], [PORT])
    assert meta.argv[0] == "tcpdump"
    assert meta.interfaces["lo"] == ["127.0.0.1/8", "192.0.2.1/32", "::1/128"]  # the namespace's
    assert meta.stop is not None
    assert meta.stop >= meta.start
    assert meta.packets_captured == summary.packets
    assert "tcpdump version" in meta.tool_version


@pytest.mark.requires_tcpdump
@pytest.mark.requires_root
def test_duration_stops_by_itself(netns: str, tmp_path: Path) -> None:
    out = tmp_path / "o.pcap"
    proc = start_capture(netns, out, "--duration", "1")
    rest = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0, rest
    assert read_connections(out)[1].packets == 0
    meta = read_sidecar(out)
    assert meta is not None
    assert meta.stop is not None
    assert meta.stop - meta.start >= 1.0


def test_compare_reads_the_sidecars(tmp_path: Path) -> None:
    folder = ROOT / "fixtures" / "pcaps" / "compare" / "every_outcome"
    edge, origin = tmp_path / "edge.pcap", tmp_path / "origin.pcap"
    shutil.copy(folder / "edge.pcap", edge)
    shutil.copy(folder / "origin.pcap", origin)
    base = CaptureMeta(
        role="edge",
        host="edge-node-7",
        interface="any",
        filter="tcp",
        argv=["tcpdump"],
        tool_version="tcpdump version 4.99.3",
        start=1.0,
        clock={"source": "chronyc", "synchronized": False, "offset_s": 2.5},
    )
    write_sidecar(edge, base)
    write_sidecar(
        origin,
        CaptureMeta(
            **{
                **base.__dict__,
                "role": "edge",
                "host": "web1",
                "clock": {},
                "packets_dropped_by_kernel": 7,
            }
        ),
    )
    warnings = compare(edge, origin).warnings
    assert any("edge-node-7's clock was not synchronised" in w for w in warnings)
    assert any("given as the origin capture" in w and "web1" in w for w in warnings)
    assert any("kernel dropped 7 packets" in w for w in warnings)
    (tmp_path / "origin.pcap.json").write_text(json.dumps({"schema": "something else"}))
    assert not any("web1" in w for w in compare(edge, origin).warnings)


def test_sidecar_fields_are_exactly_the_documented_ones(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "json.md").read_text()
    section = text.split("schema `pcapdiff/capture-meta/1`", 1)[1]
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", section, flags=re.M))
    meta = CaptureMeta(
        role="edge",
        host="h",
        interface="any",
        filter="tcp",
        argv=[],
        tool_version="",
        start=1.0,
        clock={"source": None, "synchronized": None, "offset_s": None},
    )
    write_sidecar(tmp_path / "x.pcap", meta)
    written = json.loads((tmp_path / "x.pcap.json").read_text())
    emitted = set(written) | {f"clock.{k}" for k in written["clock"]}
    assert emitted == documented
    assert {f.name for f in dataclasses.fields(CaptureMeta)} <= documented
