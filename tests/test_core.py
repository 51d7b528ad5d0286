"""The Rust core (issue 13, first slice) held to the Python it replaces: the pcap walk
to the Python loop it replaced, kept here as the reference (identical columns, stop
reason and offsets on any bytes); the pcapng EPB walk to the Python path that still
reads every other block, on every pcapng file of the fixtures and the corpus."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapdiff._core import walk_pcap
from pcapdiff.errors import PcapdiffError
from pcapdiff.model import CaptureSummary
from pcapdiff.read import read_batches

HEADER = 16
LIMIT = 262_144
EMPTY_LIMIT = 8
ZERO_RUN = 64
CHUNK = 4096


def reference_walk(
    chunk: bytearray, end: int, hdr_len: int, endian: str, nsec: bool, empty_run: int
) -> tuple[list[tuple[int, int, int, int]], int, int, int, str, int, int]:
    """The per-record Python loop read.py ran before the core (same rules)."""
    records = []
    pos = want = 0
    stop, at, caplen_out = "end", 0, 0
    while pos + hdr_len <= end:
        sec, frac, caplen, wire = struct.unpack_from(endian + "IIII", chunk, pos)
        if not caplen:
            empty_run += 1
            if empty_run >= EMPTY_LIMIT or _zero_run(chunk, pos, end, hdr_len):
                stop, at = "zeros", pos
                break
        else:
            empty_run = 0
        if caplen > LIMIT:
            stop, at, caplen_out = "too_big", pos, caplen
            break
        nxt = pos + hdr_len + caplen
        if nxt > end:
            want = nxt - pos
            break
        records.append((pos + hdr_len, caplen, sec * 10**9 + frac * (1 if nsec else 1000), wire))
        pos = nxt
    if stop == "end":
        at = pos
    return records, pos, want, empty_run, stop, at, caplen_out


def _zero_run(chunk: bytearray, pos: int, end: int, hdr_len: int) -> bool:
    if any(chunk[pos : pos + hdr_len]):
        return False
    rest = bytes(chunk[pos:end])
    found = next((i for i, b in enumerate(rest) if b), None)
    run = found if found is not None else len(rest)
    return run >= ZERO_RUN or (found is None and len(rest) < CHUNK and run > hdr_len)


def records(draw_sizes: list[tuple[int, int, int]], endian: str, hdr_len: int) -> bytes:
    """Records as a capture writes them (the modified variant's 8 more header bytes)."""
    out = b""
    for sec, size, wire in draw_sizes:
        header = struct.pack(endian + "IIII", sec, sec % 1000, size, wire)
        out += header + b"\x07" * (hdr_len - 16) + bytes([size % 251]) * size
    return out


@given(
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 300), st.integers(0, 2**32 - 1)),
        max_size=12,
    ),
    st.binary(max_size=64),
    st.sampled_from(["<", ">"]),
    st.booleans(),
    st.sampled_from([16, 24]),
    st.integers(0, 10),
    st.integers(0, 9),
    st.binary(max_size=8),
)
@settings(max_examples=400, deadline=None)
def test_the_core_walks_as_the_python_loop_did(
    sizes: list[tuple[int, int, int]],
    noise: bytes,
    endian: str,
    nsec: bool,
    hdr_len: int,
    cut: int,
    empty_run: int,
    lead: bytes,
) -> None:
    """Also begun inside the chunk (after ``lead``, as the read-ahead's blocks are):
    the same records, at the chunk's offsets."""
    data = records(sizes, endian, hdr_len)
    chunk = bytearray(data + noise)
    end = max(0, len(chunk) - cut)
    expected = reference_walk(chunk, end, hdr_len, endian, nsec, empty_run)
    got = walk_pcap(
        bytearray(lead) + chunk,
        len(lead),
        len(lead) + end,
        hdr_len,
        endian == ">",
        nsec,
        LIMIT,
        EMPTY_LIMIT,
        ZERO_RUN,
        CHUNK,
        empty_run,
    )
    starts, caplens, stamps, wires, pos, want, run, stop, at, caplen = got
    columns = [memoryview(c).cast("q").tolist() for c in (starts, caplens, stamps, wires)]
    shifted = [(start - len(lead), *rest) for start, *rest in zip(*columns, strict=True)]
    assert shifted == expected[0]
    assert (pos - len(lead), want, run, stop, at - len(lead), caplen) == expected[1:]


def test_a_header_shorter_than_a_record_header_is_refused() -> None:
    with pytest.raises(RuntimeError, match="at least 16 bytes"):
        walk_pcap(bytearray(64), 0, 64, 8, False, False, LIMIT, EMPTY_LIMIT, ZERO_RUN, CHUNK, 0)


ROOT = Path(__file__).resolve().parent.parent


def _pcapng_files() -> list[Path]:
    from .conftest import CORPUS

    found = [
        p
        for folder in (ROOT / "fixtures", CORPUS)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".pcapng" in p.name and not p.name.endswith(".json")
    ]
    assert len(found) > 20, found  # the fixtures' and the corpus' pcapng files
    return found


def _everything(path: Path) -> tuple[object, ...]:
    """Every frame and the summary's facts, or the error, as the reader gives them."""
    summary = CaptureSummary(path=str(path))
    frames = []
    try:
        for batch in read_batches(path, summary):
            frames += [
                (*row, batch.linktype, bytes(batch.frame(row).data)) for row in batch.records()
            ]
    except PcapdiffError as exc:
        frames.append(("error", str(exc)))
    facts = (
        summary.packets,
        summary.sliced_packets,
        summary.first_ts_ns,
        summary.last_ts_ns,
        sorted(summary.linktypes),
        dict(summary.anomalies),
        summary.truncated_tail,
        summary.bytes_read,
    )
    return tuple(frames), facts


def test_the_core_epb_walk_reads_every_pcapng_as_the_python_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The differential test of the transition: each pcapng of the fixtures and the
    corpus read with the core's EPB walk and without it: the same frames, bytes,
    timestamps, counts and errors."""
    from pcapdiff import read as reader

    for path in _pcapng_files():
        with_core = _everything(path)
        monkeypatch.setattr(reader, "CORE_EPB_WALK", False)
        without = _everything(path)
        monkeypatch.setattr(reader, "CORE_EPB_WALK", True)
        assert with_core == without, path


# --- the framers: the core's against the Python they replaced ----------------------

PIECES = [
    b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HEAD /a HTTP/1.1\r\n\r\n",
    b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n1234567",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 101 Switching\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nuntil close",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
    b"0x1_a;ext\r\n",
    b"+5\r\n",
    b"-1\r\n",
    b"1__0\r\n",
    b"0\r\n",
    b"X-T: 1\r\n",
    b"\r\n",
    b"HTTP/1.1 2x0 Bad\r\n\r\n",
    b"HTTP/1.1 200\r\n\r\n",
    b"HTTP/1.1 3000\r\n\r\n",
    b"Content-Length: 3, 3\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"SSH-2.0-x\r\n",
    b"\x16\x03\x01\x00\x02ab",
    b"\x17\x03\x03\x00\x00",
    b"\x15\x03",
    b"x" * 40,
    b"\r\n\r\n",
    b"HTTP/1.",
    b"\xff\xfe",
]


# Whole messages, so that most streams get past their first head.
MESSAGES = [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1a;x=1\r\n"
    + b"c" * 26
    + b"\r\n0X3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n" + b"b" * 12,
    b"HTTP/1.1 304 Not Modified\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n",
]


def _observe_http(f: Any) -> tuple[object, ...]:
    """Everything a framer shows: its fields, its exchange part, the shared methods."""
    fields = ("state", "remaining", "messages", "message_bytes", "expected", "problem")
    return (*(getattr(f, name) for name in fields), f.exchange_part(), f.allowance(), [*f.methods])


@given(
    st.lists(
        st.one_of(st.sampled_from(MESSAGES), st.sampled_from(PIECES)), min_size=1, max_size=10
    ),
    st.lists(st.integers(1, 40), min_size=1, max_size=8),
    st.booleans(),
    st.lists(st.sampled_from(["GET", "HEAD", "POST"]), max_size=3),
    st.booleans(),
)
@settings(max_examples=500, deadline=None)
def test_the_core_http_framer_frames_as_the_python_one(
    pieces: list[bytes], cuts: list[int], is_request: bool, methods: list[str], skip: bool
) -> None:
    """Any stream of HTTP-ish pieces, cut anywhere, with the fast path skipping what it
    is allowed (or not), and closed at the end: the same state after every step."""
    from collections import deque

    from pcapdiff.framing import HttpFramer

    from .framing_reference import HttpFramer as Reference

    stream = b"".join(pieces)
    ours, theirs = HttpFramer(is_request, deque(methods)), Reference(is_request, deque(methods))
    at, allowed, i = 0, 0, 0
    while at < len(stream):
        size = cuts[i % len(cuts)]
        i += 1
        piece = stream[at : at + size]
        at += size
        if skip and 0 < len(piece) <= allowed:
            ours.skipped(len(piece))
            theirs.skipped(len(piece))
            allowed -= len(piece)
        else:
            allowed = ours.feed(piece)
            assert allowed == theirs.feed(piece)
        assert _observe_http(ours) == _observe_http(theirs), (stream, at)
    ours.close()
    theirs.close()
    assert _observe_http(ours) == _observe_http(theirs)


@given(
    st.lists(st.sampled_from(PIECES), max_size=14),
    st.lists(st.integers(1, 40), min_size=1, max_size=8),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_the_core_tls_framer_frames_as_the_python_one(
    pieces: list[bytes], cuts: list[int], lose: bool
) -> None:
    from pcapdiff.framing import TlsFramer

    from .framing_reference import TlsFramer as Reference

    stream = b"".join(pieces)
    ours, theirs = TlsFramer(), Reference()
    at, frame = 0, 0
    while at < len(stream):
        piece = stream[at : at + cuts[frame % len(cuts)]]
        at += len(piece)
        frame += 1
        assert ours.feed(piece, frame, frame * 10) == theirs.feed(piece, frame, frame * 10)
        if lose and frame == 3:
            ours.lose()
            theirs.lose()
        for name in ("state", "remaining", "app_count", "app_records", "problem"):
            assert getattr(ours, name) == getattr(theirs, name), name


# --- the first-message parsers: the core's against the Python they replaced --------

HELLO_PARTS = [
    b"\x16\x03\x01",
    b"\x00\x05",
    b"\x01\x00\x00\x01",
    b"\x02\x00\x00\x26",
    b"\x03\x03",
    b"\x11" * 32,
    b"\x00",
    b"\x20" + b"\x22" * 32,
    b"\x00\x02\x13\x01",
    b"\x01\x00",
    b"\x00\x0c",
    b"\x00\x00\x00\x08\x00\x06\x00\x00\x03a\x1bb",
    b"\x00\x2b\x00\x05\x04\x03\x04\x03\x03",
    b"\x00\x2b\x00\x02\x03\x04",
    b"\x15\x03\x03\x00\x02\x02\x28",
    b"\x17\x03\x03",
]
TEXT_PARTS = [
    b"GET ",
    b"HEAD ",
    b"PROPFIND ",
    b"get ",
    b"/a\x1b[2J ",
    b"/\xff\xfe ",
    b"HTTP/1.1",
    b"\r\n",
    b"Host: ",
    b"HOST :",
    b"host",
    " www.\u202e".encode(),
    b"HTTP/1.1 ",
    b"HTTP/1.0 200 OK",
    b"404",
    b" Not Found",
    b"2x0",
    b"\r\n\r\n",
    b"\x00",
    b"\xc3\xa9",
    b"\xed\xa0\x80",
    b"\xc2\x85",
    b"\xef\xbb\xbf",
    b"x" * 30,
]


WHOLE = [
    b"HTTP/1.1 404 Not Found\r\n",
    b"HTTP/1.1 200\r\n",
    b"GET /a\x9b1m HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"\x15\x03\x03\x00\x02\x01\x00",
]


@given(
    st.lists(
        st.one_of(st.sampled_from(WHOLE), st.sampled_from(HELLO_PARTS + TEXT_PARTS)),
        max_size=16,
    ),
    st.booleans(),
)
@settings(max_examples=1500, deadline=None)
def test_the_core_parses_first_messages_as_the_python_did(parts: list[bytes], final: bool) -> None:
    """Any bytes made of request, status-line and TLS hello pieces: the same
    Request, Response, alert and escaped text."""
    from pcapdiff import _core, payload
    from pcapdiff.text import wire_text

    from . import payload_reference as reference

    data = b"".join(parts)
    assert payload.parse_request(data, 7, final, 70) == reference.parse_request(data, 7, final, 70)
    assert payload.parse_response(data, 7, final, 70) == reference.parse_response(
        data, 7, final, 70
    )
    assert payload.tls_alert(data) == reference.tls_alert(data)
    assert _core.wire_text(data) == wire_text(data)


@given(st.binary(max_size=200), st.booleans())
@settings(max_examples=1000, deadline=None)
def test_the_core_parses_any_bytes_as_the_python_did(data: bytes, final: bool) -> None:
    from pcapdiff import _core, payload
    from pcapdiff.text import wire_text

    from . import payload_reference as reference

    assert payload.parse_request(data, 1, final) == reference.parse_request(data, 1, final)
    assert payload.parse_response(data, 1, final) == reference.parse_response(data, 1, final)
    assert _core.wire_text(data) == wire_text(data)


@given(st.text(max_size=60))
@settings(max_examples=1000, deadline=None)
def test_the_core_escapes_any_text_as_text_py(text: str) -> None:
    """Every character, controls, C1, bidi marks and all, escaped alike."""
    from pcapdiff import _core
    from pcapdiff.text import wire_text

    raw = text.encode("utf-8", errors="surrogatepass")
    assert _core.wire_text(raw) == wire_text(raw)
