"""The core's decoder (core/src/decode.rs), by batch and by frame, and the Python
decoder it replaced (tests/decode_reference.py) agree exactly on every fixture and
corpus file."""

from __future__ import annotations

import io
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapdiff.decode import decode, decode_batches
from pcapdiff.errors import PcapdiffError
from pcapdiff.model import CaptureSummary, Frame, Segment
from pcapdiff.read import read, read_batches

from . import decode_reference
from .conftest import CORPUS, FIXTURES

FILES = sorted(p for p in FIXTURES.iterdir() if p.is_file()) + sorted(
    p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".tsv", ".md")
)


def meaning(row: Any) -> tuple[object, ...]:
    """What a segment says, whatever buffer its bytes sit in."""
    s = row if isinstance(row, Segment) else Segment._make(row)
    return (
        s.frame,
        s.ts_ns,
        s.src,
        s.sport,
        s.dst,
        s.dport,
        s.flags,
        s.seq,
        s.ack,
        s.win,
        s.payload_len,
        s.ttl,
        s.ip_id,
        s.payload,
        s.options,
    )


def three_ways(source: Path | bytes) -> list[Any]:
    """What the reference, the core by frame and the core by batch make of a capture."""
    results = []
    for way in ("reference", "frames", "batches"):
        src = io.BytesIO(source) if isinstance(source, bytes) else source
        summary = CaptureSummary(path="x")
        try:
            rows: Iterable[Any]
            if way == "batches":
                rows = chain.from_iterable(decode_batches(read_batches(src, summary), summary))
            elif way == "frames":
                rows = decode(read(src, summary), summary)
            else:
                rows = decode_reference.decode(read(src, summary), summary)
            segments = [meaning(r) for r in rows]
            error = ""
        except PcapdiffError as exc:
            segments, error = [], str(exc)
        results.append(
            (
                segments,
                error,
                summary.tcp_packets,
                summary.non_tcp_packets,
                summary.ip_fragments,
                dict(summary.anomalies),
                summary.anomaly_examples,
                summary.icmp_errors,
                summary.icmp_errors_seen,
                summary.packets,
                summary.first_ts_ns,
                summary.last_ts_ns,
            )
        )
    return results


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_core_decodes_as_the_python_decoder_did(path: Path) -> None:
    reference, frames, batches = three_ways(path)
    assert frames == reference
    assert batches == reference


def _seed_frames() -> list[Frame]:
    """Real frames of every link type the fixtures and the corpus hold (a few each),
    and crafted ones for what they lack: IPv4 and IPv6 fragments, ICMP errors."""
    from scapy.layers.inet import ICMP, IP, TCP, fragment
    from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6, IPv6ExtHdrFragment, fragment6
    from scapy.packet import Raw

    seeds: list[Frame] = []
    per_kind: dict[int, int] = {}
    for path in FILES:
        try:
            for fr in read(path, CaptureSummary(path=str(path))):
                if per_kind.get(fr.linktype, 0) < 12:
                    per_kind[fr.linktype] = per_kind.get(fr.linktype, 0) + 1
                    seeds.append(fr)
        except PcapdiffError:
            continue
    tcp = TCP(sport=40000, dport=80, flags="PA", seq=1000) / Raw(b"GET / HTTP/1.1\r\n" * 20)
    crafted = [
        *fragment(IP(src="192.0.2.1", dst="198.51.100.2", id=7) / tcp, fragsize=96),
        *fragment6(
            IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(id=9) / tcp, 120
        ),
        IP(src="203.0.113.9", dst="192.0.2.1")
        / ICMP(type=3, code=4, nexthopmtu=1400)
        / bytes(IP(src="192.0.2.1", dst="198.51.100.2") / tcp)[:28],
        IPv6(src="2001:db8::9", dst="2001:db8::1")
        / ICMPv6DestUnreach(code=1)
        / bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / tcp)[:48],
    ]
    for number, packet in enumerate(crafted, 1):
        seeds.append(Frame(number, number * 1000, 101, bytes(packet), len(packet)))
    ipv4 = bytes(IP(src="192.0.2.1", dst="198.51.100.2", options=b"\x01" * 4) / tcp)
    seeds.append(Frame(0, 0, 0, b"\x00\x00\x00\x02" + ipv4, 4 + len(ipv4)))  # NULL, big-endian
    return seeds


SEEDS = _seed_frames()
CRAFTED = next(i for i, s in enumerate(SEEDS) if s.frame == 1 and s.ts_ns == 1000)
LINKTYPES = [0, 1, 12, 101, 108, 113, 228, 229, 239, 242, 276, 105]


@given(
    st.lists(
        st.tuples(
            st.integers(0, len(SEEDS) - 1) | st.integers(CRAFTED, len(SEEDS) - 1),
            st.integers(1, 6),
            st.none() | st.sampled_from(LINKTYPES),
            st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=3),
            st.none() | st.integers(-60, 200),
        ),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),
)
@settings(max_examples=800, deadline=None)
def test_the_core_decodes_any_damaged_frames_as_the_python_decoder(
    picks: list[tuple[int, int, int | None, list[tuple[int, int]], int | None]], pcapng: bool
) -> None:
    """Runs of real and crafted frames (a run of fragments meets in the reassembly), a
    frame's bytes overwritten, cut (from the end when negative), under another link
    type."""
    frames = []
    for seed, run, linktype, changes, cut in picks:
        for fr in SEEDS[seed : seed + run]:
            data = bytearray(fr.data)
            for at, value in changes:
                if data:
                    data[at % len(data)] = value
            if cut is not None:
                del data[cut:]
            number = len(frames) + 1
            frames.append(Frame(number, fr.ts_ns, linktype or fr.linktype, bytes(data), 0))
            changes, cut, linktype = [], None, None  # the run's first frame only
    outcomes = []
    for decoder in (decode_reference.decode, decode):
        summary = CaptureSummary(path="x", format="pcapng" if pcapng else "pcap")
        try:
            segments = [meaning(s) for s in decoder(frames, summary)]
            error = ""
        except PcapdiffError as exc:
            segments, error = [], str(exc)
        outcomes.append(
            (
                segments,
                error,
                summary.tcp_packets,
                summary.non_tcp_packets,
                summary.ip_fragments,
                summary.anomaly_examples,
                summary.icmp_errors,
            )
        )
    assert outcomes[1] == outcomes[0]
