"""Progress bars on stderr for people: one per capture being read, fed by the reader's
byte counts. Never in JSON and never when stderr is not a terminal (the CLI decides)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TextIO

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ..text import safe_text
from .console import out_console

Update = Callable[[int, int], None]  # (bytes done, bytes total or 0 when unknown)


class ProgressBars:
    """A context manager: one transient bar per label; yields an update function each."""

    def __init__(self, stream: TextIO, labels: Sequence[str]) -> None:
        self.stream, self.labels = stream, list(labels)
        self.bar: Any = None

    def __enter__(self) -> list[Update]:
        # The description is a plain column: the console has markup off (wire text in
        # file names), so a "[progress.description]" markup string would show as such.
        self.bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=out_console(self.stream, stderr=True),
            transient=True,
            # rich would otherwise capture sys.stdout while a bar shows, and streamed
            # output (conns --json) would land on the terminal, not where it was sent.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.bar.start()
        updates: list[Update] = []
        for label in self.labels:
            task = self.bar.add_task(safe_text(label), total=None)

            def update(done: int, total: int, task: Any = task) -> None:
                self.bar.update(task, completed=done, total=total or None)

            updates.append(update)
        return updates

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
