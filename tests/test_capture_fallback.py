"""The scapy fallback of `pcapdiff capture`: the ring writer, the Python filter held to
tcpdump's own filtering, and live captures with tcpdump hidden, checked against a real
tcpdump capturing the same traffic."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP

from pcapdiff import read_connections
from pcapdiff.capture import bpf_filter, read_sidecar
from pcapdiff.capture.ring import RingWriter
from pcapdiff.capture.spec import PacketMatcher
from pcapdiff.read import read

from .conftest import loopback_namespace
from .test_capture import ADDR, PORT, capture_command, wait_for

SLL2 = struct.Struct(">HHIHBB8s")


def sll2(proto: int, network: bytes) -> bytes:
    return SLL2.pack(proto, 0, 2, 1, 0, 6, b"\x02\x00\x00\x00\x00\x01\0\0") + network


def frames(path: Path) -> list[bytes]:
    return [fr.data for fr in read(path)]


# --- the ring writer -----------------------------------------------------------------


@pytest.mark.requires_tshark
@pytest.mark.parametrize("pcapng", [False, True], ids=["pcap", "pcapng"])
def test_ring_writer_files_read_back_here_and_in_tshark(tmp_path: Path, pcapng: bool) -> None:
    out = tmp_path / "c.pcap"
    packets = [
        bytes(IP(src="192.0.2.1", dst="192.0.2.2", id=i) / TCP() / (b"x" * i)) for i in range(7)
    ]
    writer = RingWriter(out, snaplen=262144, pcapng=pcapng)
    for i, pkt in enumerate(packets):
        writer.write(1_700_000_000_123_456_789 + i, sll2(0x0800, pkt), len(pkt) + 20)
    writer.close()
    got = list(read(out))
    assert [fr.data[20:] for fr in got] == packets
    assert got[0].ts_ns == 1_700_000_000_123_456_789
    assert {fr.linktype for fr in got} == {276}
    assert [fr.wire_len for fr in got] == [len(p) + 20 for p in packets]
    shark = subprocess.run(
        ["tshark", "-r", str(out), "-T", "fields", "-e", "ip.id", "-e", "frame.time_epoch"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert [line.split("\t")[0] for line in shark if line] == [f"0x{i:04x}" for i in range(7)]
    assert shark[0].split("\t")[1].startswith("1700000000.123456789")


def test_ring_writer_rotates_like_tcpdump_and_keeps_the_newest(tmp_path: Path) -> None:
    out = tmp_path / "ring.pcap"
    writer = RingWriter(out, snaplen=65535, max_size_mb=1, files=3)
    payload = bytes(IP(src="192.0.2.1", dst="192.0.2.2") / TCP() / (b"x" * 1400))
    total = 3000  # 4.3 MB: four rotations through three files
    for i in range(total):
        writer.write(i * 1000, sll2(0x0800, payload), len(payload) + 20)
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ring.pcap0", "ring.pcap1", "ring.pcap2"]  # tcpdump -C 1 -W 3's names
    counts = {p.name: len(frames(p)) for p in tmp_path.iterdir()}
    assert all(os.path.getsize(tmp_path / n) < 1_000_000 + 2000 for n in names)
    newest = tmp_path / f"ring.pcap{writer.index}"
    last = list(read(newest))[-1]
    assert last.ts_ns == (total - 1) * 1000  # the newest packet is kept
    assert sum(counts.values()) < total  # the oldest were overwritten, as a ring does


# --- the Python filter, held to tcpdump's own filtering ------------------------------


def filter_probe_packets() -> list[bytes]:
    """Frames that tell the filter's parts apart, each tagged by its position."""
    v4: list[bytes] = []
    for i, (src, dst, l4) in enumerate(
        [
            ("198.51.100.7", "203.0.113.10", TCP(sport=40000, dport=80)),
            ("203.0.113.10", "198.51.100.7", TCP(sport=80, dport=40000)),
            ("198.51.100.7", "203.0.113.10", TCP(sport=40000, dport=443)),
            ("198.51.100.7", "203.0.113.10", TCP(sport=40000, dport=8080)),
            ("192.0.2.99", "203.0.113.10", TCP(sport=40000, dport=80)),
            ("198.51.100.7", "203.0.113.10", UDP(sport=40000, dport=80)),
            ("198.51.100.7", "203.0.113.10", ICMP()),
            ("192.0.2.99", "192.0.2.98", ICMP()),
        ]
    ):
        v4.append(bytes(IP(src=src, dst=dst, id=i) / l4 / b"probe"))
    first = IP(src="198.51.100.7", dst="203.0.113.10", id=50, flags="MF") / TCP(dport=80)
    # a later fragment whose bytes look like a TCP header to port 80: BPF's `port`
    # looks only at first fragments
    later = IP(src="198.51.100.7", dst="203.0.113.10", id=51, frag=4, proto=6) / bytes(
        TCP(sport=40000, dport=80)
    )
    v4 += [bytes(first), bytes(later)]
    # A router's errors: about a packet to a peer (kept), about someone else's (dropped).
    quoted = bytes(IP(src="198.51.100.7", dst="203.0.113.10") / TCP(sport=40000, dport=80))
    other = bytes(IP(src="192.0.2.99", dst="192.0.2.98") / TCP(sport=40000, dport=80))
    v4 += [
        bytes(IP(src="192.0.2.1", dst="198.51.100.7", id=60) / ICMP(type=3, code=1) / quoted[:28]),
        bytes(IP(src="192.0.2.1", dst="192.0.2.99", id=61) / ICMP(type=3, code=4) / other[:28]),
        bytes(IP(src="192.0.2.1", dst="198.51.100.7", id=62) / ICMP(type=11) / quoted[:28]),
        bytes(IP(src="192.0.2.1", dst="198.51.100.7", id=63) / ICMP(type=8) / quoted[:28]),
    ]
    v6 = [
        bytes(IPv6(src="2001:db8::7", dst="2001:db8:1::10") / TCP(sport=40000, dport=80)),
        bytes(IPv6(src="2001:db8::7", dst="2001:db8:1::10") / TCP(sport=40000, dport=22)),
        bytes(IPv6(src="2001:db8::7", dst="2001:db8:1::10") / ICMPv6EchoRequest()),
        bytes(
            IPv6(src="2001:db8::7", dst="2001:db8:1::10")
            / IPv6ExtHdrHopByHop()
            / TCP(sport=40000, dport=80)
        ),
        bytes(IPv6(src="2001:db9::7", dst="2001:db9::10") / TCP(sport=40000, dport=80)),
    ]
    arp = bytes(ARP(psrc="198.51.100.7", pdst="203.0.113.10"))
    return [sll2(0x0800, p) for p in v4] + [sll2(0x86DD, p) for p in v6] + [sll2(0x0806, arp)]


@pytest.mark.requires_tcpdump
@pytest.mark.parametrize(
    ("peers", "ports"),
    [
        ((), ()),
        ((), (80,)),
        (("198.51.100.7",), (80, 443)),
        (("203.0.113.0/24",), ()),
        (("2001:db8::/32",), (80,)),
        (("192.0.2.99", "2001:db8:1::10"), (80,)),
    ],
)
def test_python_filter_keeps_exactly_what_tcpdump_keeps(
    tmp_path: Path, peers: tuple[str, ...], ports: tuple[int, ...]
) -> None:
    probe = tmp_path / "probe.pcap"
    writer = RingWriter(probe, snaplen=65535)
    sent = filter_probe_packets()
    for i, frame in enumerate(sent):
        writer.write(i * 1_000_000, frame, len(frame))
    writer.close()
    kept_by_tcpdump = tmp_path / "kept.pcap"
    subprocess.run(
        ["tcpdump", "-r", str(probe), "-w", str(kept_by_tcpdump), bpf_filter(peers, ports)],
        capture_output=True,
        check=True,
    )
    matcher = PacketMatcher(peers, ports)
    ours = [f for f in sent if matcher(int.from_bytes(f[:2], "big"), f[20:])]
    theirs = frames(kept_by_tcpdump)
    assert ours == theirs
    assert 0 < len(theirs) < len(sent) or not (peers or ports)


V4_POOL = ["198.51.100.7", "203.0.113.10", "192.0.2.99"]
V6_POOL = ["2001:db8::7", "2001:db8:1::10", "2001:db9::1"]
PORT_POOL = [80, 443, 8080, 40000]


@st.composite
def random_packet(draw: st.DrawFn) -> bytes:
    """An IPv4 or IPv6 packet from small pools, so that filters match some of them;
    any protocol number on either IP version (ICMP is 1 on IPv4, 58 on IPv6 only)."""
    v6 = draw(st.booleans())
    pool = V6_POOL if v6 else V4_POOL
    src, dst = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
    proto = draw(st.sampled_from([1, 6, 17, 47, 58]))
    sport, dport = draw(st.sampled_from(PORT_POOL)), draw(st.sampled_from(PORT_POOL))
    l4 = bytes(TCP(sport=sport, dport=dport) if proto == 6 else UDP(sport=sport, dport=dport))
    if proto in (1, 58) and draw(st.booleans()):
        # an ICMP error (or not) from a router, quoting a packet between two pool hosts,
        # the quote cut anywhere
        q_src, q_dst = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
        inner = IPv6(src=q_src, dst=q_dst) if v6 else IP(src=q_src, dst=q_dst)
        quote = bytes(inner / TCP(sport=sport, dport=dport))
        quote = quote[: draw(st.integers(0, len(quote)))]
        icmp_type = draw(st.sampled_from([1, 2, 3, 4, 128] if v6 else [3, 8, 11, 12]))
        l4 = bytes([icmp_type, 0, 0, 0, 0, 0, 0, 0]) + quote
        src = draw(st.sampled_from(["2001:db8:ff::1", src] if v6 else ["192.0.2.1", src]))
    if v6:
        return sll2(0x86DD, bytes(IPv6(src=src, dst=dst, nh=proto) / l4))
    frag = draw(st.sampled_from([0, 0, 0, 3]))  # now and then a later fragment
    return sll2(0x0800, bytes(IP(src=src, dst=dst, frag=frag, proto=proto) / l4))


@pytest.mark.requires_tcpdump
@settings(
    max_examples=int(os.environ.get("PCAPDIFF_FILTER_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    packets=st.lists(random_packet(), min_size=1, max_size=60),
    peers=st.lists(
        st.sampled_from(V4_POOL + V6_POOL + ["203.0.113.0/24", "2001:db8::/32"]), max_size=2
    ),
    ports=st.lists(st.sampled_from(PORT_POOL), max_size=2),
)
def test_python_filter_agrees_with_tcpdump_on_random_packets(
    tmp_path_factory: pytest.TempPathFactory,
    packets: list[bytes],
    peers: list[str],
    ports: list[int],
) -> None:
    folder = tmp_path_factory.mktemp("random")
    probe = folder / "probe.pcap"
    writer = RingWriter(probe, snaplen=65535)
    for i, frame in enumerate(packets):
        writer.write(i * 1_000, frame, len(frame))
    writer.close()
    kept = folder / "kept.pcap"
    flt = bpf_filter(tuple(peers), tuple(ports))
    subprocess.run(
        ["tcpdump", "-r", str(probe), "-w", str(kept), flt], capture_output=True, check=True
    )
    matcher = PacketMatcher(tuple(peers), tuple(ports))
    assert [f for f in packets if matcher(int.from_bytes(f[:2], "big"), f[20:])] == frames(kept)


# --- live, with tcpdump hidden from PATH ---------------------------------------------

OTHER_PORT = 8081

TRAFFIC = f"""
import socket, threading, time
def serve_once(port):
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("{ADDR}", port)); srv.listen()
    def serve():
        conn, _ = srv.accept(); conn.recv(1000)
        conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"); conn.close()
    threading.Thread(target=serve, daemon=True).start()
for port in ({PORT}, {OTHER_PORT}):
    serve_once(port)
    c = socket.create_connection(("{ADDR}", port), timeout=5)
    c.sendall(b"GET / HTTP/1.1\\r\\nHost: origin.example\\r\\n\\r\\n")
    while c.recv(1000): pass
    c.close()
time.sleep(0.3)
"""

FILTER = bpf_filter([ADDR], [PORT])


def run_traffic(ns: str) -> None:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", TRAFFIC],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.requires_root
@pytest.mark.requires_tcpdump
@pytest.mark.requires_tshark
@pytest.mark.parametrize(
    ("interface", "pcapng"), [("any", False), ("lo", False), ("any", True)], ids=str
)
def test_fallback_captures_what_tcpdump_captures(
    tmp_path: Path, interface: str, pcapng: bool
) -> None:
    no_tools = tmp_path / "bin"  # a PATH without tcpdump or dumpcap
    no_tools.mkdir()
    ours, theirs = tmp_path / "scapy.pcap", tmp_path / "tcpdump.pcap"
    extra = ["--pcapng"] if pcapng else []
    with loopback_namespace("f", ADDR) as ns:
        fallback = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "env",
                f"PATH={no_tools}",
                *capture_command(ours, interface, *extra),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        said = wait_for(fallback, "capturing:")
        tool = "dumpcap" if pcapng else "tcpdump"
        assert f"{tool} is not installed: capturing with scapy's sniffer instead" in said
        assert f"scapy {__import__('scapy').__version__} sniffer on {interface}" in said
        assert "kernel BPF compiled by libpcap" in said
        tcpdump = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "tcpdump",
                "-i",
                interface,
                "-n",
                "-U",
                "--immediate-mode",
                "-s",
                "0",
                "-Z",
                "root",
                "-w",
                str(theirs),
                FILTER,
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(tcpdump, "tcpdump: listening on")
        run_traffic(ns)
        time.sleep(0.5)
        for proc in (fallback, tcpdump):
            proc.send_signal(signal.SIGINT)
        rest = fallback.communicate(timeout=30)[1]
        tcpdump_says = tcpdump.communicate(timeout=30)[1]
    assert fallback.returncode == 0, rest
    assert f"wrote {ours}" in rest
    conns, summary = read_connections(ours)
    assert [c.conn_state for c in conns] == ["SF"]  # port 8081 was filtered out
    assert conns[0].request is not None
    assert conns[0].request.host == "origin.example"
    mine = frames(ours)
    # every packet tcpdump kept is in ours, byte for byte, link header included (tcpdump
    # itself sometimes reports kernel drops on a namespace's loopback; ours must not lose)
    tcpdump_frames = frames(theirs)
    assert tcpdump_frames
    assert set(tcpdump_frames) <= set(mine)
    assert len(mine) == len(set(mine))  # loopback's outgoing copies were left out
    if "0 packets dropped by kernel" in tcpdump_says:
        assert mine == tcpdump_frames
    analysis = subprocess.run(
        [
            "tshark",
            "-r",
            str(ours),
            "-Y",
            "tcp.analysis.flags",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert analysis == []  # no duplicate, lost or out-of-order segment
    meta = read_sidecar(ours)
    assert meta is not None
    assert meta.sniffer == "scapy"
    assert ours.read_bytes()[:4] == (b"\x0a\x0d\x0d\x0a" if pcapng else b"\x4d\x3c\xb2\xa1")
    assert meta.tool_version.startswith("scapy ")
    assert meta.filter == FILTER
    assert meta.packets_captured == summary.packets == len(mine)
    assert meta.stop is not None
    assert meta.stop > meta.start


@pytest.mark.requires_root
def test_fallback_filters_in_python_without_libpcap_and_stops_at_count(tmp_path: Path) -> None:
    out = tmp_path / "py.pcap"
    script = f"""
import sys
from pathlib import Path
from pcapdiff.capture.spec import CaptureSpec
from pcapdiff.capture.sniff import sniff_capture
spec = CaptureSpec(role="origin", output=Path({str(out)!r}), interface="lo",
                   peers=({ADDR!r},), ports=({PORT},), count=4, duration_s=30)
result = sniff_capture(spec, kernel_filter=False, started=lambda what: print(what, flush=True))
print("captured", result.meta.packets_captured, flush=True)
"""
    with loopback_namespace("p", ADDR) as ns:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        said = proc.stdout.readline()
        assert "filtered in Python" in said, said + (proc.stderr.read() if proc.stderr else "")
        run_traffic(ns)
        started = time.monotonic()
        out_text, err_text = proc.communicate(timeout=30)
    assert proc.returncode == 0, err_text
    assert time.monotonic() - started < 20  # --count stopped it, not the 30 s duration
    assert "captured 4" in out_text
    got = frames(out)
    assert len(got) == 4
    assert {fr.linktype for fr in read(out)} == {1}  # lo is Ethernet-framed, as tcpdump -i lo
    ports = {struct.unpack(">HH", f[34:38]) for f in got}  # Ethernet 14 + IPv4 20, then ports
    assert all(PORT in pair for pair in ports)


@pytest.mark.requires_root
@pytest.mark.requires_tcpdump
@pytest.mark.parametrize("sniffer", ["scapy", "tcpdump"])
def test_no_right_to_capture_is_one_line(tmp_path: Path, sniffer: str) -> None:
    """Root without CAP_NET_RAW (dropped from the bounding set) cannot open a packet
    socket: one line, exit 2, whichever sniffer."""
    path = [f"PATH={tmp_path}"] if sniffer == "scapy" else []  # hides tcpdump
    done = subprocess.run(
        [
            "setpriv",
            "--bounding-set=-net_raw",
            "env",
            *path,
            *capture_command(tmp_path / "x.pcap", "lo"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    error = done.stderr.splitlines()[-1]
    assert error.startswith("error: ")
    assert "capturing needs root or CAP_NET_RAW" in error
    if sniffer == "tcpdump":
        assert "You don't have permission to perform this capture on that device" in error
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.pcap.json").exists()


def run_without_tcpdump(
    tmp_path: Path, *args: str, hide_scapy: bool = False
) -> subprocess.CompletedProcess[str]:
    """`pcapdiff capture ARGS` with a PATH that has no tcpdump (and, if asked, with
    scapy unimportable, as where it is not installed)."""
    hide = "sys.modules['scapy'] = None; " if hide_scapy else ""
    code = f"import sys; {hide}from pcapdiff.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "capture", *args],
        env={**os.environ, "PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_tcpdump_or_scapy_is_one_line(tmp_path: Path) -> None:
    done = run_without_tcpdump(
        tmp_path, "--role", "edge", "-o", str(tmp_path / "x.pcap"), hide_scapy=True
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "error: neither tcpdump nor scapy is installed (apt-get install tcpdump, "
        "or pip install scapy for the fallback sniffer)"
    )


@pytest.mark.requires_root
def test_fallback_on_a_missing_interface_is_one_line(tmp_path: Path) -> None:
    done = run_without_tcpdump(
        tmp_path, "--role", "edge", "-i", "nosuchif0", "-o", str(tmp_path / "x.pcap")
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == "error: cannot capture on nosuchif0: No such device"
    assert not (tmp_path / "x.pcap").exists()


@pytest.mark.requires_root
def test_fallback_duration_and_rotation_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "ring.pcap"
    with loopback_namespace("r", ADDR) as ns:
        done = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "env",
                f"PATH={tmp_path}",
                *capture_command(out, "lo"),
                "--duration",
                "1",
                "--max-size",
                "1",
                "--files",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.glob("ring.pcap*")) == ["ring.pcap.json", "ring.pcap0"]
    assert frames(tmp_path / "ring.pcap0") == []  # a quiet second: a valid, empty file
    meta = read_sidecar(out)
    assert meta is not None
    assert meta.stop is not None
    assert meta.stop - meta.start >= 1.0
    assert read_sidecar(tmp_path / "ring.pcap0") == meta  # each rotated file finds it


BULK = f"""
import socket, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("{ADDR}", {PORT})); srv.listen()
def drain():
    conn, _ = srv.accept()
    while conn.recv(1 << 20): pass
    conn.close()
t = threading.Thread(target=drain); t.start()
c = socket.create_connection(("{ADDR}", {PORT}), timeout=10)
c.sendall(b"x" * (4 << 20)); c.shutdown(socket.SHUT_WR)
while c.recv(1000): pass
c.close(); t.join(10)
"""


@pytest.mark.requires_root
@pytest.mark.requires_tcpdump
@pytest.mark.parametrize("sniffer", ["tcpdump", "scapy"])
def test_rotation_keeps_the_newest_packets(tmp_path: Path, sniffer: str) -> None:
    """4 MB through a ring of two 1 MB files: the oldest packets (the SYN) are
    overwritten, the newest (both FINs) are kept, in tcpdump's file names."""
    out = tmp_path / "ring.pcap"
    path = ["env", f"PATH={tmp_path}"] if sniffer == "scapy" else []
    with loopback_namespace("w", ADDR) as ns:
        proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                *path,
                *capture_command(out, "lo"),
                "--max-size",
                "1",
                "--files",
                "2",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(proc, "capturing:")
        done = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", BULK],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0, rest
    files = sorted(tmp_path.glob("ring.pcap[0-9]"))
    assert [f.name for f in files] == ["ring.pcap0", "ring.pcap1"]
    records = {f: list(read(f)) for f in files}
    newest = max(files, key=lambda f: records[f][-1].ts_ns)
    flags = [fr.data[14 + 20 + 13] for fr in records[newest]]  # Ethernet, IPv4, TCP flags
    assert sum(1 for f in flags if f & 0x01) == 2  # both FINs are in the newest file
    every = [fr for f in files for fr in records[f]]
    assert not any(fr.data[14 + 20 + 13] & 0x02 for fr in every)  # the SYNs were overwritten
    assert all(f.stat().st_size < 1_000_000 + 70_000 for f in files)  # one packet over, at most
    # It names the files it wrote, not the base name, and the command for the ring.
    assert f"wrote {files[0]}, {files[1]} (" in rest, rest
    assert f"compare the whole ring with: pcapdiff compare edge.pcap {out}\n" in rest, rest
    listed = subprocess.run(
        [sys.executable, "-m", "pcapdiff", "conns", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["capture"]["packets"] == len(every)  # the base name read the whole ring
    (conn,) = doc["connections"]  # one connection, across both files
    assert "S" not in conn["history"]  # its SYN was overwritten
    assert "F" in conn["history"]
    assert "f" in conn["history"]
    named = {conn["first_frame"].split("#")[0], conn["last_frame"].split("#")[0]}
    assert named == {str(f) for f in files}  # frames cited in each file's own numbering


@pytest.mark.requires_root
def test_fallback_output_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    for out, why in (
        (tmp_path / "no" / "x.pcap", "No such file or directory"),
        (Path("/dev/full"), "No space left on device"),
    ):
        done = run_without_tcpdump(
            tmp_path, "--role", "edge", "-i", "lo", "--duration", "1", "-o", str(out)
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines()[-1] == f"error: cannot write {out}: {why}"
        assert "Traceback" not in done.stderr


@pytest.mark.requires_root
@pytest.mark.requires_tcpdump
@pytest.mark.parametrize("sniffer", ["scapy", "tcpdump"])
def test_disk_full_mid_capture_is_one_line(tmp_path: Path, sniffer: str) -> None:
    """A 64 KiB tmpfs (in a mount namespace of its own) fills up during a 4 MB
    transfer. The fallback stops at once; tcpdump does not notice, so when it is
    stopped its count is held against the file. Either way: why, one line, exit 2."""
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "full.pcap"
    capture = " ".join(shlex.quote(a) for a in capture_command(out, "lo"))
    mount, unshare, shell = (shutil.which(t) for t in ("mount", "unshare", "sh"))
    path = f"PATH={tmp_path}" if sniffer == "scapy" else f"PATH={os.environ['PATH']}"
    assert mount  # util-linux: beside iproute2 on every Linux
    assert unshare
    assert shell
    script = f"{mount} -t tmpfs -o size=64k none {shlex.quote(str(disk))} && exec {capture}"
    with loopback_namespace("d", ADDR) as ns:
        proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "env",
                path,
                unshare,
                "-m",
                shell,
                "-c",
                script,
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(proc, "capturing:")
        subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", BULK],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if sniffer == "tcpdump":
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
        try:
            rest = proc.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the capture did not stop when the disk was full")
    assert proc.returncode == 2, rest
    last = rest.splitlines()[-1]
    assert "Traceback" not in rest
    if sniffer == "scapy":
        assert last.startswith("error: the capture stopped after ")
        assert f"(writing {out}: No space left on device); {out} holds what was captured" in last
    else:
        assert re.fullmatch(
            rf"error: tcpdump captured \d+ packets but {re.escape(str(out))} holds \d+: "
            r"writing it failed \(is the disk full\?\)",
            last,
        ), last
