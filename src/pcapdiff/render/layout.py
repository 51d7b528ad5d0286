"""Layouts that work at any terminal width: a table where every column fits whole,
otherwise one block per row (its fields on a line, then the long texts wrapped).
No column is ever dropped, and no word is broken unless it is longer than a line."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
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
    need = 0
    for i, header in enumerate(headers):
        longest = max((len(line) for row in rows for line in row[i].splitlines()), default=0)
        whole = max(len(header), longest)
        need += min(whole, MIN_PROSE_WIDTH) if i in prose else whole
    return need + GAP * (len(headers) - 1) <= width


def wrap(text: str, width: int, indent: int, hang: int = 2) -> list[str]:
    """Lines of at most ``width``: indented, continuation lines ``hang`` further."""
    first = " " * indent
    return textwrap.wrap(
        text,
        width=max(width, indent + hang + 20),
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
    widths = [
        max([len(header), *(len(line) for row in rows for line in row[i].splitlines())])
        for i, header in enumerate(headers)
    ]
    fixed = sum(w for i, w in enumerate(widths) if i not in prose)
    excess = sum(widths[i] for i in prose) - (width - fixed - GAP * (len(headers) - 1))
    while excess > 0 and prose:  # each pass levels the widest down to the next widest
        widest = max(widths[i] for i in prose)
        at_widest = [i for i in prose if widths[i] == widest]
        below = max((widths[i] for i in prose if widths[i] < widest), default=0)
        cut = min(widest - below, -(-excess // len(at_widest)))
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
            columns.append(
                [
                    part
                    for line in cell.split("\n")
                    for part in textwrap.wrap(
                        line, widths[i], break_on_hyphens=False, replace_whitespace=False
                    )
                    or [""]
                ]
            )
        else:
            columns.append([cell])
    lines = []
    for k in range(max(len(column) for column in columns)):
        parts = [
            (text.rjust(w) if how == "right" else text.ljust(w))
            for text, w, how in zip(
                (column[k] if k < len(column) else "" for column in columns),
                widths,
                justify,
                strict=True,
            )
        ]
        lines.append((" " * GAP).join(parts).rstrip())
    return lines


def grid(
    width: int,
    headers: Sequence[str],
    rows: Sequence[tuple[Sequence[str], str]],
    right: Sequence[int],
    prose: Sequence[int],
) -> Iterator[tuple[str, str]]:
    """A whole table as (line, style): the header in bold, then each row's lines in
    its style. ``rows``: (cells, style); ``right``: the columns justified right (the
    numbers)."""
    cells = [row for row, _ in rows]
    widths = grid_widths(width, headers, cells, prose)
    justify: list[Justify] = ["right" if i in right else "left" for i in range(len(headers))]
    for line in grid_lines(headers, widths, justify, prose):
        yield line, "bold"
    for row, style in rows:
        for line in grid_lines(row, widths, justify, prose):
            yield line, style
