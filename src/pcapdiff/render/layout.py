"""Layouts that work at any terminal width: a table where every column fits whole,
otherwise one block per row (its fields on a line, then the long texts wrapped).
No column is ever dropped, and no word is broken unless it is longer than a line."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

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
