"""Stage 1, read: capture file -> ``Frame`` records, streamed.

Input: a path, ``-`` (standard input) or a binary stream holding classic pcap
(microsecond or nanosecond magic, either byte order, and the "modified" variant with
24-byte record headers), or pcapng (any number of sections and interfaces, each with
its own link type and time resolution), optionally compressed with gzip, bzip2 or xz.

Output: ``Frame`` records in file order, frame numbers 1-based as Wireshark counts
them. File-level facts (format, link types, capture window, pcapng interface
statistics, a cut-off tail) go into the ``CaptureSummary`` the caller passes in.

Never loads the whole file: it reads fixed-size chunks and keeps at most one chunk
plus one record in memory. Never decodes packets (that is ``decode``). A damaged file
header or record framing raises ``PcapFormatError`` naming file, frame and byte
offset; a file that ends inside a record is reported in the summary (or raises with
``strict``), and everything before the cut is still yielded.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from ._core import column_facts, frame_numbers, linktype_runs, walk_pcap, walk_pcapng
from .chunks import CHUNK_BYTES, ChunkSource, open_chunks
from .errors import PcapdiffError, PcapFormatError
from .model import Anomaly, CaptureSummary, Column, Frame, FrameBatch, InterfaceStats

# What a damaged or compressed stream raises while it is read: bad deflate data
# (zlib.error), a gzip or bzip2 stream cut short (EOFError), EIO; corrupt xz
# (LZMAError) too, once an xz file is open (read_errors). Each becomes the reader's
# one-line error naming the file and frame.
_READ_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error)
# Where a record should start, this many zero bytes are no records: the end of a file
# allocated but never written, or a decompression bomb (an 814-byte .bz2 holding 1 GiB
# of zeros took 4.5 minutes, a zero-length record at a time). Reading stops there.
ZERO_RUN_BYTES = 64 * 1024
EMPTY_RECORDS_RUN = 4096  # zero-length records in a row: no capture tool writes those
# Compressed input that expands to more than this many times its size, past
# RATIO_FLOOR_BYTES, is stopped (--max-ratio lifts it): real captures compress 2-20x.
DEFAULT_MAX_RATIO = 1000
RATIO_FLOOR_BYTES = 256 << 20

# libpcap refuses records larger than this unless the file's snaplen says otherwise.
DEFAULT_MAX_CAPLEN = 262_144
ABSOLUTE_MAX_CAPLEN = 16 << 20
PROGRESS_EVERY = 1 << 15  # frames between progress callbacks
FAST_RUN_RECORDS = 1 << 16  # EPBs the core takes per call, at most
# The core's EPB walk; tests/test_core.py turns it off to hold it to the Python path,
# which still reads every block the core does not take.
CORE_EPB_WALK = True

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total or 0 when unknown)

_PCAP_MAGICS = {
    # magic as read little-endian -> (byte order, ns resolution, modified format)
    0xA1B2C3D4: ("<", False, False),
    0xD4C3B2A1: (">", False, False),
    0xA1B23C4D: ("<", True, False),
    0x4D3CB2A1: (">", True, False),
    0xA1B2CD34: ("<", False, True),
    0x34CDB2A1: (">", False, True),
}
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BOM = 0x1A2B3C4D
# Each block's total length with its fixed fields and no options (pcapng spec 4.x):
# type, length, the fixed fields, the trailing length. A shorter block would have its
# fields read from the next block's bytes.
_PCAPNG_MIN_LEN = {
    _PCAPNG_SHB: 28,  # byte-order magic, version, section length
    1: 20,  # IDB: link type, reserved, snaplen
    2: 32,  # obsolete Packet Block: interface, drops, timestamp, lengths
    3: 16,  # Simple Packet Block: original length
    5: 24,  # ISB: interface, timestamp
    6: 32,  # EPB: interface, timestamp, lengths
}
_PCAPNG_NAMES = {
    _PCAPNG_SHB: "section header",
    1: "interface description",
    2: "packet",
    3: "simple packet",
    5: "interface statistics",
    6: "enhanced packet",
}


class _Source:
    """The file being read: raw bytes, the (maybe decompressing) stream, its size."""

    def __init__(
        self, raw: BinaryIO, total: int, name: str, owned: bool, read_ahead: bool = True
    ) -> None:
        self.raw = raw
        self.total = total  # size on disk, 0 when unknown (a pipe)
        self.name = name
        self.owned = owned  # we opened it, so we close it
        self.stream: BinaryIO = raw
        self.chunks: ChunkSource | None = None
        self.read_ahead = read_ahead

    def open_chunks(self) -> ChunkSource:
        """The chunks of the stream (read ahead on a second thread, but a live one's,
        or where the caller is a reading thread already)."""
        self.chunks = open_chunks(
            self.stream, self.raw, regular_file=self.total > 0, ahead=self.read_ahead
        )
        return self.chunks

    def close(self) -> None:
        if self.chunks is not None:
            self.chunks.close()  # its reading thread first, then the file under it
        if self.owned:
            self.raw.close()

    def position(self) -> int:
        """Bytes of the underlying (possibly compressed) file consumed so far (as far
        as the walk has been given them: the reading thread is ahead)."""
        known = self.chunks.position() if self.chunks is not None else None
        if known is not None:
            return known
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0


def read(
    source: Path | str | BinaryIO,
    summary: CaptureSummary | None = None,
    *,
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> Iterator[Frame]:
    """Return an iterator over every record of a capture file as a ``Frame``.

    ``source`` is a path, ``"-"`` for standard input, or an open binary stream.
    ``summary`` (optional) is filled in as the stream is read. The file is opened now
    (so a missing file raises here); records are read lazily.
    """
    return _frames(read_batches(source, summary, strict=strict, progress=progress))


def _frames(batches: Iterator[FrameBatch]) -> Iterator[Frame]:
    for batch in batches:
        for record in batch.records():
            yield batch.frame(record)


def read_batches(
    source: Path | str | BinaryIO,
    summary: CaptureSummary | None = None,
    *,
    strict: bool = False,
    progress: ProgressFn | None = None,
    max_ratio: int = DEFAULT_MAX_RATIO,
    read_ahead: bool = True,
) -> Iterator[FrameBatch]:
    """Like ``read``, but in ``FrameBatch`` columns: one per chunk of the file.
    ``max_ratio``: stop compressed input expanding beyond that many times its size.
    ``read_ahead``: the file read on a second thread (``chunks.ReadAhead``); False for
    a caller that is itself such a thread (``decode.decode_ahead``'s)."""
    name = str(source if isinstance(source, (str, Path)) else getattr(source, "name", "<stream>"))
    summary = summary if summary is not None else CaptureSummary(path=name)
    if isinstance(source, (str, Path)) and str(source) != "-":
        path = Path(source)
        try:
            raw: BinaryIO = open(path, "rb")  # noqa: SIM115 - the record loop closes it
        except OSError as exc:
            raise PcapdiffError(f"{path}: cannot open: {exc.strerror or exc}") from None
        size = path.stat().st_size if path.is_file() else 0
        src = _Source(raw, size, name, owned=True, read_ahead=read_ahead)
    else:
        raw = sys.stdin.buffer if str(source) == "-" else source  # type: ignore[assignment]
        src = _Source(raw, 0, name, owned=False, read_ahead=read_ahead)
    try:
        head = _open_stream(src, summary)
        magic_le = struct.unpack_from("<I", head)[0]
        if magic_le in _PCAP_MAGICS:
            return _read_pcap(src, head, summary, strict, progress, max_ratio)
        if magic_le == _PCAPNG_SHB:
            return _read_pcapng(src, head, summary, strict, progress, max_ratio)
        raise PcapFormatError(
            name,
            frame=None,
            offset=0,
            reason=f"not a pcap or pcapng file (magic {head[:4].hex()}{_guess(head)})",
        )
    except BaseException:
        src.close()
        raise


def _open_stream(src: _Source, summary: CaptureSummary) -> bytes:
    """Read the first chunk, unwrapping compression; return it."""
    try:
        head = src.stream.read(CHUNK_BYTES)
        compression = _compression(head)
        if compression == "zstd":
            raise PcapdiffError(
                f"{src.name}: zstd-compressed capture; decompress it first (zstd -d FILE)"
            )
        if compression:
            summary.compression = compression
            # Restart the stream through the decompressor, prepending what we peeked.
            src.stream = _decompressor(compression, cast(BinaryIO, _Prefixed(head, src.raw)))
            head = src.stream.read(CHUNK_BYTES)
    except read_errors() as exc:
        raise PcapdiffError(f"{src.name}: read error: {exc}") from None
    if len(head) < 4:
        raise PcapFormatError(
            src.name,
            frame=None,
            offset=0,
            reason="empty file" if not head else "too short to be a capture",
        )
    return head


def read_errors(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """What a damaged stream raises, and ``also``: with xz's once the lzma module is
    loaded (only its decompressor raises it; it, gzip and bzip2 are imported when
    first needed). Every except clause of the reader asks here, so none misses it."""
    lzma = sys.modules.get("lzma")
    xz = () if lzma is None else (lzma.LZMAError,)
    return (*also, *_READ_ERRORS, *xz)


def _decompressor(kind: str, raw: BinaryIO) -> BinaryIO:
    """A file object that decompresses ``raw``; closed with the source."""
    if kind == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bzip2":
        import bz2

        return bz2.BZ2File(raw)  # type: ignore[return-value]
    import lzma

    return lzma.LZMAFile(raw)  # type: ignore[return-value]


def _compression(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return ""


def _guess(head: bytes) -> str:
    """A hint for files people mistake for captures."""
    if head.startswith(b"snoop"):
        return "; this is a Solaris snoop file: convert it with `editcap -F pcap`"
    if head[:1] in (b"{", b"["):
        return "; this looks like JSON"
    if head[:5].lower() in (b"<?xml", b"<html"):
        return "; this looks like XML/HTML"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head[:64]):
        return "; this looks like text"
    return ""


class _Prefixed:
    """A read-only stream that yields ``prefix`` and then the rest of ``raw``."""

    def __init__(self, prefix: bytes, raw: BinaryIO) -> None:
        self.prefix, self.raw = prefix, raw

    def read(self, n: int = -1, /) -> bytes:
        if self.prefix:
            if n < 0:
                out, self.prefix = self.prefix + self.raw.read(), b""
                return out
            out, self.prefix = self.prefix[:n], self.prefix[n:]
            return out
        return self.raw.read(n)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    @property
    def closed(self) -> bool:
        return False


# --- classic pcap ---------------------------------------------------------------


def _read_pcap(
    src: _Source,
    buf: bytes | bytearray,
    summary: CaptureSummary,
    strict: bool,
    progress: ProgressFn | None,
    max_ratio: int = DEFAULT_MAX_RATIO,
) -> Iterator[FrameBatch]:
    stream, name = src.stream, src.name
    while len(buf) < 24:
        more = stream.read(CHUNK_BYTES)
        if not more:
            raise PcapFormatError(
                name,
                frame=None,
                offset=len(buf),
                reason=f"file header cut off ({len(buf)} of 24 bytes)",
            )
        buf += more
    endian, nsec, modified = _PCAP_MAGICS[struct.unpack_from("<I", buf)[0]]
    major, minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(endian + "HHiIII", buf, 4)
    if major != 2:
        raise PcapFormatError(
            name, frame=None, offset=4, reason=f"pcap version {major}.{minor} is not supported"
        )
    # The upper bits hold an FCS length and reserved bits (pcap-linktype(7)).
    if network >> 16 and network & 0x03FF0000:
        raise PcapFormatError(
            name,
            frame=None,
            offset=20,
            reason=f"link-type field has reserved bits set (0x{network:08x})",
        )
    linktype = network & 0xFFFF
    summary.format = "pcap-modified" if modified else ("pcap-ns" if nsec else "pcap")
    summary.snaplen = snaplen
    summary.linktypes.add(linktype)
    max_caplen = min(max(DEFAULT_MAX_CAPLEN, snaplen), ABSOLUTE_MAX_CAPLEN)
    caplen_at = struct.Struct(endian + "I").unpack_from
    hdr_len = 24 if modified else 16
    chunks = src.open_chunks()
    # The bytes before the next chunk's: data[tail_at:tail_end]; ``consumed`` is their
    # offset in the file, ``base`` that of the chunk's first byte.
    data: bytes | bytearray = buf
    tail_at, tail_end, consumed = 24, len(buf), 24
    frame = 0
    empty_run = 0  # zero-length records in a row
    want = 0  # bytes the record cut by the chunk's end needs
    try:
        while True:
            carried = tail_end - tail_at
            chunk, begin, got = chunks.refill(data, tail_at, tail_end, want)
            end = begin + carried + got
            base = consumed - begin
            # Where each record starts, and its header's words: the Rust core's walk.
            walked = walk_pcap(
                chunk,
                begin,
                end,
                hdr_len,
                endian == ">",
                bool(nsec),
                max_caplen,
                EMPTY_RECORDS_RUN,
                ZERO_RUN_BYTES,
                CHUNK_BYTES,
                empty_run,
            )
            starts, caplens, stamps, wires, pos, want, empty_run, stop, at, caplen = walked
            count = len(starts) // 8
            if stop == "zeros":
                _zeros(summary, strict, name, frame + count + 1, base + at)
                end = at  # nothing from here on is a record
                got = 0
            if count:
                batch = _column_batch(chunk, linktype, frame, starts, caplens, stamps, wires)
                frame += count
                _note_batch(summary, count, *column_facts(caplens, wires, stamps))
                yield batch  # before a corrupt record's error: the records before it count
                if progress is not None:
                    progress(src.position(), src.total)
            if stop == "too_big":
                raise PcapFormatError(
                    name,
                    frame=frame + 1,
                    offset=base + at,
                    reason=f"record claims {caplen} captured bytes (limit {max_caplen}); "
                    "the file is corrupt from here on",
                )
            if summary.compression:
                check_ratio(src, name, frame + 1, base + end, max_ratio)
            data, tail_at, tail_end, consumed = chunk, pos, end, base + pos
            if not got:
                if end > pos:
                    have = end - pos
                    what = (
                        f"record header cut off ({have} of {hdr_len} bytes)"
                        if have < hdr_len
                        else f"record data cut off ({have - hdr_len} of "
                        f"{caplen_at(chunk, pos + 8)[0]} bytes)"
                    )
                    _cut_tail(summary, strict, name, frame + 1, consumed, what)
                return
    except read_errors() as exc:  # EIO, a gzip stream that goes bad midway, ...
        raise PcapdiffError(f"{name}: read error at frame {frame + 1}: {exc}") from None
    finally:
        src.close()
        summary.bytes_read = consumed


def _column_batch(
    chunk: bytearray,
    linktype: int,
    frame: int,
    starts: bytes,
    caplens: bytes,
    stamps: bytes,
    wires: bytes,
) -> FrameBatch:
    """A batch from the core's columns (native-endian int64 byte strings, no copy)."""
    at = int64s(starts)
    return FrameBatch(
        linktype=linktype,
        buf=chunk,
        frames=numbered(frame + 1, len(at)),
        starts=at,
        caplens=int64s(caplens),
        ts_ns=int64s(stamps),
        wire_lens=int64s(wires),
    )


def int64s(column: bytes) -> memoryview:
    """The core's column bytes as int64 numbers, without a copy."""
    return memoryview(column).cast("q")


def numbered(first: int, count: int) -> memoryview:
    """The frame numbers first, first + 1, ... as a column (made by the core: array()
    from a range parses every number as an argument, 0.1 s per million)."""
    return int64s(frame_numbers(first, count))


def _note_batch(
    summary: CaptureSummary, count: int, sliced: int, first: int | None, last: int | None
) -> None:
    """Counts and the capture window, per batch (timestamps need not be in order)."""
    summary.packets += count
    summary.sliced_packets += sliced
    _widen_window(summary, first, last)


def _zeros(summary: CaptureSummary, strict: bool, name: str, frame: int, offset: int) -> None:
    _cut_tail(
        summary,
        strict,
        name,
        frame,
        offset,
        "zero bytes or thousands of zero-length records from here on, not packets (a "
        "file never written to its end, or a decompression bomb): reading stopped",
    )


def check_ratio(src: _Source, name: str, frame: int, expanded: int, max_ratio: int) -> None:
    """Stop compressed input that expands beyond ``max_ratio`` times its size."""
    if not max_ratio or expanded < RATIO_FLOOR_BYTES:
        return
    consumed = src.position()
    if consumed and expanded > max_ratio * consumed:
        raise PcapFormatError(
            name,
            frame=frame,
            offset=expanded,
            reason=f"{consumed:,} compressed bytes expand to over {expanded:,} "
            f"({expanded // consumed:,}x): a decompression bomb? (--max-ratio 0 reads it all)",
        )


def _cut_tail(
    summary: CaptureSummary, strict: bool, name: str, frame: int, offset: int, what: str
) -> None:
    """A file that ends inside a record: tcpdump was killed, or the copy was cut."""
    if strict:
        raise PcapFormatError(name, frame=frame, offset=offset, reason=what)
    summary.truncated_tail = f"frame {frame} (byte {offset}): {what}"


def _widen_window(summary: CaptureSummary, first: int | None, last: int | None) -> None:
    summary.first_ts_ns, summary.last_ts_ns = _span(
        first, last, summary.first_ts_ns, summary.last_ts_ns
    )


# --- pcapng (draft-ietf-opsawg-pcapng) --------------------------------------------


class _Interface:
    """What an Interface Description Block says about its packets."""

    __slots__ = ("den", "linktype", "num", "offset_ns", "snaplen")

    def __init__(self, linktype: int, snaplen: int, num: int, den: int, offset_ns: int) -> None:
        self.linktype, self.snaplen = linktype, snaplen
        self.num, self.den, self.offset_ns = num, den, offset_ns  # ns = ticks * num // den


I128 = 1 << 127


def _core_walks(interfaces: list[_Interface]) -> bool:
    """Whether the core walks the section's EPBs: it does where each interface's time
    arithmetic fits its 128-bit integers (an if_tsresol of 2^-127 or 10^-40 does not:
    the blocks are read here, in Python's integers, one by one)."""
    return CORE_EPB_WALK and all(
        -I128 <= value < I128 for i in interfaces for value in (i.num, i.den, i.offset_ns)
    )


def _resolution(code: int) -> tuple[int, int]:
    """if_tsresol -> (num, den) so that nanoseconds = ticks * num // den."""
    exponent = code & 0x7F
    if code & 0x80:  # a negative power of two
        return 1_000_000_000, 1 << exponent
    if exponent <= 9:
        return 10 ** (9 - exponent), 1
    return 1, 10 ** (exponent - 9)


def _options(
    body: bytes | bytearray, start: int, end: int, endian: str, name: str, offset: int
) -> Iterator[tuple[int, bytes]]:
    """Walk a block's options; a length that runs past the block is corruption."""
    pos = start
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", body, pos)
        if code == 0:
            return
        value_end = pos + 4 + length
        if value_end > end:
            raise PcapFormatError(
                name,
                frame=None,
                offset=offset + pos,
                reason=f"pcapng option {code} of length {length} runs past its block",
            )
        yield code, bytes(body[pos + 4 : value_end])
        pos = value_end + (-length % 4)


class _Batcher:
    """Collects pcapng packets into FrameBatches of one link type and one buffer."""

    def __init__(self) -> None:
        self.linktype = -1
        self.buf: bytes | bytearray = b""
        self.rows: list[tuple[int, int, int, int, int]] = []  # frame, start, caplen, ts, wire

    def add(
        self, buf: bytes | bytearray, linktype: int, row: tuple[int, int, int, int, int]
    ) -> FrameBatch | None:
        done = None
        if self.rows and (linktype != self.linktype or buf is not self.buf):
            done = self.flush()
        self.buf, self.linktype = buf, linktype
        self.rows.append(row)
        return done

    def flush(self) -> FrameBatch | None:
        if not self.rows:
            return None
        frames, starts, caplens, ts, wire = (_int_column(c) for c in zip(*self.rows, strict=True))
        self.rows = []
        return FrameBatch(self.linktype, self.buf, frames, starts, caplens, ts, wire)


def _int_column(values: tuple[int, ...]) -> Column:
    """int64, unless a value does not fit (a bogus pcapng timestamp past 2262)."""
    try:
        return array("q", values)
    except OverflowError:
        return list(values)


def _read_pcapng(
    src: _Source,
    buf: bytes | bytearray,
    summary: CaptureSummary,
    strict: bool,
    progress: ProgressFn | None,
    max_ratio: int = DEFAULT_MAX_RATIO,
) -> Iterator[FrameBatch]:
    name = src.name
    summary.format = "pcapng"
    endian = "<"
    interfaces: list[_Interface] = []
    stats: dict[int, InterfaceStats] = {}
    pos, base = 0, 0
    frame = 0
    sliced = 0
    first_ts = last_ts = None
    skipping = False  # inside a section whose version we cannot read
    sections = 0
    next_progress = PROGRESS_EVERY
    batcher = _Batcher()
    chunks = src.open_chunks()
    end = len(buf)
    try:
        while True:
            if pos + 12 > end:
                buf, begin, end, got = _refill(chunks, buf, pos, end, CHUNK_BYTES)
                if not got:
                    if sections == 0:  # as for a pcap: no whole file header, no capture
                        raise PcapFormatError(
                            name, frame=None, offset=0, reason="file header cut off"
                        )
                    if pos < end:
                        _cut_tail(
                            summary,
                            strict,
                            name,
                            frame + 1,
                            base + pos,
                            f"block header cut off ({end - pos} bytes left)",
                        )
                    break
                base += pos - begin
                pos = begin
                if summary.compression:
                    check_ratio(src, name, frame + 1, base + end, max_ratio)
                continue
            block_type = struct.unpack_from(endian + "I", buf, pos)[0]
            if block_type == 6 and interfaces and not skipping and _core_walks(interfaces):
                # The Rust core takes the run of whole, well-formed EPBs from here; the
                # first block it does not take is read below, as every block was.
                *columns, after = walk_pcapng(
                    buf,
                    pos,
                    end,
                    endian == ">",
                    [(i.linktype, i.num, i.den, i.offset_ns) for i in interfaces],
                    ABSOLUTE_MAX_CAPLEN + 64,
                    FAST_RUN_RECORDS,
                )
                if after > pos:
                    last = batcher.flush()  # the order of frames is kept
                    if last is not None:
                        yield last
                    _, caplens, stamps, wires, _ = columns
                    cut, low, high = column_facts(caplens, wires, stamps)
                    sliced += cut
                    first_ts, last_ts = _span(low, high, first_ts, last_ts)
                    for batch in _run_batches(buf, frame, *columns):
                        frame += len(batch.frames)
                        yield batch
                    pos = after
                    if progress is not None and frame >= next_progress:
                        next_progress = frame + PROGRESS_EVERY
                        progress(src.position(), src.total)
                    continue
            if block_type == _PCAPNG_SHB:
                bom = struct.unpack_from("<I", buf, pos + 8)[0]
                if bom == _PCAPNG_BOM:
                    endian = "<"
                elif bom == 0x4D3C2B1A:
                    endian = ">"
                else:
                    raise PcapFormatError(
                        name,
                        frame=None if not frame else frame + 1,
                        offset=base + pos + 8,
                        reason=f"pcapng section header has a bad byte-order magic ({bom:08x})",
                    )
            block_len = struct.unpack_from(endian + "I", buf, pos + 4)[0]
            if block_len < 12 or block_len % 4:
                raise PcapFormatError(
                    name,
                    frame=frame + 1 if frame else None,
                    offset=base + pos,
                    reason=f"pcapng block length {block_len} is invalid",
                )
            if block_len > ABSOLUTE_MAX_CAPLEN + 64:
                raise PcapFormatError(
                    name,
                    frame=frame + 1,
                    offset=base + pos,
                    reason=f"pcapng block claims {block_len} bytes; the file is corrupt from "
                    "here on",
                )
            nxt = pos + block_len
            if nxt > end:
                buf, begin, end, got = _refill(chunks, buf, pos, end, max(CHUNK_BYTES, block_len))
                if not got:
                    what = f"block cut off ({end - pos} of {block_len} bytes)"
                    if sections == 0:
                        raise PcapFormatError(name, frame=None, offset=base + pos, reason=what)
                    _cut_tail(summary, strict, name, frame + 1, base + pos, what)
                    break
                base += pos - begin
                pos = begin
                continue
            offset = base + pos
            body_end = nxt - 4
            need = _PCAPNG_MIN_LEN.get(block_type, 12)
            if block_len < need and not (skipping and block_type != _PCAPNG_SHB):
                what = (
                    f"pcapng {_PCAPNG_NAMES[block_type]} block of {block_len} bytes is "
                    f"shorter than its fixed fields ({need})"
                )
                if block_type in (_PCAPNG_SHB, 1):  # what follows cannot be read without it
                    raise PcapFormatError(
                        name, frame=frame + 1 if frame else None, offset=offset, reason=what
                    )
                if block_type in (2, 3, 6):
                    frame += 1
                    summary.add_anomaly(Anomaly(frame, "truncated_block", what))
                pos = nxt
                continue
            if block_type == _PCAPNG_SHB:
                major, minor = struct.unpack_from(endian + "HH", buf, pos + 12)
                sections += 1
                interfaces = []
                if major != 1 or minor not in (0, 2):
                    if sections == 1:
                        raise PcapFormatError(
                            name,
                            frame=None,
                            offset=offset + 12,
                            reason=f"pcapng version {major}.{minor} is not supported",
                        )
                    skipping = True
                    summary.skipped_sections += 1
                else:
                    skipping = False
                    for _ in _options(buf, pos + 24, body_end, endian, name, base):
                        pass  # only validated: comments and hardware names are not used
            elif sections == 0:
                raise PcapFormatError(
                    name,
                    frame=None,
                    offset=0,
                    reason="pcapng file does not start with a section header",
                )
            elif skipping:
                pass
            elif block_type == 6:  # Enhanced Packet Block
                frame += 1
                iface_id, ts_hi, ts_lo, caplen, wire_len = struct.unpack_from(
                    endian + "IIIII", buf, pos + 8
                )
                if caplen > block_len - 32 or iface_id >= len(interfaces):
                    summary.add_anomaly(_bad_block(frame, caplen, block_len, iface_id, interfaces))
                else:
                    iface = interfaces[iface_id]
                    ts = ((ts_hi << 32 | ts_lo) * iface.num) // iface.den + iface.offset_ns
                    if caplen < wire_len:
                        sliced += 1
                    done = batcher.add(buf, iface.linktype, (frame, pos + 28, caplen, ts, wire_len))
                    if done is not None:
                        yield done
                    last_ts = ts if last_ts is None or ts > last_ts else last_ts
                    first_ts = ts if first_ts is None or ts < first_ts else first_ts
            elif block_type == 3:  # Simple Packet Block: interface 0, no timestamp
                frame += 1
                wire_len = struct.unpack_from(endian + "I", buf, pos + 8)[0]
                if not interfaces:
                    summary.add_anomaly(_bad_block(frame, 0, block_len, 0, interfaces))
                else:
                    iface = interfaces[0]
                    caplen = min(wire_len, block_len - 16)
                    if iface.snaplen:
                        caplen = min(caplen, iface.snaplen)
                    if caplen < wire_len:
                        sliced += 1
                    ts = last_ts if last_ts is not None else 0
                    done = batcher.add(buf, iface.linktype, (frame, pos + 12, caplen, ts, wire_len))
                    if done is not None:
                        yield done
            elif block_type == 2:  # obsolete Packet Block
                frame += 1
                iface_id, _drops, ts_hi, ts_lo, caplen, wire_len = struct.unpack_from(
                    endian + "HHIIII", buf, pos + 8
                )
                if caplen > block_len - 32 or iface_id >= len(interfaces):
                    summary.add_anomaly(_bad_block(frame, caplen, block_len, iface_id, interfaces))
                else:
                    iface = interfaces[iface_id]
                    ts = ((ts_hi << 32 | ts_lo) * iface.num) // iface.den + iface.offset_ns
                    if caplen < wire_len:
                        sliced += 1
                    done = batcher.add(buf, iface.linktype, (frame, pos + 28, caplen, ts, wire_len))
                    if done is not None:
                        yield done
                    last_ts = ts if last_ts is None or ts > last_ts else last_ts
                    first_ts = ts if first_ts is None or ts < first_ts else first_ts
            elif block_type == 1:  # Interface Description Block
                interfaces.append(_interface(buf, pos, body_end, endian, name, base))
                summary.linktypes.add(interfaces[-1].linktype)
                if interfaces[-1].snaplen > summary.snaplen:
                    summary.snaplen = interfaces[-1].snaplen
            elif block_type == 5:  # Interface Statistics Block
                isb = _interface_stats(buf, pos, body_end, endian, name, base, interfaces)
                if isb is not None:
                    stats[(sections << 32) | isb.interface] = isb
            # Other blocks (name resolution, custom, decryption secrets, ...) carry no packets.
            pos = nxt
            if progress is not None and frame >= next_progress:
                next_progress += PROGRESS_EVERY
                progress(src.position(), src.total)
        last = batcher.flush()
        if last is not None:
            yield last
    except read_errors(PcapFormatError) as exc:  # a corrupt block, EIO, bad gzip data
        last = batcher.flush()  # the packets before the damage count: handed on first
        if last is not None:
            yield last
        if isinstance(exc, PcapFormatError):
            raise
        raise PcapdiffError(f"{name}: read error at frame {frame + 1}: {exc}") from None
    finally:
        src.close()
        summary.packets += frame
        summary.sliced_packets += sliced
        summary.bytes_read = base + pos
        summary.interface_stats.extend(stats.values())
        _widen_window(summary, first_ts, last_ts)


def _refill(
    chunks: ChunkSource, buf: bytes | bytearray, pos: int, end: int, want: int
) -> tuple[bytes | bytearray, int, int, int]:
    """A chunk holding buf[pos:end] and bytes read after them, ``want`` from pos if
    the stream has them: (chunk, where buf[pos] is in it, its end, bytes read). At
    the end of the stream the old buffer is kept, unchanged."""
    chunk, begin, got = chunks.refill(buf, pos, end, want)
    if not got:
        return buf, pos, end, 0
    return chunk, begin, begin + end - pos + got, got


def _run_batches(
    buf: bytes | bytearray,
    frame: int,
    starts: bytes,
    caplens: bytes,
    stamps: bytes,
    wires: bytes,
    linktypes: bytes,
) -> Iterator[FrameBatch]:
    """The core's run of EPBs as batches of one link type each, numbered on from
    ``frame``."""
    columns = [int64s(c) for c in (starts, caplens, stamps, wires)]
    for a, b, linktype in linktype_runs(linktypes):
        at, caplen, ts, wire = (c[a:b] for c in columns)
        yield FrameBatch(linktype, buf, numbered(frame + a + 1, b - a), at, caplen, ts, wire)


def _span(
    low: int | None, high: int | None, first: int | None, last: int | None
) -> tuple[int | None, int | None]:
    """The earliest and latest timestamp so far, with a batch's (low, high)."""
    if low is None or high is None:
        return first, last
    return (low if first is None else min(first, low), high if last is None else max(last, high))


def _bad_block(
    frame: int, caplen: int, block_len: int, iface_id: int, interfaces: list[_Interface]
) -> Anomaly:
    if iface_id >= len(interfaces):
        return Anomaly(
            frame,
            "unknown_interface",
            f"packet names interface {iface_id}, but only {len(interfaces)} are described",
        )
    return Anomaly(
        frame, "bad_packet_block", f"block of {block_len} bytes cannot hold {caplen} captured bytes"
    )


def _interface(
    buf: bytes | bytearray, pos: int, body_end: int, endian: str, name: str, base: int
) -> _Interface:
    linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", buf, pos + 8)
    num, den, offset_ns = 1000, 1, 0  # default resolution: microseconds
    for code, value in _options(buf, pos + 16, body_end, endian, name, base):
        if code == 9 and value:  # if_tsresol
            num, den = _resolution(value[0])
        elif code == 14 and len(value) >= 8:  # if_tsoffset, seconds
            offset_ns = struct.unpack_from(endian + "q", value)[0] * 1_000_000_000
    return _Interface(linktype, snaplen, num, den, offset_ns)


def _interface_stats(
    buf: bytes | bytearray,
    pos: int,
    body_end: int,
    endian: str,
    name: str,
    base: int,
    interfaces: list[_Interface],
) -> InterfaceStats | None:
    iface_id = struct.unpack_from(endian + "I", buf, pos + 8)[0]
    if iface_id >= len(interfaces):
        return None
    iface = interfaces[iface_id]
    counters: dict[int, int] = {}
    times: dict[int, int] = {}
    for code, value in _options(buf, pos + 20, body_end, endian, name, base):
        if code in (4, 5, 6, 7, 8) and len(value) >= 8:
            counters[code] = struct.unpack_from(endian + "Q", value)[0]
        elif code in (2, 3) and len(value) >= 8:  # isb_starttime, isb_endtime: hi, lo
            hi, lo = struct.unpack_from(endian + "II", value)
            times[code] = ((hi << 32 | lo) * iface.num) // iface.den + iface.offset_ns
    return InterfaceStats(
        interface=iface_id,
        linktype=iface.linktype,
        received=counters.get(4),
        dropped_by_interface=counters.get(5),
        dropped_by_os=counters.get(7),
        delivered=counters.get(8),
        start_ns=times.get(2),
        end_ns=times.get(3),
    )
