"""The read stage's chunks: the capture's bytes in the buffers the core walks.

A reader asks for the next chunk with the bytes it has not used yet (a record or a
block cut by the chunk's end): ``refill`` returns a buffer holding those bytes and
then the next ones from the stream, and where in it they begin.

``ReadAhead`` reads the stream on a second thread, one block ahead, straight into
the buffers the walk then reads: the kernel's copy of the file (or the decompressing)
runs while the core tracks the block before, on the other core, and a buffer no
batch refers to any more is filled again, not allocated and faulted in anew. The cut
bytes are copied into the room left before each block. ``Chunks`` reads in the
caller's thread: for a live stream, whose packets must be handed on as each read
brings them, not a block later.
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import BinaryIO, Protocol

CHUNK_BYTES = 1 << 20
CHUNK_SLACK = 64 << 10  # room for the record cut by the previous chunk's end
# Room before a read-ahead block for the bytes cut by the previous chunk's end: a
# record of the default largest captured length (262,144) and its header. A longer
# one is joined with the block in a buffer of its own.
FRONT_ROOM = 256 << 10 | 64
AHEAD = 2  # blocks read, or being read, ahead of the walk
KEEP = 6  # buffers kept for reuse (the walk's, those batches refer to, those ahead)


class ChunkSource(Protocol):
    def refill(
        self, data: bytes | bytearray, start: int, stop: int, want: int
    ) -> tuple[bytearray, int, int]:
        """(chunk, begin, got): chunk[begin:] holds data[start:stop], then ``got``
        bytes read on (at most max(CHUNK_BYTES, want) - (stop - start) of them, fewer
        only at the stream's end; 0: the stream ended)."""

    def position(self) -> int | None:
        """Bytes of the underlying file consumed, where the reader knows it better
        than the file's own position (None: ask the file)."""

    def close(self) -> None: ...


def open_chunks(
    stream: BinaryIO, raw: BinaryIO, regular_file: bool, ahead: bool = True
) -> ChunkSource:
    """The chunk source for a stream: read ahead (unless not ``ahead``), but for a live
    capture's stream. ``raw`` is the file under ``stream`` (the same, or what it
    decompresses)."""
    if getattr(stream, "interactive", False) or not ahead:
        return Chunks(stream)
    return ReadAhead(stream, raw, wait=regular_file)


def _reusable(held: list[bytearray], need: int) -> int | None:
    """The index of a held buffer of ``need`` bytes or more that nothing else refers
    to (by index: a loop variable, or ``list.remove``'s comparing, would not do)."""
    for i in range(len(held)):
        # Free when the only references are the list and the call's argument: a
        # batch handed out refers to its chunk (``FrameBatch.buf``), and a consumer may
        # keep it (compare's reading thread queues batches; a test may list them all).
        if len(held[i]) >= need and sys.getrefcount(held[i]) == 2:
            return i
    return None


class Chunks:
    """Chunks read in the caller's thread, each buffer used again once nothing refers
    to it. Reuse spares a megabyte of zeroing, and fresh pages to fault in, per chunk."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.held: list[bytearray] = []

    def refill(
        self, data: bytes | bytearray, start: int, stop: int, want: int
    ) -> tuple[bytearray, int, int]:
        carried = stop - start
        need = carried + max(CHUNK_BYTES, want)
        free = _reusable(self.held, need)
        if free is not None:
            chunk = self.held[free]
        else:
            chunk = bytearray(max(need, CHUNK_BYTES + CHUNK_SLACK))
            if len(self.held) < KEEP:
                self.held.append(chunk)
        with memoryview(data) as view:
            chunk[:carried] = view[start:stop]
        return chunk, 0, _fill(self.stream, chunk, carried, len(chunk))

    def position(self) -> int | None:
        return None

    def close(self) -> None:
        self.held.clear()


def _fill(stream: BinaryIO, chunk: bytearray, at: int, stop: int) -> int:
    """Read into chunk[at:stop] until it is full or the stream ends; return bytes read.
    A live stream (``interactive``: a capture still running) returns what one read
    brought, so its packets are seen as they come, not a megabyte later."""
    view = memoryview(chunk)
    got = 0
    readinto = getattr(stream, "readinto", None)
    live = getattr(stream, "interactive", False)
    while at + got < stop and not (live and got):
        if readinto is not None:
            n = readinto(view[at + got : stop])
        else:
            more = stream.read(stop - at - got)
            n = len(more)
            view[at + got : at + got + n] = more
        if not n:
            break
        got += n
    view.release()
    return got


# What the reading thread hands over: a filled block (the buffer, its bytes after
# FRONT_ROOM, the file's position after them), or the error that ended the reading.
_Block = tuple[bytearray, int, int | None]


class ReadAhead:
    """The stream read on a second thread, ``AHEAD`` blocks ahead of the walk."""

    def __init__(self, stream: BinaryIO, raw: BinaryIO, wait: bool) -> None:
        self.stream = stream
        self.raw = raw
        self.wait = wait  # close waits for the read in progress (not a pipe's: forever)
        self.held: list[bytearray] = []  # buffers handed to the walk, for reuse
        self.empty: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
        self.filled: queue.SimpleQueue[_Block | BaseException] = queue.SimpleQueue()
        self.ended: bool | BaseException = False  # the stream's end seen, or its error
        self.at: int | None = None
        for _ in range(AHEAD):
            self.empty.put(self._buffer())
        self.thread = threading.Thread(target=self._read, name="pcapdiff-read", daemon=True)
        self.thread.start()

    @staticmethod
    def _buffer() -> bytearray:
        return bytearray(FRONT_ROOM + CHUNK_BYTES)

    def _read(self) -> None:
        """The reading thread: fill each buffer given, until the stream ends or fails."""
        try:
            while (buf := self.empty.get()) is not None:
                n = _fill(self.stream, buf, FRONT_ROOM, len(buf))
                self.filled.put((buf, n, self._tell()))
                if n < CHUNK_BYTES:
                    return  # the stream's end
        except BaseException as exc:  # handed to the walk, raised there
            self.filled.put(exc)

    def _tell(self) -> int | None:
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return None

    def _next(self) -> tuple[bytearray, int]:
        """The next block read (waiting for it), and an empty buffer put in its place.
        After the stream's end, empty blocks, each in a buffer of its own (the walk
        copies the bytes it has not used into it; the last block's batches may be kept)."""
        if isinstance(self.ended, BaseException):
            raise self.ended
        if self.ended:
            return bytearray(FRONT_ROOM), 0
        item = self.filled.get()
        if isinstance(item, BaseException):
            self.ended = item
            raise item
        buf, n, self.at = item
        if n < CHUNK_BYTES:
            self.ended = True  # the reading thread has stopped
            return buf, n
        free = _reusable(self.held, FRONT_ROOM + CHUNK_BYTES)
        self.empty.put(self.held.pop(free) if free is not None else self._buffer())
        self.held.append(buf)
        if len(self.held) > KEEP:
            del self.held[0]  # still referred to by a kept batch: left to it
        return buf, n

    def refill(
        self, data: bytes | bytearray, start: int, stop: int, want: int
    ) -> tuple[bytearray, int, int]:
        carried = stop - start
        buf, n = self._next()
        if carried <= FRONT_ROOM and (carried + n >= want or n < CHUNK_BYTES):
            begin = FRONT_ROOM - carried
            with memoryview(data) as view:
                buf[begin:FRONT_ROOM] = view[start:stop]
            return buf, begin, n
        # A record longer than the room: joined with as many blocks as it needs.
        parts = [bytes(data[start:stop]), bytes(buf[FRONT_ROOM : FRONT_ROOM + n])]
        got = n
        while carried + got < want and n == CHUNK_BYTES:
            buf, n = self._next()
            parts.append(bytes(buf[FRONT_ROOM : FRONT_ROOM + n]))
            got += n
        return bytearray(b"".join(parts)), 0, got

    def position(self) -> int | None:
        return self.at

    def close(self) -> None:
        """Stop the reading thread: after the read it is in, waited for where that is
        short (a file's), so the file is not closed under it."""
        self.empty.put(None)
        if self.wait:
            self.thread.join()
        self.held.clear()
