"""Rich consoles with the settings wire text needs.

rich is imported when the first console is made: a command that writes only JSON
starts without it (about 45 ms).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console


@functools.cache
def _console_class() -> type[Console]:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 here, the code for "a connection is not ok"; the CLI
            # has one handler for a closed output, with its own line and code.
            raise BrokenPipeError

    return _Console


def output_width(stream: TextIO, piped: int) -> int | None:
    """The width to lay out for: the terminal's (or COLUMNS, which rich reads), or
    ``piped`` columns when the output goes to a file or a pipe and COLUMNS is unset."""
    if os.environ.get("COLUMNS", "").isdigit():
        return None
    try:
        return None if stream.isatty() else piped
    except ValueError:  # a closed stream
        return piped


def out_console(stream: TextIO, width: int | None = None, stderr: bool = False) -> Console:
    # Wire text like "GET /a[/b]" crashes rich's markup parser; long paths must not wrap.
    return _console_class()(
        file=stream,
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=True,
        width=width,
        stderr=stderr,
    )
