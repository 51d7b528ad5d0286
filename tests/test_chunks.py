"""chunks: the capture read ahead on a second thread, into the buffers the walk reads."""

from __future__ import annotations

import gzip
import io
import random
import struct
import threading
from pathlib import Path

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapdiff.chunks import CHUNK_BYTES, FRONT_ROOM, Chunks, ReadAhead
from pcapdiff.errors import PcapdiffError
from pcapdiff.model import CaptureSummary
from pcapdiff.read import read, read_batches


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pcapdiff-read" and t.is_alive()]


def _walk(source: Chunks | ReadAhead, stream: bytes, cuts: list[tuple[int, int]]) -> None:
    """Drive ``source`` as a reader does: each chunk must hold the bytes left over and
    then the stream's next ones, ``want`` of them from the leftover's start where the
    stream has them; chunks kept must never be written again."""
    data: bytes | bytearray = b""
    start = stop = consumed = 0
    kept: list[tuple[bytearray, int, bytes]] = []
    for i in range(10_000):
        use, want = cuts[i % len(cuts)]
        chunk, begin, got = source.refill(data, start, stop, want)
        carried = stop - start
        have = carried + got
        assert bytes(chunk[begin : begin + have]) == stream[consumed : consumed + have]
        assert have >= min(want, len(stream) - consumed)  # what was wanted, if there
        if not got:
            assert consumed + have == len(stream)
            break
        if i % 3 == 0:
            kept.append((chunk, begin, bytes(chunk[begin : begin + have])))
        taken = min(use, have)
        data, start, stop, consumed = chunk, begin + taken, begin + have, consumed + taken
    else:
        pytest.fail("the stream never ended")
    for chunk, begin, was in kept:
        assert bytes(chunk[begin : begin + len(was)]) == was


@given(
    st.integers(0, 5 * CHUNK_BYTES + 77),
    st.lists(
        st.tuples(
            # how much of each chunk the reader uses, and how much it wants next: a
            # record cut by the end, short, longer than the room, longer than a block
            st.sampled_from([0, 1, 17, 4096, CHUNK_BYTES - 5, 3 * CHUNK_BYTES]),
            st.sampled_from([0, 12, 1500, FRONT_ROOM + 1, CHUNK_BYTES + 9, 2 * CHUNK_BYTES]),
        ),
        min_size=1,
        max_size=6,
    ),
)
@settings(max_examples=25, deadline=None)
def test_read_ahead_gives_the_stream_as_reading_in_place_does(
    size: int, cuts: list[tuple[int, int]]
) -> None:
    stream = random.Random(size).randbytes(size)
    ahead = ReadAhead(io.BytesIO(stream), io.BytesIO(), wait=True)
    try:
        _walk(ahead, stream, cuts)
    finally:
        ahead.close()
    assert not ahead.thread.is_alive()
    _walk(Chunks(io.BytesIO(stream)), stream, cuts)


def _pcap(path: Path, sizes: list[int], snaplen: int) -> list[tuple[int, bytes]]:
    """A pcap of records of these sizes; (timestamp in µs, bytes) of each."""
    rng = random.Random(len(sizes))
    written = []
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1))
        for i, size in enumerate(sizes):
            data = rng.randbytes(size)
            usec = i * 7 % 1_000_000
            f.write(struct.pack("<IIII", 1_700_000_000 + i, usec, size, size) + data)
            written.append(((1_700_000_000 + i) * 1_000_000 + usec, data))
    return written


def test_records_across_blocks_longer_than_the_room_and_kept_batches(tmp_path: Path) -> None:
    # Records around the room's and a block's sizes, many small ones between them,
    # so the blocks' ends cut every kind; every batch is kept while the rest is read
    # (so no buffer a batch refers to may be filled again), then checked against dpkt.
    sizes = [60, 1514] * 700 + [FRONT_ROOM - 20, FRONT_ROOM + 5, 900_000, 1_600_000, 3]
    sizes += [1514, 64, 9000] * 400 + [2_500_000, 40]
    written = _pcap(tmp_path / "big.pcap", sizes, snaplen=16 << 20)
    batches = list(read_batches(tmp_path / "big.pcap"))
    assert not _readers()
    got = [(f.ts_ns // 1000, f.data) for b in batches for f in map(b.frame, b.records())]
    assert got == written
    with (tmp_path / "big.pcap").open("rb") as f:
        oracle = [(round(ts * 1_000_000), bytes(data)) for ts, data in dpkt.pcap.Reader(f)]
    assert got == oracle


def test_a_pcapng_read_ahead_matches_dpkt(tmp_path: Path) -> None:
    path = tmp_path / "many.pcapng"
    rng = random.Random(7)
    with path.open("wb") as f:
        writer = dpkt.pcapng.Writer(f, snaplen=16 << 20)
        for i in range(6000):
            writer.writepkt(rng.randbytes(rng.choice([60, 1514, 9000])), ts=1_700_000_000 + i)
        writer.writepkt(rng.randbytes(FRONT_ROOM + 3000), ts=1_700_009_000)
        writer.writepkt(b"\x01" * 70, ts=1_700_009_001)
    got = [(f.ts_ns, f.data) for f in read(path)]
    with path.open("rb") as f:
        oracle = [(round(ts * 1e9), bytes(data)) for ts, data in dpkt.pcapng.Reader(f)]
    assert got == oracle
    assert not _readers()


def test_a_reading_left_midway_stops_its_thread(tmp_path: Path) -> None:
    _pcap(tmp_path / "long.pcap", [1514] * 5000, snaplen=65535)
    batches = read_batches(tmp_path / "long.pcap")
    next(batches)
    assert _readers()  # reading ahead
    batches.close()
    assert not _readers()


def test_a_stream_gone_bad_past_the_first_blocks_is_one_error(tmp_path: Path) -> None:
    _pcap(tmp_path / "long.pcap", [1514] * 4000, snaplen=65535)
    packed = gzip.compress((tmp_path / "long.pcap").read_bytes())
    cut = len(packed) * 3 // 4
    bad = packed[:cut] + bytes(b ^ 0x5A for b in packed[cut : cut + 4096]) + packed[cut + 4096 :]
    (tmp_path / "bad.pcap.gz").write_bytes(bad)
    summary = CaptureSummary(path="bad.pcap.gz")
    with pytest.raises(PcapdiffError, match=r"bad\.pcap\.gz: read error at frame \d+"):
        for _ in read(tmp_path / "bad.pcap.gz", summary):
            pass
    assert summary.packets > 2000  # the blocks before the damage were read
    assert not _readers()
