"""Rich consoles with the settings wire text needs."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console


def out_console(stream: TextIO, width: int | None = None, stderr: bool = False) -> Console:
    # Wire text like "GET /a[/b]" crashes rich's markup parser; long paths must not wrap.
    return Console(
        file=stream,
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=True,
        width=width,
        stderr=stderr,
    )
