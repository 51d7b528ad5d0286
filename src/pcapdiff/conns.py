"""The `conns` job as a library call: read -> decode -> track over one capture.

``scan_connections`` streams; ``read_connections`` collects. The CLI uses the first,
so its memory follows live connections, not the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from .decode import decode_batches
from .model import CaptureSummary, Connection
from .read import DEFAULT_MAX_RATIO, ProgressFn, read_batches
from .track import CLOSE_DELAY_NS, IDLE_TIMEOUT_NS, track


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """How to read and track one capture."""

    strict: bool = False  # a file cut off mid-record is an error, not a warning
    max_ratio: int = DEFAULT_MAX_RATIO  # compressed input expanding more is stopped; 0: no limit
    idle_timeout_ns: int = IDLE_TIMEOUT_NS
    close_delay_ns: int = CLOSE_DELAY_NS


DEFAULT_SCAN = ScanOptions()


class ConnectionScan:
    """An iterator of the connections in one capture, plus what reading it found.

    ``summary`` is complete once the iteration has finished.
    """

    def __init__(
        self,
        source: Path | str | BinaryIO,
        options: ScanOptions = DEFAULT_SCAN,
        progress: ProgressFn | None = None,
    ) -> None:
        name = source if isinstance(source, (str, Path)) else getattr(source, "name", "<stream>")
        self.summary = CaptureSummary(path=str(name))
        batches = read_batches(
            source,
            self.summary,
            strict=options.strict,
            progress=progress,
            max_ratio=options.max_ratio,
        )
        self._connections = track(
            chain.from_iterable(decode_batches(batches, self.summary)),
            idle_timeout_ns=options.idle_timeout_ns,
            close_delay_ns=options.close_delay_ns,
        )

    def __iter__(self) -> Iterator[Connection]:
        return self._connections


def scan_connections(
    source: Path | str | BinaryIO,
    options: ScanOptions = DEFAULT_SCAN,
    progress: ProgressFn | None = None,
) -> ConnectionScan:
    """Stream the TCP connections of a capture, each yielded when it ends."""
    return ConnectionScan(source, options, progress)


def read_connections(
    source: Path | str | BinaryIO,
    options: ScanOptions = DEFAULT_SCAN,
    progress: ProgressFn | None = None,
) -> tuple[list[Connection], CaptureSummary]:
    """All TCP connections of a capture, ordered by first frame, and the capture summary."""
    scan = scan_connections(source, options, progress)
    connections = sorted(scan, key=lambda c: c.first_frame)
    return connections, scan.summary
