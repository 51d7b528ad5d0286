"""Write captured packets as pcap or pcapng, rotating files the way tcpdump -C/-W does.

Used by the scapy fallback: one link type (cooked SLL2, as `tcpdump -i any` writes),
nanosecond timestamps, each record flushed at once (tcpdump -U), and a ring of files
named FILE0..FILE{W-1} in which the oldest file is overwritten, never the newest.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

LINKTYPE_LINUX_SLL2 = 276
PCAP_NS_MAGIC = 0xA1B23C4D
MB = 1_000_000  # tcpdump -C counts millions of bytes


class RingWriter:
    """Append packets to OUTPUT; with max_size_mb, rotate across `files` files."""

    def __init__(
        self,
        output: Path,
        *,
        snaplen: int,
        pcapng: bool = False,
        max_size_mb: int | None = None,
        files: int = 10,
        linktype: int = LINKTYPE_LINUX_SLL2,
    ) -> None:
        self.output = output
        self.snaplen = snaplen
        self.pcapng = pcapng
        self.limit = max_size_mb * MB if max_size_mb else None
        self.files = files
        self.linktype = linktype
        self.index = 0
        self.packets = 0
        self._size = 0
        self._fh: BinaryIO = self._open()

    def path(self, index: int) -> Path:
        """tcpdump's names: FILE when not rotating, else FILE0.. padded to W's digits."""
        if self.limit is None:
            return self.output
        return Path(f"{self.output}{index:0{len(str(self.files))}d}")

    def write(self, ts_ns: int, data: bytes, wire_len: int) -> None:
        if self.limit is not None and self._size >= self.limit:
            self._rotate()
        record = self._record(ts_ns, data, wire_len)
        self._fh.write(record)
        self._fh.flush()  # -U: a packet on disk as soon as it is captured
        self._size += len(record)
        self.packets += 1

    def close(self) -> None:
        self._fh.close()

    def _open(self) -> BinaryIO:
        path = self.path(self.index)
        fh = path.open("wb")
        header = self._file_header()
        fh.write(header)
        fh.flush()
        self._size = len(header)
        return fh

    def _rotate(self) -> None:
        self._fh.close()
        self.index = (self.index + 1) % self.files  # the ring overwrites the oldest
        self._fh = self._open()

    def _file_header(self) -> bytes:
        if not self.pcapng:
            return struct.pack("<IHHiIII", PCAP_NS_MAGIC, 2, 4, 0, 0, self.snaplen, self.linktype)
        shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        shb = _block(0x0A0D0D0A, shb_body)
        tsresol = struct.pack("<HH", 9, 1) + b"\x09\x00\x00\x00"  # if_tsresol: 10^-9
        idb_body = struct.pack("<HHI", self.linktype, 0, self.snaplen) + tsresol + b"\0" * 4
        return shb + _block(0x00000001, idb_body)

    def _record(self, ts_ns: int, data: bytes, wire_len: int) -> bytes:
        if not self.pcapng:
            sec, ns = divmod(ts_ns, 1_000_000_000)
            return struct.pack("<IIII", sec, ns, len(data), wire_len) + data
        pad = b"\0" * (-len(data) % 4)
        epb = struct.pack("<IIIII", 0, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), wire_len)
        return _block(0x00000006, epb + data + pad)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)
