"""Bounded cost whatever the input (issue 9): floods of fragments, one-byte segments,
RSTs and SYNs, and a time jump, each read in a fresh process whose wall time and peak
memory are measured. The limits are generous (several times what a 2-core CI machine
takes); they fail on quadratic time or memory that grows with the flood, not on a slow
hour."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .craft import ACK, ETH, PSH, RST, SYN, exchange, tcp_frame, write_pcap

# VmHWM, this process's own peak: ru_maxrss would carry the parent's across fork and exec.
MEASURE = """
import json, re, sys, time
from pcapdiff import scan_connections
t = time.monotonic()
scan = scan_connections(sys.argv[1])
count, ended_by, first = 0, set(), []
for conn in scan:  # streamed: memory is what the tracker holds, not the records
    count += 1
    ended_by.add(conn.ended_by)
    if len(first) < 3:
        first.append(conn)
status = open("/proc/self/status").read()
print(json.dumps({
    "seconds": time.monotonic() - t,
    "rss_mb": int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) / 1024,
    "connections": count,
    "ended_by": sorted(ended_by),
    "histories": [c.history for c in first],
    "anomalies": dict(scan.summary.anomalies),
    "omitted": [dict(c.omitted) for c in first],
}))
"""


def measure(capture: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(capture)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("baseline")
    return measure(
        write_pcap(
            folder / "small.pcap", exchange(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n")
        )
    )


def grew_mb(result: dict[str, object], baseline: dict[str, object]) -> float:
    return float(result["rss_mb"]) - float(baseline["rss_mb"])  # type: ignore[arg-type]


def ipv4_fragment(ident: int, offset: int, more: bool, body: bytes) -> bytes:
    flags = (0x2000 if more else 0) | (offset // 8)
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(body),
        ident,
        flags,
        64,
        6,
        0,
        b"\xc6\x33\x64\x07",
        b"\xcb\x00\x71\x0a",
    )
    return ETH + ip + body


def test_a_flood_of_fragments(tmp_path: Path, baseline: dict[str, object]) -> None:
    """The last fragment first, then 60,000 overlapping ones that never complete the
    datagram: once quadratic (126 s) and 1 GB of kept parts."""
    frames = [ipv4_fragment(7, 65000, False, b"z" * 16)]
    frames += [ipv4_fragment(7, 8 + (i % 7000) * 8, True, b"x" * 64) for i in range(60_000)]
    result = measure(write_pcap(tmp_path / "fragments.pcap", frames))
    assert float(result["seconds"]) < 30  # type: ignore[arg-type]
    assert grew_mb(result, baseline) < 60
    assert result["anomalies"] == {"fragment_overlap": 1}


def test_one_byte_segments(tmp_path: Path, baseline: dict[str, object]) -> None:
    """Request heads sent a byte a segment: once re-joined and re-parsed at every byte
    (8,191 segments: 5.5 s for one connection); the same through a TLS record header
    that promises 16 KB."""
    frames: list[bytes] = []
    for n, start in enumerate((b"GET /", b"\x16\x03\x01\x40\x00", b"GET /\n", b"POST /") * 2):
        cport = 41000 + n
        frames += [
            tcp_frame(True, SYN, 1000, 0, cport=cport),
            tcp_frame(False, SYN | ACK, 5000, 1001, cport=cport),
        ]
        stream = start + (b"\n" if n == 2 else b"a") * 8191
        frames += [
            tcp_frame(True, PSH | ACK, 1001 + i, 5001, stream[i : i + 1], cport=cport)
            for i in range(len(stream))
        ]
    result = measure(write_pcap(tmp_path / "bytes.pcap", frames))
    assert float(result["seconds"]) < 20  # type: ignore[arg-type]
    assert result["connections"] == 8


def test_a_flood_of_rsts_on_one_connection(tmp_path: Path, baseline: dict[str, object]) -> None:
    """400,000 RSTs with jumping sequence numbers: once 357 MB a million; now the first
    15 and the latest are kept, and the rest counted."""
    frames = exchange(b"GET / HTTP/1.1\r\n\r\n", None)[:4]
    frames += [tcp_frame(False, RST | ACK, 5001 + 1460 * i, 1019) for i in range(400_000)]
    result = measure(write_pcap(tmp_path / "rsts.pcap", frames))
    assert grew_mb(result, baseline) < 60
    assert float(result["seconds"]) < 60  # type: ignore[arg-type]
    (omitted,) = result["omitted"]  # type: ignore[misc]
    assert omitted == {"resets": 400_000 - 16}
    assert len(result["histories"][0]) <= 200  # type: ignore[index]


def test_a_syn_flood(tmp_path: Path, baseline: dict[str, object]) -> None:
    """120,000 half-open connections: the oldest beyond 50,000 are finalized, so memory
    stays bounded (a million once took 2.3 GB)."""
    frames = [
        tcp_frame(True, SYN, i * 7919, 0, cport=1024 + i % 60000, port=80 + i // 60000)
        for i in range(120_000)
    ]
    result = measure(write_pcap(tmp_path / "syns.pcap", frames))
    assert result["connections"] == 120_000
    assert "half_open_limit" in result["ended_by"]  # type: ignore[operator]
    assert grew_mb(result, baseline) < 300  # 50,000 live at most (~4 KB each)
    assert float(result["seconds"]) < 60  # type: ignore[arg-type]


def test_one_packet_stamped_in_2106_splits_nothing(tmp_path: Path) -> None:
    """The idle sweep must not follow a single outlier timestamp."""
    frames = exchange(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n")
    path = write_pcap(tmp_path / "jump.pcap", frames)
    data = bytearray(path.read_bytes())
    # frame 4 (the request) stamped in 2106: 4,290,000,000 s after the epoch
    pos = 24
    for _ in range(3):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        pos += 16 + caplen
    struct.pack_into("<I", data, pos, 4_290_000_000)
    path.write_bytes(bytes(data))
    result = measure(path)
    assert result["connections"] == 1
    assert result["histories"] == ["ShADdFf"]


def test_a_decompression_bomb_ends_quickly(tmp_path: Path) -> None:
    """A pcap header and then 1 GiB of zeros, gzip-compressed to about 1 MB (an 814-byte
    .bz2 of it once took 4.5 minutes): reading stops at the zeros, with a warning."""
    import gzip
    import time

    path = tmp_path / "bomb.pcap.gz"
    zeros = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        syn = exchange(b"GET / HTTP/1.1\r\n\r\n", None)[0]
        out.write(struct.pack("<IIII", 1_700_000_000, 0, len(syn), len(syn)) + syn)
        for _ in range(1024):
            out.write(zeros)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pcapdiff", "conns", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert time.monotonic() - started < 20
    assert proc.returncode == 0, proc.stderr
    assert "zero bytes" in proc.stderr
    strict = subprocess.run(
        [sys.executable, "-m", "pcapdiff", "conns", "--strict", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert strict.returncode == 2
    assert strict.stderr.count("\n") == 1


def test_a_run_of_zero_length_records_ends_quickly(tmp_path: Path) -> None:
    records = [struct.pack("<IIII", 1_700_000_000 + i, 0, 0, 0) for i in range(2_000_000)]
    path = tmp_path / "empty.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1) + b"".join(records))
    result = measure(path)
    assert float(result["seconds"]) < 5  # type: ignore[arg-type]


def test_compressed_input_beyond_the_ratio_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    import pcapdiff.read as read_module
    from pcapdiff import read_connections
    from pcapdiff.conns import ScanOptions
    from pcapdiff.errors import PcapFormatError

    monkeypatch.setattr(read_module, "RATIO_FLOOR_BYTES", 1 << 20)
    frames = [tcp_frame(True, ACK, 1000 + 1000 * i, 1, b"A" * 1000) for i in range(8000)]
    plain = write_pcap(tmp_path / "plain.pcap", frames).read_bytes()
    path = tmp_path / "squeezed.pcap.gz"
    path.write_bytes(gzip.compress(plain, 9))
    assert len(plain) > 50 * path.stat().st_size
    with pytest.raises(PcapFormatError, match="decompression bomb"):
        read_connections(path, ScanOptions(max_ratio=20))
    conns, _ = read_connections(path, ScanOptions(max_ratio=0))  # lifted
    assert conns


def test_negative_timestamps_split_nothing(tmp_path: Path) -> None:
    """pcapng's if_tsoffset can put every packet before 1970: a connection of 9,000
    packets (more than one sweep's worth) must stay one connection."""
    frames = exchange(b"GET / HTTP/1.1\r\n\r\n", None)[:4]
    frames += [tcp_frame(False, ACK | PSH, 5001 + 100 * i, 1019, b"y" * 100) for i in range(9000)]

    def pad(body: bytes) -> bytes:
        return body + b"\0" * (-len(body) % 4)

    def blk(kind: int, body: bytes) -> bytes:
        body = pad(body)
        return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    tsoffset = struct.pack("<HHq", 14, 8, -2_000_000_000)  # seconds added to every time
    out = [
        blk(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
        blk(1, struct.pack("<HHI", 1, 0, 65535) + tsoffset + struct.pack("<HH", 0, 0)),
    ]
    for i, frame in enumerate(frames):
        usec = 1_700_000_000 * 1_000_000 + i * 1000
        out.append(
            blk(
                6,
                struct.pack("<IIIII", 0, usec >> 32, usec & 0xFFFFFFFF, len(frame), len(frame))
                + frame,
            )
        )
    path = tmp_path / "negative.pcapng"
    path.write_bytes(b"".join(out))
    result = measure(path)
    assert result["connections"] == 1, result


def test_memory_follows_live_connections_not_the_file(tmp_path: Path) -> None:
    """The same origin-pull traffic, 100,000 and 500,000 packets of one request per
    connection (the most connections a packet): the peak must not grow with the file.
    (A tracker that kept a reference to every connection it had seen begin failed this.)"""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from synth_capture import write_capture

    small, big = tmp_path / "small.pcap", tmp_path / "big.pcap"
    write_capture(small, 100_000, max_requests=1)
    write_capture(big, 500_000, max_requests=1)
    grew = float(measure(big)["rss_mb"]) - float(measure(small)["rss_mb"])  # type: ignore[arg-type]
    assert grew < 15, f"peak memory grew {grew:.1f} MB with 5x the packets"


def test_the_benchmarks_mixed_file_holds_both_families_of_one_traffic(tmp_path: Path) -> None:
    """scripts/bench.py's mixed file (``--mixed``): the IPv4 file's connections, every
    other one over IPv6, each tracked as it is over IPv4."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from pcapdiff.conns import read_connections
    from synth_capture import write_capture

    plain, mixed = tmp_path / "plain.pcap", tmp_path / "mixed.pcap"
    write_capture(plain, 20_000)
    write_capture(mixed, 20_000, mixed=True)
    over_ipv4, _ = read_connections(plain)
    both, summary = read_connections(mixed)
    assert summary.tcp_packets == 20_000
    assert not summary.anomalies
    v6 = [c for c in both if ":" in c.client.addr]
    assert 0.4 < len(v6) / len(both) < 0.6, (len(v6), len(both))

    def shape(c: Any) -> tuple[object, ...]:
        return (c.client.port, c.conn_state, c.history, c.client_sent, c.server_sent)

    assert [shape(c) for c in both] == [shape(c) for c in over_ipv4]
