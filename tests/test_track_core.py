"""The core's tracker (core/src/track.rs) held to the Python tracker it replaced
(tests/track_reference.py): the same connection records, field for field, the same
release clock and the same tapped segments, on every capture of the fixtures and the
corpus, and on any sequence of segments hypothesis makes."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapdiff.conns import ConnectionScan
from pcapdiff.decode import decode_batches
from pcapdiff.errors import PcapdiffError
from pcapdiff.model import ACK, FIN, PSH, RST, SYN, CaptureSummary, Connection, Segment
from pcapdiff.read import read_batches
from pcapdiff.track import track

from . import track_reference
from .conftest import CORPUS, IN_CI, ROOT

CAPTURES = sorted(
    p
    for p in chain((ROOT / "fixtures" / "pcaps").rglob("*"), CORPUS.rglob("*"))
    if p.is_file() and p.suffix not in (".tsv", ".md", ".json", ".txt", ".toml")
)


def observed(
    tracker: Any, rows: Iterator[Any], released: list[int], **options: int
) -> tuple[list[Connection], list[tuple[int, bool, int]], list[int]]:
    """The records, the tapped segments (id, direction, frame) and the release clock
    as each record came out."""
    taps: list[tuple[int, bool, int]] = []
    clocks: list[int] = []

    def tap(conn_id: int, from_client: bool, row: Any) -> None:
        taps.append((conn_id, from_client, row[0]))

    records = []
    for record in tracker(rows, released=released, tap=tap, **options):
        records.append(record)
        clocks.append(released[0])
    clocks.append(released[0])
    return records, taps, clocks


def reference(path: Path, **options: int) -> Any:
    summary = CaptureSummary(path=str(path))
    try:
        rows = chain.from_iterable(decode_batches(read_batches(path, summary), summary))
        return observed(track_reference.track, rows, [-(1 << 62)], **options)
    except PcapdiffError as exc:
        return str(exc)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_the_core_tracks_every_capture_as_the_python_tracker(path: Path) -> None:
    expected = reference(path)
    # the fused path (decode and track inside the core), as conns and compare run it
    taps: list[tuple[int, bool, int]] = []
    try:
        scan = ConnectionScan(path, tap=lambda i, c, row: taps.append((i, c, row[0])))
        records, clocks = [], []
        for record in scan:
            records.append(record)
            clocks.append(scan._released[0])
        clocks.append(scan._released[0])
        got: Any = (records, taps, clocks)
    except PcapdiffError as exc:
        got = str(exc)
    assert got == expected
    # rows handed to the core (several files merged), with short timeouts that sweep
    short = {"idle_timeout_ns": 2_000_000_000, "close_delay_ns": 100_000_000}
    summary = CaptureSummary(path=str(path))
    try:
        rows = chain.from_iterable(decode_batches(read_batches(path, summary), summary))
        got = observed(track, rows, [-(1 << 62)], **short)
    except PcapdiffError as exc:
        got = str(exc)
    assert got == reference(path, **short)


def test_the_capture_list_covers_fixtures_and_corpus() -> None:
    assert sum(1 for p in CAPTURES if ROOT in p.parents) > 50
    if not any(CORPUS in p.parents for p in CAPTURES):
        if IN_CI:
            raise AssertionError(f"CI must hold the tracker to the corpus, but {CORPUS} is empty")
        pytest.skip(f"public corpus not found at {CORPUS} (set PCAPDIFF_CORPUS)")


A, B, C = bytes([198, 51, 100, 7]), bytes([203, 0, 113, 10]), bytes([192, 0, 2, 3])
HTTP = [
    b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
    b"\x15\x03\x03\x00\x02\x02\x28",
    b"\x17\x03\x03\x00\x03abc",
    b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    b"junk",
    b"",
]
OPTIONS = [b"", b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"]


@st.composite
def segments(draw: st.DrawFn) -> list[Segment]:
    """A few connections' packets in any order: handshakes, data (in order, out of
    order, retransmitted, beyond holes), FIN, RST, port reuse, long pauses."""
    out = []
    ts = 1_700_000_000 * 10**9
    isns = {0: 1000, 1: 5000}
    sent = {0: 0, 1: 0}
    for frame in range(1, draw(st.integers(1, 60)) + 1):
        ts += draw(st.sampled_from([0, 1_000, 50_000_000, 1_200_000_000, 400 * 10**9]))
        from_client = draw(st.booleans())
        port = draw(st.sampled_from([40000, 40000, 40001]))
        server = draw(st.sampled_from([B, B, C]))
        flags = draw(
            st.sampled_from(
                [SYN, SYN | ACK, ACK, ACK | PSH, FIN | ACK, RST, RST | ACK, SYN | FIN, FIN | RST]
            )
        )
        side = 0 if from_client else 1
        if flags == SYN and draw(st.booleans()):
            isns[0] = draw(st.integers(0, 2**32 - 1))  # a new attempt on the 4-tuple
        payload = draw(st.sampled_from(HTTP)) if flags & ACK and not flags & SYN else b""
        if draw(st.integers(0, 5)) == 0:
            payload = payload[: draw(st.integers(0, len(payload)))]
        offset = draw(st.sampled_from([0, 0, 0, -3, 7, 3000]))
        seq = (isns[side] + 1 + max(0, sent[side] + offset)) % 2**32
        if flags & SYN:
            seq = isns[side]
        else:
            sent[side] += len(payload)
        ack = (isns[1 - side] + 1 + sent[1 - side] + draw(st.sampled_from([0, 0, 2000]))) % 2**32
        options = draw(st.sampled_from(OPTIONS)) if flags & SYN else b""
        src, sport, dst, dport = (A, port, server, 80) if from_client else (server, 80, A, port)
        cut = draw(st.sampled_from([None, None, None, 2]))
        data = b"\0" * 20 + options + (payload[:cut] if cut is not None else payload)
        out.append(
            Segment(
                frame,
                ts,
                src,
                sport,
                dst,
                dport,
                flags,
                seq,
                ack,
                draw(st.sampled_from([1000, 0])),
                len(payload),
                64,
                frame,
                data,
                0,
                20 + len(options),
                len(data),
            )
        )
    return out


@given(segments(), st.sampled_from([(300 * 10**9, 5 * 10**9), (10**9, 10**8)]))
@settings(max_examples=800, deadline=None)
def test_the_core_tracks_any_segments_as_the_python_tracker(
    segs: list[Segment], timeouts: tuple[int, int]
) -> None:
    idle, close = timeouts
    options = {"idle_timeout_ns": idle, "close_delay_ns": close}
    expected = observed(track_reference.track, iter(segs), [-(1 << 62)], **options)
    assert observed(track, iter(segs), [-(1 << 62)], **options) == expected


def test_a_broken_reference_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: a reference that counts one retransmitted byte less."""
    segs = [
        Segment(1, 0, A, 40000, B, 80, SYN, 10, 0, 1000, 0, 64, 1, b"\0" * 20, 0, 20, 20),
        Segment(2, 1, B, 80, A, 40000, SYN | ACK, 50, 11, 1000, 0, 64, 2, b"\0" * 20, 0, 20, 20),
        Segment(3, 2, A, 40000, B, 80, ACK, 11, 51, 1000, 4, 64, 3, b"\0" * 24, 0, 20, 24),
        Segment(4, 3, A, 40000, B, 80, ACK, 11, 51, 1000, 4, 64, 4, b"\0" * 24, 0, 20, 24),
    ]
    original = track_reference._data

    def short(conn: Any, half: Any, *rest: Any) -> None:
        original(conn, half, *rest)
        half.retx_bytes = max(0, half.retx_bytes - 1)

    monkeypatch.setattr(track_reference, "_data", short)
    expected = observed(track_reference.track, iter(segs), [-(1 << 62)])
    assert observed(track, iter(segs), [-(1 << 62)]) != expected
