"""A table's rows kept on disk as they come, read back in the table's order.

A table for people is sorted (by first frame) and laid out at the end (its columns
as wide as their widest cell), so its rows cannot be written as the connections end;
held as objects they grew with the capture (565 MB for a million-packet pair). Here
each row's record (what the row shows, in values ``marshal`` writes) goes to a
temporary file, and memory holds three numbers a row: its start, its first frame,
where its record lies.
"""

from __future__ import annotations

import contextlib
import marshal
import tempfile
from array import array
from collections.abc import Iterator
from typing import Any

from ..errors import PcapdiffError


def _trouble(exc: OSError) -> PcapdiffError:
    where = tempfile.gettempdir()
    return PcapdiffError(
        f"the table's rows could not be kept in {where}: {exc.strerror or exc} "
        "(set TMPDIR to a directory with room, or write --json)"
    )


class Spool:
    """Rows on disk, in the order added; ``rows`` reads them back sorted."""

    def __init__(self) -> None:
        # closed by close() (a with block): the spool lives as long as its table
        try:
            self._file = tempfile.TemporaryFile(prefix="pcapdiff-table-")  # noqa: SIM115
        except OSError as exc:
            raise _trouble(exc) from None
        # the order's first key, where a capture is several files
        self._starts: array[int] | list[int] = array("q")
        self._frames = array("q")
        self._at = array("q")  # where its record starts in the file; -1: only counted
        self._lengths = array("q")
        self.shown = 0  # rows with a record

    def __len__(self) -> int:
        return len(self._at)

    def add(self, start_ns: int, frame: int, record: Any) -> None:
        """A row's place, and its record (None: a place in the numbering only)."""
        try:
            self._starts.append(start_ns)
        except OverflowError:  # a bogus pcapng time past 2262: the starts as ints, then
            self._starts = [*self._starts, start_ns]
        self._frames.append(frame)
        if record is None:
            self._at.append(-1)
            self._lengths.append(0)
            return
        data = marshal.dumps(record)
        try:
            self._at.append(self._file.tell())
            self._file.write(data)
        except OSError as exc:  # the disk is full
            raise _trouble(exc) from None
        self._lengths.append(len(data))
        self.shown += 1

    def rows(self, several_files: bool) -> Iterator[tuple[int, Any]]:
        """(its number in the order, its record) of each row with one: ordered by
        frame, or by start then frame where the capture is several files (frames are
        numbered per file); rows of one key in the order they were added."""
        starts, frames, at, lengths = self._starts, self._frames, self._at, self._lengths
        if several_files:
            order = sorted(range(len(at)), key=lambda i: (starts[i], frames[i]))
        else:
            order = sorted(range(len(at)), key=frames.__getitem__)
        for n, i in enumerate(order, 1):
            if at[i] >= 0:
                # one read a record: marshal.load(file) reads it piece by piece
                try:
                    self._file.seek(at[i])
                    data = self._file.read(lengths[i])
                except OSError as exc:  # the last writes flushed here: the disk is full
                    raise _trouble(exc) from None
                yield n, marshal.loads(data)

    def close(self) -> None:
        # its rows are thrown away: a flush that fails (a full disk) says nothing more
        with contextlib.suppress(OSError):
            self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
