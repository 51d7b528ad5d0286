"""Write the fuzz targets' seed corpora from the fixtures and the public corpus.

    python scripts/fuzz_seeds.py core/fuzz/corpus     # then: cd core && cargo fuzz run ...

Each seed is one flags byte (the layout the target reads the rest with) and the first
64 KiB of a capture: for walk_pcap the records after the 24-byte file header, with
the flags its magic calls for; for walk_pcapng the file from its first EPB on. The
framing and payload targets get the reassembled streams of the fixtures' connections,
the decode, track and compare targets the first frames of every capture.
Compressed files are read decompressed.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import lzma
import os
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_BYTES = 64 * 1024
# pcap magic -> the walk_pcap flags: 1 modified header, 2 big-endian, 4 nanoseconds
PCAP_FLAGS = {
    b"\xd4\xc3\xb2\xa1": 0,
    b"\xa1\xb2\xc3\xd4": 2,
    b"\x4d\x3c\xb2\xa1": 4,
    b"\xa1\xb2\x3c\x4d": 6,
    b"\x34\xcd\xb2\xa1": 1,
    b"\xa1\xb2\xcd\x34": 3,
}
OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def head(path: Path) -> bytes:
    opener = OPENERS.get(path.suffix, open)
    try:
        with opener(path, "rb") as f:
            return bytes(f.read(SEED_BYTES))
    except (OSError, EOFError, lzma.LZMAError):
        return b""


def first_epb(data: bytes, endian: str) -> int:
    """Where the first Enhanced Packet Block starts (the walk begins at one), or 0."""
    at = 0
    while at + 8 <= len(data):
        kind, length = struct.unpack_from(endian + "II", data, at)
        if kind == 6:
            return at
        if length < 12:
            break
        at += length
    return 0


def seeds(folders: list[Path]) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {"walk_pcap": {}, "walk_pcapng": {}}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix in (".json", ".tsv", ".md"):
                continue
            data = head(path)
            name = str(path.relative_to(folder)).replace(os.sep, "_")
            if data[:4] in PCAP_FLAGS:
                out["walk_pcap"][name] = bytes([PCAP_FLAGS[data[:4]]]) + data[24:]
            elif data[:4] == b"\x0a\x0d\x0d\x0a":
                big = data[8:12] == b"\x1a\x2b\x3c\x4d"
                at = first_epb(data, ">" if big else "<")
                out["walk_pcapng"][name] = bytes([0x10 if big else 0]) + data[at:]
    return out


def stream_seeds(folder: Path, limit: int = 200) -> dict[str, bytes]:
    """The framing target's seeds: the reassembled streams of the fixtures' flows
    (flags: 0x40 for a client's, so it is framed as requests; a cut of 16 bytes)."""
    from pcapdiff.errors import PcapdiffError
    from pcapdiff.flows import scan_flows, stream_bytes

    out: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*.pcap")):
        try:
            for flow in scan_flows(path):
                for flags, stream in ((0x4F, flow.client), (0x0F, flow.server)):
                    data = stream_bytes(stream)[:SEED_BYTES]
                    if data and len(out) < limit:
                        name = f"{path.stem}_{flow.connection.id}_{flags:02x}"
                        out[name] = bytes([flags]) + data
        except PcapdiffError:
            continue
    return out


def frame_seeds(folders: list[Path], frames_each: int = 64) -> dict[str, bytes]:
    """The decode target's seeds: the first frames of each capture, one seed per link
    type (flags: the link type's index in the core's table, 0x80 for pcapng), each
    frame a two-byte little-endian length and its bytes."""
    from pcapdiff._core import LINKTYPES
    from pcapdiff.errors import PcapdiffError
    from pcapdiff.model import CaptureSummary
    from pcapdiff.read import read

    index = {number: i for i, (number, _name, _decoded) in enumerate(LINKTYPES)}
    out: dict[str, bytes] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix in (".json", ".tsv", ".md"):
                continue
            summary = CaptureSummary(path=str(path))
            by_link: dict[int, bytearray] = {}
            try:
                for number, fr in enumerate(read(path, summary)):
                    if number >= frames_each:
                        break
                    seed = by_link.setdefault(fr.linktype, bytearray())
                    seed += len(fr.data[:0xFFFF]).to_bytes(2, "little") + fr.data[:0xFFFF]
            except PcapdiffError:
                pass
            pcapng = 0x80 if summary.format == "pcapng" else 0
            name = str(path.relative_to(folder)).replace(os.sep, "_")
            for linktype, frames in by_link.items():
                if linktype in index:
                    out[f"{name}_{linktype}"] = bytes([index[linktype] | pcapng]) + frames
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the corpus folder (one subfolder per target)")
    args = parser.parse_args()
    corpus = Path(os.environ.get("PCAPDIFF_CORPUS") or ROOT.parent / "shared" / "corpus" / "public")
    targets = seeds([ROOT / "fixtures", corpus])
    targets["framing"] = stream_seeds(ROOT / "fixtures" / "pcaps")
    targets["payload"] = {name: data[1:] for name, data in targets["framing"].items()}
    targets["decode"] = frame_seeds([ROOT / "fixtures", corpus])
    targets["track"] = targets["compare"] = targets["decode"]
    for target, files in targets.items():
        folder = args.out / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        print(f"{target}: {len(files)} seeds in {folder}")


if __name__ == "__main__":
    main()
