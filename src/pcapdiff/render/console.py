"""Rich consoles with the settings wire text needs.

rich is imported when the first console is made: a command that writes only JSON
starts without it (about 45 ms).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
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


LINES_PER_WRITE = 1000


def write_lines(console: Console, lines: Iterable[tuple[str, str]]) -> None:
    """Lines of (text, rich style) to the console's stream, in the style's colours
    only where the console shows colours (a terminal; not NO_COLOR, not a pipe), a
    thousand at a write. rich's print of a line costs some 60 us: the table of a
    1M-packet capture took 18 s (`conns`) and 79 s (`compare`) through it. The text
    is the caller's, escaped as all packet text is (text.wire_text)."""
    from rich.color import ColorSystem
    from rich.style import Style

    systems = {
        "standard": ColorSystem.STANDARD,
        "256": ColorSystem.EIGHT_BIT,
        "truecolor": ColorSystem.TRUECOLOR,
        "windows": ColorSystem.WINDOWS,
    }
    system = systems.get(console.color_system or "")
    styles: dict[str, Style] = {}
    out = console.file
    batch: list[str] = []
    try:
        for text, style in lines:
            if style and system is not None and text:
                if style not in styles:
                    styles[style] = Style.parse(style)
                text = styles[style].render(text, color_system=system)
            batch.append(text)
            if len(batch) >= LINES_PER_WRITE:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            out.write("\n".join(batch) + "\n")
        out.flush()
    except BrokenPipeError:
        # As the console's on_broken_pipe raises it: without an errno, which click
        # would take for its own EPIPE and exit 1 ("a connection is not ok").
        raise BrokenPipeError from None
