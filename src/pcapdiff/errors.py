"""Errors pcapdiff raises on purpose.

Every error a user can cause (a file that is not a capture, a cut-off header, a
link type we cannot decode, a bad option) is a ``PcapdiffError``: the CLI prints its
one-line message and exits 2. Anything else escaping the library is a bug.
"""

from __future__ import annotations

from pathlib import Path


class PcapdiffError(Exception):
    """Base for every error pcapdiff raises on purpose."""


class PcapFormatError(PcapdiffError):
    """A capture file is damaged where reading cannot go on (header, record framing)."""

    def __init__(self, path: Path | str, *, frame: int | None, offset: int, reason: str) -> None:
        where = "file header" if frame is None else f"frame {frame}"
        super().__init__(f"{path}: {where} (byte {offset}): {reason}")
        self.path, self.frame, self.offset, self.reason = path, frame, offset, reason


class UnsupportedLinkType(PcapdiffError):
    """The capture's link type carries no IP we can decode."""

    def __init__(self, path: Path | str, linktype: int, name: str) -> None:
        super().__init__(
            f"{path}: link type {linktype} ({name}) is not supported; "
            "capture with `tcpdump -i any` or on an Ethernet interface"
        )
        self.path, self.linktype = path, linktype


class CaptureError(PcapdiffError):
    """An external capture tool failed."""
