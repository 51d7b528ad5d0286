"""The `conns` job as a library call: read -> decode -> track over one capture.

``scan_connections`` streams; ``read_connections`` collects. The CLI uses the first,
so its memory follows live connections, not the file. A capture may be several files
(a rotated ring, one file per interface): each is read and decoded on its own, and
their segments are merged in time order before tracking.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import re
import threading
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO, cast

from . import _core
from .decode import decode_batches
from .files import describe
from .model import (
    FILE_BITS,
    Anomaly,
    CaptureSummary,
    Connection,
    FrameBatch,
    RecordTexts,
    SegmentRow,
)
from .read import DEFAULT_MAX_RATIO, ProgressFn, read_batches
from .track import CLOSE_DELAY_NS, IDLE_TIMEOUT_NS, Tap, track, track_batches

Source = Path | str | BinaryIO
# One capture: a file (or stream), or several files read as one, merged by time.
Sources = Source | Sequence[Path | str]


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
        source: Sources,
        options: ScanOptions = DEFAULT_SCAN,
        progress: ProgressFn | None = None,
        tap: Tap | None = None,
        json: bool = False,
        text_only: bool = False,
        keep: bool = False,
    ) -> None:
        """``json``: have the core write each record's ``conns --json`` text too
        (``json_of``), for a capture of one file. ``text_only`` (with ``json``): no
        ``Connection`` where the core wrote the text; ``items()`` then gives
        ``RecordTexts`` for them, and the scan cannot be iterated for connections.
        ``keep``: the records stay in the core (compare's engine reads them there);
        ``records()`` gives them, a ``Records`` per chunk read."""
        self._text_only = (text_only and json) or keep
        files = as_files(source)
        self.parts: list[CaptureSummary] = []  # one per file when there are several
        if len(files) == 1:
            only = files[0]
            name = only if isinstance(only, (str, Path)) else getattr(only, "name", "<stream>")
            self.summary = CaptureSummary(path=str(name))
            # A file's batches are read and decoded on a second thread (its reads end:
            # the thread can be stopped); a stream's in this one, read ahead.
            ahead = isinstance(only, (str, Path)) and str(only) != "-" and Path(only).is_file()
            batches = read_batches(
                only,
                self.summary,
                strict=options.strict,
                progress=progress,
                max_ratio=options.max_ratio,
                read_ahead=not ahead,
            )
        else:
            paths = [Path(str(f)) for f in files]
            self.summary = CaptureSummary(path=describe(paths), files=[str(p) for p in paths])
            self.parts = [CaptureSummary(path=str(p)) for p in paths]
            rows = heapq.merge(
                *self._file_rows(paths, options, progress), key=itemgetter(1)
            )  # by timestamp; a tie keeps the files' order
        self._released = [-(1 << 62)]
        self._json: list[tuple[int, str | None]] | None = [(0, None)] if json else None
        if len(files) == 1:  # decoded and tracked in one pass inside the core
            self._connections = track_batches(
                batches,
                self.summary,
                idle_timeout_ns=options.idle_timeout_ns,
                close_delay_ns=options.close_delay_ns,
                released=self._released,
                tap=tap,
                json=self._json,
                text_only=self._text_only,
                keep=keep,
                ahead=ahead,
            )
        else:
            self._connections = track(
                rows,
                idle_timeout_ns=options.idle_timeout_ns,
                close_delay_ns=options.close_delay_ns,
                released=self._released,
                tap=tap,
                keep=keep,
            )

    @property
    def released_until_ns(self) -> int | None:
        """Capture time up to which every connection that ended by then has been
        yielded (the tracker's last sweep); None before the first."""
        return self._released[0] if self._released[0] > -(1 << 62) else None

    def json_of(self, conn: Connection) -> str | None:
        """The core's ``conns --json`` text of the record last yielded, if it is
        ``conn`` (None: render it in Python)."""
        if self._json is None or self._json[0][0] != conn.id:
            return None
        return self._json[0][1]

    def records(self) -> Iterator[_core.Records]:
        """A ``keep`` scan's records, kept in the core: those that ended in each chunk
        read (often none), as they end."""
        return cast(Iterator[_core.Records], self._all())

    def items(self) -> Iterator[Connection | RecordTexts]:
        """Every record as it ends: runs of them as ``RecordTexts`` where the scan is
        ``text_only`` and the core wrote the text, else each ``Connection``."""
        return cast(Iterator[Connection | RecordTexts], self._all())

    def _all(self) -> Iterator[object]:
        with few_collections():
            yield from self._connections
        if self.parts:
            _merge_summaries(self.summary, self.parts)

    def __iter__(self) -> Iterator[Connection]:
        if self._text_only:
            raise TypeError("a text-only scan has no Connection for every record: use items()")
        return cast(Iterator[Connection], self.items())

    def _file_rows(
        self, paths: list[Path], options: ScanOptions, progress: ProgressFn | None
    ) -> list[Iterator[SegmentRow]]:
        sizes = [p.stat().st_size if p.is_file() else 0 for p in paths]
        done = [0] * len(paths)

        def file_progress(index: int) -> ProgressFn | None:
            if progress is None:
                return None

            def report(done_bytes: int, _total: int) -> None:
                done[index] = done_bytes
                progress(sum(done), sum(sizes))

            return report

        streams: list[Iterator[SegmentRow]] = []
        for index, (path, part) in enumerate(zip(paths, self.parts, strict=True)):
            batches = read_batches(
                path,
                part,
                strict=options.strict,
                progress=file_progress(index),
                max_ratio=options.max_ratio,
            )
            numbered = _numbered(batches, index << FILE_BITS)
            streams.append(chain.from_iterable(decode_batches(numbered, part)))
        return streams


RARE_COLLECTION_OBJECTS = 1_000_000  # tracked objects alive, net, between collections


class _RareCollections:
    """The scans inside few_collections now, on any thread, and the thresholds the
    first of them found."""

    lock = threading.Lock()
    running = 0
    before = gc.get_threshold()


@contextmanager
def few_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely: once a million more objects it tracks
    are alive than at its last run. Its default (a collection every 700 new objects,
    and full ones that walk every live object) took a third of a compare of two
    1M-packet captures (28.8 s against 18.0 s at 100,000); at 100,000 each collection
    still walked the records waiting for a twin: 2.0 s of a 5M + 5M compare, against
    0.001 s at a million. The records are acyclic (a 1M + 1M compare leaves 300
    objects in cycles, all from start-up); what cycles there are wait a little longer.
    compare's two scans run on two threads: the first to start sets the thresholds,
    the last to end puts the caller's back."""
    scans = _RareCollections
    with scans.lock:
        if not scans.running:
            scans.before = gc.get_threshold()
            gc.set_threshold(RARE_COLLECTION_OBJECTS, 50, 100)
        scans.running += 1
    try:
        yield
    finally:
        with scans.lock:
            scans.running -= 1
            if not scans.running:
                gc.set_threshold(*scans.before)


def as_files(source: Sources) -> list[Source]:
    """The files (or the one stream) a capture is read from."""
    if isinstance(source, (str, Path)) or not isinstance(source, Sequence):
        return [source]  # a file, a path, or a stream
    files: list[Source] = list(source)
    if not files:
        raise ValueError("no capture file given")
    return files


def _numbered(batches: Iterator[FrameBatch], base: int) -> Iterator[FrameBatch]:
    """Frame N of file i becomes i << FILE_BITS | N (``CaptureSummary.cite`` reads it)."""
    for batch in batches:
        if base:
            batch = batch._replace(frames=array("q", (f + base for f in batch.frames)))
        yield batch


def _merge_summaries(merged: CaptureSummary, parts: list[CaptureSummary]) -> None:
    """One capture's summary from its files' summaries."""
    merged.format = "+".join(dict.fromkeys(p.format for p in parts if p.format))
    merged.compression = "+".join(dict.fromkeys(p.compression for p in parts if p.compression))
    firsts = [p.first_ts_ns for p in parts if p.first_ts_ns is not None]
    lasts = [p.last_ts_ns for p in parts if p.last_ts_ns is not None]
    merged.first_ts_ns = min(firsts, default=None)
    merged.last_ts_ns = max(lasts, default=None)
    merged.snaplen = max(p.snaplen for p in parts)
    for index, part in enumerate(parts):
        merged.linktypes |= part.linktypes
        merged.packets += part.packets
        merged.bytes_read += part.bytes_read
        merged.sliced_packets += part.sliced_packets
        merged.tcp_packets += part.tcp_packets
        merged.non_tcp_packets += part.non_tcp_packets
        merged.ip_fragments += part.ip_fragments
        merged.skipped_sections += part.skipped_sections
        merged.interface_stats += part.interface_stats
        merged.icmp_errors_seen += part.icmp_errors_seen - len(part.icmp_errors)
        for error in part.icmp_errors:
            merged.add_icmp_error(error)
        merged.anomalies.update(part.anomalies)
        base = index << FILE_BITS
        for anomaly in part.anomaly_examples:
            if len(merged.anomaly_examples) < merged.MAX_EXAMPLES:
                merged.anomaly_examples.append(_in_file(anomaly, base))
        if part.truncated_tail:
            tail = f"{part.path}: {part.truncated_tail}"
            merged.truncated_tail = f"{merged.truncated_tail}; {tail}".lstrip("; ")
    merged.unseen = missing_ring_spans(parts)


def missing_ring_spans(parts: list[CaptureSummary]) -> list[tuple[int, int]]:
    """Where a rotated ring lacks a file: between two files, in time order, whose
    numbers do not follow (ring.pcap3 then ring.pcap5; 9 then 0 is the ring wrapping).
    Files that are not one ring (not all BASE or BASE + digits) have none."""
    bases = {re.sub(r"\d+$", "", p.path) for p in parts}
    if len(parts) < 2 or len(bases) != 1:
        return []
    base = bases.pop()
    # tcpdump -C without -W writes BASE, then BASE1, BASE2, ..: BASE is number 0
    numbered = [(p, int(p.path[len(base) :] or 0)) for p in parts if p.first_ts_ns is not None]
    numbered.sort(key=lambda pn: pn[0].first_ts_ns or 0)
    numbers = [n for _, n in numbered]
    if not numbers:
        return []
    lowest, highest = min(numbers), max(numbers)
    spans = []
    for (a, na), (b, nb) in itertools.pairwise(numbered):
        follows = nb == na + 1 or (na == highest and nb == lowest)
        ended, began = a.last_ts_ns, b.first_ts_ns
        if not follows and ended is not None and began is not None and began > ended:
            spans.append((ended, began))
    return spans


def _in_file(anomaly: Anomaly, base: int) -> Anomaly:
    """The reader numbers its own anomalies in the file's frames, the decoder sees
    the already renumbered ones: bring the first kind into the capture's numbering."""
    return anomaly if anomaly.frame >= base else anomaly._replace(frame=anomaly.frame + base)


def scan_connections(
    source: Sources,
    options: ScanOptions = DEFAULT_SCAN,
    progress: ProgressFn | None = None,
    json: bool = False,
    text_only: bool = False,
) -> ConnectionScan:
    """Stream the TCP connections of a capture, each yielded when it ends. A list of
    files is one capture (``files.capture_files`` expands a ring or a glob). ``json``,
    ``text_only``: see ``ConnectionScan``."""
    return ConnectionScan(source, options, progress, json=json, text_only=text_only)


def scan_kept(
    source: Sources, options: ScanOptions = DEFAULT_SCAN, progress: ProgressFn | None = None
) -> ConnectionScan:
    """Stream a capture's connection records kept in the core, for compare's engine
    (``ConnectionScan.records``)."""
    return ConnectionScan(source, options, progress, keep=True)


def read_connections(
    source: Sources,
    options: ScanOptions = DEFAULT_SCAN,
    progress: ProgressFn | None = None,
) -> tuple[list[Connection], CaptureSummary]:
    """All TCP connections of a capture, ordered by first frame, and the capture summary."""
    scan = scan_connections(source, options, progress)
    return in_capture_order(list(scan), len(as_files(source)) > 1), scan.summary


def in_capture_order(connections: list[Connection], several_files: bool) -> list[Connection]:
    """Ordered by first frame; across several files, whose frame numbers are their
    own, by time, as the merged file would be."""
    if several_files:
        return sorted(connections, key=lambda c: (c.first_ts_ns, c.first_frame))
    return sorted(connections, key=lambda c: c.first_frame)
