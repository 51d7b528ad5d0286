"""The Rust core (issue 13, first slice) held to the Python it replaces: the pcap walk
to the Python loop it replaced, kept here as the reference (identical columns, stop
reason and offsets on any bytes); the pcapng EPB walk to the Python path that still
reads every other block, on every pcapng file of the fixtures and the corpus."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
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
) -> None:
    data = records(sizes, endian, hdr_len)
    chunk = bytearray(data + noise)
    end = max(0, len(chunk) - cut)
    expected = reference_walk(chunk, end, hdr_len, endian, nsec, empty_run)
    got = walk_pcap(
        chunk, end, hdr_len, endian == ">", nsec, LIMIT, EMPTY_LIMIT, ZERO_RUN, CHUNK, empty_run
    )
    starts, caplens, stamps, wires, *rest = got
    columns = [np.frombuffer(c, dtype="<i8").tolist() for c in (starts, caplens, stamps, wires)]
    assert list(zip(*columns, strict=True)) == expected[0]
    assert tuple(rest) == expected[1:]


def test_a_header_shorter_than_a_record_header_is_refused() -> None:
    with pytest.raises(RuntimeError, match="at least 16 bytes"):
        walk_pcap(bytearray(64), 64, 8, False, False, LIMIT, EMPTY_LIMIT, ZERO_RUN, CHUNK, 0)


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
