"""What the commands share: capture arguments, progress bars, the time zone."""

from __future__ import annotations

import contextlib
import datetime
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

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


def write_text_output(target: Path, text: str) -> None:
    """TEXT to the file TARGET, or to stdout for "-"; a file is written whole or not at
    all (a half-written report must not pass for one)."""
    from ..errors import PcapdiffError

    if str(target) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    if target.exists() and not target.is_file():  # /dev/stdout, a FIFO: as it is
        try:
            with open(target, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            raise PcapdiffError(f"{target}: cannot write: {exc.strerror or exc}") from None
        return
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise PcapdiffError(f"{target}: cannot write: {exc.strerror or exc}") from None
