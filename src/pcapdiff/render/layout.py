"""Layouts that work at any terminal width: a table where every column fits whole,
otherwise one block per row (its fields on a line, then the long texts wrapped).
No column is ever dropped, and no word is broken unless it is longer than a line."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

Justify = Literal["left", "right"]

# A table column of prose narrower than this breaks it into a word or two per line.
MIN_PROSE_WIDTH = 36
GAP = 2  # rich's padding between columns of a box-less table


def table_fits(
    width: int, headers: Sequence[str], rows: Sequence[Sequence[str]], prose: Sequence[int]
) -> bool:
    """Whether a table of these rows fits ``width`` with every fixed column whole and
    each prose column (their indexes) at least MIN_PROSE_WIDTH wide, or as wide as
    its longest line when that is shorter."""
    return fits(width, longest(headers, rows), prose)


def fits(width: int, widest: Sequence[int], prose: Sequence[int]) -> bool:
    """``table_fits`` of a table whose columns' longest lines are ``widest``."""
    need = sum(min(w, MIN_PROSE_WIDTH) if i in prose else w for i, w in enumerate(widest))
    return need + GAP * (len(widest) - 1) <= width


def longest(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[int]:
    """Each column's longest line, its header's included."""
    widest = Widest(headers)
    for row in rows:
        widest.add(row)
    return widest.widths


class Widest:
    """Each column's longest line (its header's included), measured row by row: a
    table streamed from disk is laid out without holding its rows."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.widths = [len(header) for header in headers]

    def add(self, row: Sequence[str]) -> None:
        widths = self.widths
        for i, cell in enumerate(row):
            w = max(map(len, cell.splitlines()), default=0)
            if w > widths[i]:
                widths[i] = w


def wrap(text: str, width: int, indent: int, hang: int = 2) -> list[str]:
    """Lines of at most ``width``: indented, continuation lines ``hang`` further."""
    first = " " * indent
    width = max(width, indent + hang + 20)
    if indent + len(text) <= width and _as_it_is(text):
        return [first + text]  # what textwrap gives back, without its 10 us
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=first + " " * hang,
        break_on_hyphens=False,
        replace_whitespace=False,
        drop_whitespace=True,
    ) or [first.rstrip()]


def grid_widths(
    width: int, headers: Sequence[str], rows: Sequence[Sequence[str]], prose: Sequence[int]
) -> list[int]:
    """Each column's width in a table of ``width``: a fixed column as wide as its widest
    cell, the prose columns (their indexes) sharing what is left as rich's tables
    share it, the widest narrowed first. ``table_fits`` says whether that leaves each
    prose column wide enough."""
    return shared_widths(width, longest(headers, rows), prose)


def shared_widths(width: int, widest: Sequence[int], prose: Sequence[int]) -> list[int]:
    """``grid_widths`` of a table whose columns' longest lines are ``widest``."""
    widths = list(widest)
    fixed = sum(w for i, w in enumerate(widths) if i not in prose)
    excess = sum(widths[i] for i in prose) - (width - fixed - GAP * (len(widths) - 1))
    while excess > 0 and prose:  # each pass levels the widest down to the next widest
        widest_now = max(widths[i] for i in prose)
        at_widest = [i for i in prose if widths[i] == widest_now]
        below = max((widths[i] for i in prose if widths[i] < widest_now), default=0)
        cut = min(widest_now - below, -(-excess // len(at_widest)))
        for i in at_widest:
            take = min(cut, excess, widths[i] - 1)
            widths[i] -= take
            excess -= take
        if cut == 0 or all(widths[i] == 1 for i in prose):
            break
    return widths


def grid_lines(
    cells: Sequence[str], widths: Sequence[int], justify: Sequence[Justify], prose: Sequence[int]
) -> list[str]:
    """One table row as lines: each fixed cell whole on the first, each prose cell's
    lines wrapped to its column (a word longer than the column folded), GAP between
    columns, no trailing blanks."""
    columns: list[list[str]] = []
    for i, cell in enumerate(cells):
        if i in prose:
            columns.append([part for line in cell.split("\n") for part in _fold(line, widths[i])])
        else:
            columns.append([cell])
    lines = []
    for k in range(max(len(column) for column in columns)):
        # each column's text padded to its width, GAP after it: written as the spaces
        # owed before the next text (most of a continuation line is blank)
        pieces = []
        owed = 0
        for column, w, how in zip(columns, widths, justify, strict=True):
            text = column[k] if k < len(column) else ""
            if text:
                if how == "right":
                    text = text.rjust(w)
                pieces.append(" " * owed + text)
                owed = max(w - len(text), 0) + GAP
            else:
                owed += w + GAP
        lines.append("".join(pieces).rstrip())
    return lines


def _as_it_is(line: str) -> bool:
    """Whether textwrap gives LINE back as it is when it fits: printable (so its only
    whitespace is spaces; a tab it would expand) and not ending in one."""
    return line.isprintable() and line != "" and line[-1] != " "


def _fold(line: str, width: int) -> list[str]:
    """One line of a prose cell wrapped to its column, as textwrap wraps it: itself
    where that is plain (a line that fits as it is, or words one space apart that
    fill lines greedily), textwrap otherwise. It took 10 us a line."""
    if _as_it_is(line):
        if len(line) <= width:
            return [line]
        words = line.split(" ")
        if "" not in words and max(map(len, words)) <= width:
            # words one space apart, none too long to fit: textwrap's greedy fill
            lines, current = [], words[0]
            for word in words[1:]:
                if len(current) + 1 + len(word) <= width:
                    current = f"{current} {word}"
                else:
                    lines.append(current)
                    current = word
            lines.append(current)
            return lines
    return textwrap.wrap(line, width, break_on_hyphens=False, replace_whitespace=False) or [""]


def grid(
    width: int,
    headers: Sequence[str],
    rows: Iterable[tuple[Sequence[str], str]],
    right: Sequence[int],
    prose: Sequence[int],
    widest: Sequence[int] | None = None,
) -> Iterator[tuple[str, str]]:
    """A whole table as (line, style): the header in bold, then each row's lines in
    its style. ``rows``: (cells, style); ``right``: the columns justified right (the
    numbers). ``widest``: the columns' longest lines (``Widest``), measured before;
    None: measured here, from ``rows`` (then a list: it is read twice)."""
    if widest is None:
        rows = list(rows)
        widest = longest(headers, (cells for cells, _ in rows))
    widths = shared_widths(width, widest, prose)
    justify: list[Justify] = ["right" if i in right else "left" for i in range(len(headers))]
    for line in grid_lines(headers, widths, justify, prose):
        yield line, "bold"
    for row, style in rows:
        for line in grid_lines(row, widths, justify, prose):
            yield line, style
