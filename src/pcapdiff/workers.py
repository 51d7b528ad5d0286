"""Read and track one capture in a child process: the second core's share of compare.

The child runs read -> decode -> track on its capture and streams the connection
records back through a pipe, in batches as they end, with progress; the parent reads
the other capture meanwhile, and the two streams meet in the matcher. The boundary is
the stream of ``Connection`` records a native reading thread will produce later.

The parent's receiving thread only moves bytes (the GIL is released while it reads),
so it does not slow the parent's own reading; the records are unpickled once the
parent has finished with its capture.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from .conns import (
    ConnectionScan,
    ScanOptions,
    Sources,
    as_files,
    in_capture_order,
    scan_connections,
)
from .errors import PcapdiffError
from .model import CaptureSummary, Connection, IcmpError

# A child costs about 0.4 s to start (a fresh interpreter importing numpy): worth it
# only when the capture takes longer than that to read.
CHILD_MIN_BYTES = 32 << 20
BATCH = 2000  # connection records per message
QUEUED_BATCHES = 8  # messages received and not yet taken, at most
PROGRESS_EVERY_S = 0.1

# Message kinds, the first byte of each message.
_PROGRESS, _CONNECTIONS, _SUMMARY, _ERROR, _CRASH = b"P", b"C", b"S", b"E", b"X"
_PROGRESS_FORMAT = "<QQ"


def worth_a_child(source: Sources) -> bool:
    """Is SOURCE files on disk, big enough to be read by a child process?"""
    total = 0
    for f in as_files(source):
        if not isinstance(f, (str, Path)) or str(f) == "-":
            return False
        path = Path(f)
        if not path.is_file():
            return False
        total += path.stat().st_size
    return total >= CHILD_MIN_BYTES


class Batch(NamedTuple):
    """Records the child's tracker released, the ICMP errors read since the last batch,
    and the capture time up to which every record that ended is in this batch or an
    earlier one."""

    connections: list[Connection]
    icmp_errors: list[IcmpError]
    clock_ns: int | None  # every record that ended by then is in this batch or before
    first_ts_ns: int | None  # the capture's first packet


class ChildScan:
    """One capture read by a child process; ``result()`` waits for its records.

    The child is ``python -m pcapdiff._worker``, not a multiprocessing fork or spawn:
    it never re-runs the caller's main module, and no thread of the caller is forked.
    """

    def __init__(
        self,
        source: Sources,
        options: ScanOptions,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self._several = len(as_files(source)) > 1
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pcapdiff._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(pickle.dumps((source, options)))
        self._process.stdin.close()
        # Bounded: a child that reads faster than this process consumes waits on the
        # pipe, instead of its records piling up here (at 5M packets, the whole capture).
        self._messages: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._progress = progress
        self._summary: CaptureSummary | None = None
        self._receiver = threading.Thread(
            target=self._receive,
            args=(self._process.stdout,),
            name="pcapdiff-receiver",
            daemon=True,
        )
        self._receiver.start()

    def _receive(self, stream: BinaryIO) -> None:
        with stream:
            for message in _messages(stream):
                if message[:1] == _PROGRESS:
                    if self._progress is not None:
                        self._progress(*struct.unpack(_PROGRESS_FORMAT, message[1:]))
                else:
                    self._messages.put(message)
        self._messages.put(None)  # the end

    def cancel(self) -> None:
        """Stop the child: the parent failed, its records are not wanted."""
        if self._process.poll() is None:
            self._process.terminate()
        self._process.wait()
        while self._receiver.is_alive():  # it may wait to put a message: take them
            with contextlib.suppress(queue.Empty):
                self._messages.get(timeout=0.1)
        self._receiver.join()

    def ready(self, most: int | None = None) -> list[Batch]:
        """The batches that have arrived (at most MOST messages' worth), without waiting."""
        out: list[Batch] = []
        taken = 0
        while most is None or taken < most:
            taken += 1
            try:
                message = self._messages.get_nowait()
            except queue.Empty:
                return out
            if message is None:
                self._messages.put(None)  # keep the end for rest()
                return out
            out += self._decode(message)
        return out

    def wait(self) -> list[Batch] | None:
        """The next message's batches, waiting for it; None once the child is done."""
        message = self._messages.get()
        if message is None:
            self._messages.put(None)  # keep the end for rest()
            return None
        return self._decode(message)

    def rest(self) -> Iterator[Batch]:
        """The batches not yet taken, as they come, until the child has finished;
        ``summary()`` then."""
        while (message := self._messages.get()) is not None:
            yield from self._decode(message)
        self._receiver.join()
        self._process.wait()

    def summary(self) -> CaptureSummary:
        """The capture's summary, once ``rest()`` is exhausted."""
        if self._summary is None:
            raise RuntimeError(
                f"the reading process ended without a result (exit code {self._process.returncode})"
            )
        return self._summary

    def result(self) -> tuple[list[Connection], CaptureSummary]:
        """All the capture's connections in capture order, and its summary."""
        connections = [c for batch in self.rest() for c in batch.connections]
        return in_capture_order(connections, self._several), self.summary()

    def _decode(self, message: bytes) -> list[Batch]:
        kind, body = message[:1], message[1:]
        if kind == _CONNECTIONS:
            return [Batch(*pickle.loads(body))]
        if kind == _SUMMARY:
            self._summary = pickle.loads(body)
            return []
        if kind == _ERROR:
            raise PcapdiffError(body.decode())
        raise RuntimeError(f"the reading process failed:\n{body.decode()}")


_LENGTH = struct.Struct("<Q")


def _messages(stream: BinaryIO) -> Iterator[bytes]:
    """Length-prefixed messages until the stream ends."""
    while True:
        head = stream.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            return
        (length,) = _LENGTH.unpack(head)
        body = stream.read(length)
        if len(body) < length:
            return
        yield body


def child_main(out: BinaryIO, source: Sources, options: ScanOptions) -> None:
    """In the child: scan the capture, stream the records, then the summary."""

    def send(message: bytes) -> None:
        out.write(_LENGTH.pack(len(message)) + message)

    try:
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S or done == total:
                last = now
                send(_PROGRESS + struct.pack(_PROGRESS_FORMAT, done, total))
                out.flush()

        scan = scan_connections(source, options, progress)
        summary = scan.summary
        batch: list[Connection] = []
        icmp_sent = 0

        def flush() -> None:
            nonlocal batch, icmp_sent
            errors = summary.icmp_errors[icmp_sent:]
            icmp_sent = len(summary.icmp_errors)
            body = (batch, errors, _released(scan, summary), summary.first_ts_ns)
            send(_CONNECTIONS + pickle.dumps(body, pickle.HIGHEST_PROTOCOL))
            batch = []

        for conn in scan:
            batch.append(conn)
            if len(batch) >= BATCH:
                flush()
        flush()
        send(_SUMMARY + pickle.dumps(summary, pickle.HIGHEST_PROTOCOL))
    except PcapdiffError as exc:
        send(_ERROR + str(exc).encode())
    except BaseException:  # the parent reports it, with the child's traceback
        send(_CRASH + traceback.format_exc().encode())
    finally:
        out.flush()


def _released(scan: ConnectionScan, summary: CaptureSummary) -> int | None:
    """The capture time up to which the tracker has released every ended record (the
    whole capture once it is read)."""
    released = scan.released_until_ns
    if released is not None and summary.last_ts_ns is not None:
        return min(released, summary.last_ts_ns)
    return released
