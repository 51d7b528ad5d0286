"""Read and track one capture on a thread of its own: the second core's share of
compare.

The thread runs read -> decode -> track on its capture and hands the connection
records over in batches as they end, with progress; the caller's thread reads the other
capture meanwhile, and the two streams meet in the matcher. The core releases the GIL
while it decodes and tracks a chunk, so the two threads run on two cores for most of
their work; only making the Python records takes turns.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from . import _core
from .conns import ConnectionScan, ScanOptions, Sources, as_files, in_capture_order
from .model import CaptureSummary, Connection, IcmpError

# Below this a capture is read before the other, in the caller's thread: a thread's
# start and hand-overs cost more than the second core saves.
THREAD_MIN_BYTES = 4 << 20
BATCH = 2000  # connection records per batch
QUEUED_BATCHES = 8  # batches made and not yet taken, at most
PUT_WAIT_S = 0.1  # how often a reader waiting on a full queue looks for a cancel


def worth_a_thread(source: Sources) -> bool:
    """Is SOURCE files on disk, big enough to be read on a thread of its own?"""
    total = 0
    for f in as_files(source):
        if not isinstance(f, (str, Path)) or str(f) == "-":
            return False
        path = Path(f)
        if not path.is_file():
            return False
        total += path.stat().st_size
    return total >= THREAD_MIN_BYTES


class Batch(NamedTuple):
    """Records the tracker released, the ICMP errors read since the last batch, and
    the capture time up to which every record that ended is in this batch or an
    earlier one."""

    connections: list[Connection]
    icmp_errors: list[IcmpError]
    clock_ns: int | None  # every record that ended by then is in this batch or before
    first_ts_ns: int | None  # the capture's first packet
    kept: _core.Records | None = None  # a ``keep`` scan's records, kept in the core


class _Cancelled(Exception):
    """The caller gave up on the records: the reading thread stops."""


class _End(NamedTuple):
    """The last item of the queue: the summary, or what stopped the reading."""

    summary: CaptureSummary | None
    error: BaseException | None


class ThreadScan:
    """One capture read on its own thread; ``rest()`` and ``summary()`` give its
    records and its summary, ``ready()`` and ``wait()`` the records so far."""

    def __init__(
        self,
        source: Sources,
        options: ScanOptions,
        progress: Callable[[int, int], None] | None = None,
        keep: bool = False,
    ) -> None:
        """``keep``: the records stay in the core (``Batch.kept``), for compare's engine."""
        self._several = len(as_files(source)) > 1
        self._keep = keep
        # Bounded: a reader faster than the caller consumes waits here, instead of its
        # records piling up (at 5M packets, the whole capture).
        self._queue: queue.Queue[Batch | _End] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._cancelled = threading.Event()
        self._end: _End | None = None
        self._thread = threading.Thread(
            target=self._read,
            args=(source, options, progress),
            name="pcapdiff-reader",
            daemon=True,
        )
        self._thread.start()

    def _read(
        self,
        source: Sources,
        options: ScanOptions,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        def report(done: int, total: int) -> None:
            if self._cancelled.is_set():
                raise _Cancelled
            if progress is not None:
                progress(done, total)

        try:
            scan = ConnectionScan(source, options, report, keep=self._keep)
            summary = scan.summary
            batch: list[Connection] = []
            kept: _core.Records | None = None
            icmp_sent = 0

            def flush() -> None:
                nonlocal batch, kept, icmp_sent
                errors = summary.icmp_errors[icmp_sent:]
                icmp_sent = len(summary.icmp_errors)
                clock = _released(scan, summary)
                self._put(Batch(batch, errors, clock, summary.first_ts_ns, kept))
                batch, kept = [], None

            if self._keep:
                for records in scan.records():
                    if kept is None:
                        kept = records
                    else:
                        kept.absorb(records)
                    if len(kept) >= BATCH:
                        flush()
            else:
                for conn in scan:
                    batch.append(conn)
                    if len(batch) >= BATCH:
                        flush()
            flush()
            self._put(_End(summary, None))
        except _Cancelled:
            return
        except BaseException as exc:  # the caller raises it: a PcapdiffError, or a bug
            with contextlib.suppress(_Cancelled):
                self._put(_End(None, exc))

    def _put(self, item: Batch | _End) -> None:
        while True:
            if self._cancelled.is_set():
                raise _Cancelled
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=PUT_WAIT_S)
                return

    def cancel(self) -> None:
        """Stop the reading: the caller failed, its records are not wanted."""
        self._cancelled.set()
        self._thread.join()

    def _take(self, block: bool) -> Batch | None:
        """The next batch; None at the end (or, not blocking, when none is there)."""
        if self._end is None:
            try:
                item = self._queue.get(block=block)
            except queue.Empty:
                return None
            if isinstance(item, Batch):
                return item
            self._end = item
            self._thread.join()
        if self._end.error is not None:
            raise self._end.error
        return None

    def ready(self, most: int | None = None) -> list[Batch]:
        """The batches made so far (at most MOST), without waiting."""
        out: list[Batch] = []
        while (most is None or len(out) < most) and (batch := self._take(False)) is not None:
            out.append(batch)
        return out

    def wait(self) -> list[Batch] | None:
        """The next batch, waiting for it; None once the capture is read."""
        batch = self._take(True)
        return None if batch is None else [batch]

    def rest(self) -> Iterator[Batch]:
        """The batches not yet taken, as they come, until the capture is read;
        ``summary()`` then."""
        while (batch := self._take(True)) is not None:
            yield batch

    def summary(self) -> CaptureSummary:
        """The capture's summary, once ``rest()`` is exhausted."""
        if self._end is None or self._end.summary is None:
            raise RuntimeError("the capture has not been read to its end")
        return self._end.summary

    def result(self) -> tuple[list[Connection], CaptureSummary]:
        """All the capture's connections in capture order, and its summary."""
        connections = [c for batch in self.rest() for c in batch.connections]
        return in_capture_order(connections, self._several), self.summary()


def _released(scan: ConnectionScan, summary: CaptureSummary) -> int | None:
    """The capture time up to which the tracker has released every ended record (the
    whole capture once it is read)."""
    released = scan.released_until_ns
    if released is not None and summary.last_ts_ns is not None:
        return min(released, summary.last_ts_ns)
    return released
