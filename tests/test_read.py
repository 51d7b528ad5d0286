"""read: formats, frame numbers, timestamps, and every way a file can be bad."""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import pytest

from pcapdiff.errors import PcapdiffError, PcapFormatError
from pcapdiff.model import CaptureSummary
from pcapdiff.read import read

from .conftest import FIXTURES

T0_NS = 1_700_000_000 * 10**9


def frames(path: Path | str, **kw: object) -> tuple[list, CaptureSummary]:
    summary = CaptureSummary(path=str(path))
    return list(read(path, summary, **kw)), summary  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "fmt", "linktype"),
    [
        ("http_ok.pcap", "pcap", 1),
        ("http_ok_ns_be.pcap", "pcap-ns", 1),
        ("http_ok.pcap.gz", "pcap", 1),
        ("http_ok_be.pcapng", "pcapng", 1),
        ("http_ok_sll2.pcap", "pcap", 276),
        ("http_ok_null.pcap", "pcap", 0),
    ],
)
def test_formats_give_the_same_frames(name: str, fmt: str, linktype: int) -> None:
    reference, _ = frames(FIXTURES / "http_ok.pcap")
    got, summary = frames(FIXTURES / name)
    assert summary.format == fmt
    assert summary.linktypes == {linktype}
    assert [f.frame for f in got] == list(range(1, 12))
    # Same instants whatever the resolution or byte order (microsecond fixtures).
    assert [f.ts_ns for f in got] == [f.ts_ns for f in reference]
    assert got[0].ts_ns == T0_NS + 1_000_000


def test_gzip_is_reported() -> None:
    _, summary = frames(FIXTURES / "http_ok.pcap.gz")
    assert summary.compression == "gzip"


def test_pcapng_interfaces_keep_their_own_link_type_and_resolution() -> None:
    got, summary = frames(FIXTURES / "two_interfaces.pcapng")
    assert summary.linktypes == {1, 276}
    by_link = {f.linktype for f in got}
    assert by_link == {1, 276}
    # The SLL2 interface is in nanoseconds and sits 0.5 ms after its Ethernet twin.
    eth = [f.ts_ns for f in got if f.linktype == 1]
    sll2 = [f.ts_ns for f in got if f.linktype == 276]
    assert [b - a for a, b in zip(eth, sll2, strict=False)] == [500_000] * len(eth)
    assert summary.dropped_packets == 3  # from the Interface Statistics Block
    assert [f.frame for f in got] == list(range(1, len(got) + 1))


def test_stream_input_reads_like_a_file() -> None:
    data = (FIXTURES / "http_ok.pcap").read_bytes()
    got, _ = frames(FIXTURES / "http_ok.pcap")
    streamed = list(read(io.BytesIO(data)))
    assert streamed == got
    streamed_gz = list(read(io.BytesIO(gzip.compress(data))))
    assert streamed_gz == got


def test_truncated_tail_is_a_warning_and_strict_makes_it_an_error() -> None:
    got, summary = frames(FIXTURES / "truncated_tail.pcap")
    assert len(got) == 10
    assert "frame 11" in summary.truncated_tail
    with pytest.raises(PcapFormatError, match=r"frame 11 \(byte 896\)"):
        frames(FIXTURES / "truncated_tail.pcap", strict=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file header (byte 0): empty file"),
        (b"hello world, this is not a capture\n", "not a pcap or pcapng file"),
        (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00", "file header cut off"),
        (b"\x28\xb5\x2f\xfd" + b"\0" * 30, "zstd-compressed"),
        (b"snoop\0\0\0\0\0\0\x02", "snoop"),
        (struct.pack("<IHHiIII", 0xA1B2C3D4, 1, 4, 0, 0, 65535, 1), "version 1.4"),
        (
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
            + struct.pack("<IIII", 0, 0, 0xFFFFFFFF, 60),
            "frame 1 (byte 24)",
        ),
        (
            struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 2, 0, -1) + struct.pack("<I", 28),
            "pcapng version 2.0",
        ),
    ],
)
def test_bad_files_raise_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(PcapdiffError) as info:
        frames(path)
    text = str(info.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PcapdiffError, match="cannot open"):
        read(tmp_path / "nope.pcap")


def test_memory_is_bounded_by_chunks_not_file(tmp_path: Path) -> None:
    """read() holds a chunk or two and their columns: 4x the frames, the same peak."""
    import tracemalloc

    one = (FIXTURES / "http_ok.pcap").read_bytes()
    header, body = one[:24], one[24:]
    peaks = []
    for copies in (4000, 16000):
        big = tmp_path / f"big{copies}.pcap"
        big.write_bytes(header + body * copies)  # 44,000 and 176,000 frames
        tracemalloc.start()
        count = sum(1 for _ in read(big))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert count == 11 * copies
    assert peaks[1] < peaks[0] * 1.25 + (1 << 20)
    assert peaks[1] < 32 << 20


@pytest.mark.parametrize("name", ["http_ok.pcap", "http_ok.pcapng"])
def test_batches_kept_by_the_consumer_keep_their_bytes(tmp_path: Path, name: str) -> None:
    """The reader writes a chunk again only when no batch refers to it: batches held
    all at once (as compare's reading thread queues them) read the same as one at a
    time."""
    from pcapdiff.read import read_batches

    one = (FIXTURES / "http_ok.pcap").read_bytes()
    big = tmp_path / "big.pcap"
    big.write_bytes(one[:24] + one[24:] * 12000)  # 132,000 frames, several chunks
    source = big
    if name.endswith(".pcapng"):
        import subprocess

        source = tmp_path / "big.pcapng"
        subprocess.run(["editcap", "-F", "pcapng", str(big), str(source)], check=True)
    streamed = [f.data for f in read(source)]
    held = list(read_batches(source))
    assert len({id(b.buf) for b in held}) > 3  # more chunks than the pool keeps
    kept = [batch.frame(record).data for batch in held for record in batch.records()]
    assert kept == streamed
    assert len(kept) == 132000


def test_pcapng_obsolete_blocks_and_a_section_to_skip() -> None:
    reference, _ = frames(FIXTURES / "http_ok.pcap")
    got, summary = frames(FIXTURES / "sections.pcapng")
    assert summary.skipped_sections == 1
    # The skipped section's packet is not numbered: Wireshark could not read it either.
    assert [f.data for f in got] == [f.data for f in reference]
    assert [f.ts_ns for f in got] == [f.ts_ns for f in reference]
    assert [f.frame for f in got] == list(range(1, 12))


def test_progress_reports_bytes_of_the_file(tmp_path: Path) -> None:
    one = (FIXTURES / "http_ok.pcap").read_bytes()
    big = tmp_path / "big.pcap"
    big.write_bytes(one[:24] + one[24:] * 9000)  # 99,000 frames
    seen: list[tuple[int, int]] = []
    count = sum(1 for _ in read(big, progress=lambda done, total: seen.append((done, total))))
    assert count == 99_000
    assert len(seen) >= 3
    assert all(total == big.stat().st_size for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


@pytest.mark.parametrize("tsresol", [0x7F, 0xFF, 0x40])  # 10^-127 s, 2^-127 s, 10^-64 s
def test_a_resolution_past_128_bit_arithmetic_is_read_all_the_same(tsresol: int) -> None:
    # The core's EPB walk works in 128-bit integers; an interface whose time
    # arithmetic does not fit (a hostile if_tsresol) is read block by block in Python.
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    option = struct.pack("<HHB", 9, 1, tsresol) + b"\0\0\0" + struct.pack("<HH", 0, 0)
    idb = _block(1, struct.pack("<HHI", 1, 0, 262144) + option)
    packet = bytes(60)
    epb = _block(6, struct.pack("<IIIII", 0, 0, 5, len(packet), len(packet)) + packet)
    got, summary = frames(io.BytesIO(shb + idb + epb + epb))  # type: ignore[arg-type]
    assert summary.format == "pcapng"
    assert [f.frame for f in got] == [1, 2]
    assert got[0].ts_ns == 0  # 5 ticks of 10^-127 s (or less): 0 ns


def _frames_before_error(path: Path) -> tuple[list[int], str]:
    from pcapdiff.read import read_batches

    frames: list[int] = []
    batches = read_batches(path)
    with pytest.raises(PcapFormatError) as raised:
        frames.extend(f for batch in batches for f in batch.frames)
    return frames, str(raised.value)


def test_the_records_before_a_corrupt_pcap_record_are_handed_on(tmp_path: Path) -> None:
    """A record claiming more bytes than any capture holds ends the reading, but not
    before the records ahead of it in the same chunk are handed on."""
    frame = bytes(60)
    record = struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    corrupt = struct.pack("<IIII", 1, 0, 1 << 30, 1 << 30)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(header + record * 100 + corrupt + bytes(64))
    frames, message = _frames_before_error(path)
    assert frames == list(range(1, 101))
    assert f"frame 101 (byte {24 + 100 * len(record)})" in message
    assert "record claims 1073741824 captured bytes" in message


def test_the_packets_before_a_corrupt_pcapng_block_are_handed_on(tmp_path: Path) -> None:
    """Simple packet blocks (gathered in Python, not by the core's EPB walk), then a
    block whose length is impossible: every packet before it, then the error."""

    def block(block_type: int, body: bytes) -> bytes:
        told = struct.pack("<I", 12 + len(body))
        return struct.pack("<I", block_type) + told + body + told

    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", 1, 0, 65535))
    spb = block(3, struct.pack("<I", 60) + bytes(60))
    path = tmp_path / "corrupt.pcapng"
    path.write_bytes(shb + idb + spb * 5 + struct.pack("<III", 6, 7, 0))
    frames, message = _frames_before_error(path)
    assert frames == [1, 2, 3, 4, 5]
    assert message.endswith(
        f"frame 6 (byte {len(shb) + len(idb) + 5 * len(spb)}): pcapng block length 7 is invalid"
    )
