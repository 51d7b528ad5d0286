"""Which files one capture argument names: a file, a glob, or a rotated ring.

A side of a comparison is often several files: tcpdump -C/-W writes ``ring.pcap0`` ..
``ring.pcap9`` (or ``ring.pcap``, ``ring.pcap1``, .. without -W), a host with two
uplinks has one capture per interface. ``capture_files`` turns what the user typed
into the list of files to read; ``conns.scan_connections`` merges them in time order.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

from .errors import PcapdiffError

GLOB_CHARS = re.compile(r"[*?\[]")


def capture_files(argument: str | Path) -> list[Path]:
    """The files ARGUMENT names, in name order (the merge orders packets by time).

    - an existing file, with no rotated siblings: itself;
    - a pattern with ``*``, ``?`` or ``[``: every file it matches (none: an error);
    - FILE with siblings FILE0, FILE1, .. (tcpdump -C names): FILE (if present) and
      the siblings, numerically. ``ring.pcap`` therefore names the whole ring.
    Anything else is returned as given, so that reading it reports why it cannot be.
    """
    text = str(argument)
    if text == "-":
        return [Path(text)]
    if GLOB_CHARS.search(text) and not Path(text).exists():
        matched = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not matched:
            raise PcapdiffError(f"{text}: no file matches this pattern")
        return matched
    path = Path(text)
    rotated = ring_members(path)
    if not rotated:
        return [path]
    return ([path] if path.is_file() else []) + rotated


def ring_members(base: Path) -> list[Path]:
    """BASE0, BASE1, .. (any digits, padded or not) beside BASE, in numeric order."""
    folder = base.parent
    if not folder.is_dir():
        return []
    pattern = re.compile(re.escape(base.name) + r"(\d+)")
    found: list[tuple[int, Path]] = []
    for entry in folder.iterdir():
        m = pattern.fullmatch(entry.name)
        if m is not None and entry.is_file():
            found.append((int(m.group(1)), entry))
    return [p for _, p in sorted(found)]


def describe(files: list[Path]) -> str:
    """How a side's files are named in messages: the file, or "a, b and 3 more"."""
    names = [str(p) for p in files]
    if len(names) <= 3:
        return ", ".join(names)
    return f"{names[0]}, {names[1]} .. {names[-1]} ({len(names)} files)"
