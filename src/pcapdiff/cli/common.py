"""What the commands share: capture arguments, progress bars, the time zone."""

from __future__ import annotations

import contextlib
import datetime
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from ..model import Side
from ..render.times import UTC, local_zone


def capture_arg(files: list[Path]) -> str | list[str]:
    """What the library takes: one path, or the list of a ring's (a glob's) files."""
    return str(files[0]) if len(files) == 1 else [str(p) for p in files]


def capture_label(files: list[Path]) -> str:
    from ..files import describe

    return describe(files)


@contextlib.contextmanager
def bars(enabled: bool, labels: list[str]) -> Iterator[list[Callable[[int, int], None]]]:
    """Progress bars on stderr when enabled; no bars (an empty list) otherwise."""
    if not enabled:
        yield []
        return
    from ..render.progress import ProgressBars

    with ProgressBars(sys.stderr, labels) as updates:
        yield updates


def per_side(
    updates: list[Callable[[int, int], None]],
) -> Callable[[Side, int, int], None] | None:
    """compare's progress callback (side, done, total) onto one bar per capture."""
    if not updates:
        return None

    def update(side: Side, done: int, total: int) -> None:
        updates[0 if side is Side.EDGE or len(updates) == 1 else 1](done, total)

    return update


def show_progress(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def zone(local_time: bool) -> datetime.tzinfo:
    return local_zone() if local_time else UTC


@contextlib.contextmanager
def output_file(target: Path) -> Iterator[TextIO]:
    """A text file to write TARGET through, or stdout for "-"; a file is there whole or
    not at all (written as .NAME.partial, renamed when done: a half-written report must
    not pass for one); /dev/stdout, a FIFO and the like are written as they are."""
    from ..errors import PcapdiffError

    if str(target) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    direct = target.exists() and not target.is_file()
    partial = target if direct else target.with_name(f".{target.name}.partial")
    try:
        with open(partial, "w", encoding="utf-8") as out:
            yield out
        if not direct:
            partial.replace(target)
    except OSError as exc:
        if not direct:
            partial.unlink(missing_ok=True)
        raise PcapdiffError(f"{target}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        if not direct:
            partial.unlink(missing_ok=True)
        raise


def write_text_output(target: Path, text: str) -> None:
    """TEXT to TARGET (``output_file``)."""
    with output_file(target) as out:
        out.write(text)
