"""The table layout of `conns` and `compare` (render.layout): widths and lines."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from pcapdiff.render.layout import (
    GAP,
    Justify,
    Widest,
    _fold,
    grid,
    grid_lines,
    grid_widths,
    longest,
    wrap,
)
from pcapdiff.render.spool import Spool

HEADERS = ("#", "state", "evidence", "explanation")
PROSE = (2, 3)


def test_fixed_columns_whole_and_prose_at_its_natural_width_when_it_fits() -> None:
    rows = [["12", "SF", "edge#4 sent SYN", "fine"], ["3", "REJ", "x", "the origin said no"]]
    assert grid_widths(200, HEADERS, rows, PROSE) == [2, 5, 15, 18]


def test_the_widest_prose_column_is_narrowed_first_then_both() -> None:
    rows = [["1", "SF", "e" * 100, "x" * 50]]
    fixed = 1 + 5 + GAP * 3  # "#" and "state" as wide as their headers
    assert grid_widths(fixed + 120, HEADERS, rows, PROSE) == [1, 5, 70, 50]
    assert grid_widths(fixed + 80, HEADERS, rows, PROSE) == [1, 5, 40, 40]
    assert sorted(grid_widths(fixed + 81, HEADERS, rows, PROSE)[2:]) == [40, 41]


def test_a_row_is_its_fields_then_its_prose_wrapped_under_its_column() -> None:
    widths = [2, 5, 10, 12]
    justify = ("right", "left", "left", "left")
    cells = ["7", "S0", "edge#1 sent SYN\norigin: none", "nothing came back at all"]
    assert grid_lines(cells, widths, justify, PROSE) == [
        " 7  S0     edge#1      nothing came",
        "           sent SYN    back at all",
        "           origin:",
        "           none",
    ]
    # a word longer than its column is folded, not lost; nothing past the width
    lines = grid_lines(["1", "SF", "a" * 25, "b"], widths, justify, PROSE)
    assert "".join(line[11:21].strip() for line in lines) == "a" * 25
    assert max(len(line) for line in lines) <= sum(widths) + GAP * 3


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="ab  c\t\r\x0b\x0c\xa0-é\u3000\u2028.", max_size=40),
        st.lists(st.text(alphabet="abcé-./#:", min_size=1, max_size=12), max_size=12).map(" ".join),
    ),
    st.integers(1, 30),
)
def test_a_prose_line_is_folded_as_textwrap_folds_it(line: str, width: int) -> None:
    # _fold's fast path (a line that fits as it is) must never differ from textwrap
    expected = textwrap.wrap(line, width, break_on_hyphens=False, replace_whitespace=False)
    assert _fold(line, width) == (expected or [""])


def test_columns_measured_row_by_row_lay_out_as_the_rows_themselves() -> None:
    # the compare table streams its rows from disk: measured first, laid out after
    rows = [(["1", "SF", "edge#4 sent SYN\nmore", "fine"], "green"), (["22", "S0", "x", "y"], "")]
    widest = Widest(HEADERS)
    for cells, _ in rows:
        widest.add(cells)
    assert widest.widths == longest(HEADERS, [cells for cells, _ in rows]) == [2, 5, 15, 11]
    streamed = list(grid(60, HEADERS, iter(rows), (0,), PROSE, widest.widths))
    assert streamed == list(grid(60, HEADERS, rows, (0,), PROSE))
    assert streamed[0] == (" #  state  evidence         explanation", "bold")


@settings(max_examples=2000, deadline=None)
@given(
    st.text(alphabet="ab  c\t\r\x0b\xa0-é\u2028.", max_size=60),
    st.integers(0, 60),
    st.integers(0, 6),
)
def test_a_block_line_is_wrapped_as_textwrap_wraps_it(text: str, width: int, indent: int) -> None:
    # wrap's fast path (a text that fits as it is) must never differ from textwrap
    w = max(width, indent + 2 + 20)
    expected = textwrap.wrap(
        text,
        width=w,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + 2),
        break_on_hyphens=False,
        replace_whitespace=False,
        drop_whitespace=True,
    ) or [""]
    assert wrap(text, width, indent) == expected


def test_a_spool_gives_its_rows_back_in_the_tables_order() -> None:
    # by frame; by start then frame for several files; a row without a record keeps
    # its number; a start past int64 (a bogus pcapng time) is ordered all the same
    with Spool() as spool:
        spool.add(5, 2, ("b", 1, None))
        spool.add(1 << 70, 1, ("a", (2, "x")))
        spool.add(3, 3, None)
        spool.add(-7, 4, ("d",))
        assert len(spool) == 4
        assert spool.shown == 3
        assert list(spool.rows(False)) == [(1, ("a", (2, "x"))), (2, ("b", 1, None)), (4, ("d",))]
        assert list(spool.rows(True)) == [(1, ("d",)), (3, ("b", 1, None)), (4, ("a", (2, "x")))]


def reference_lines(
    columns: list[list[str]], widths: list[int], justify: list[Justify]
) -> list[str]:
    """grid_lines' assembly as it was written first: every column padded, then joined."""
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


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="ab c\n", max_size=25),
            st.integers(1, 12),
            st.sampled_from(["left", "right"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_a_rows_lines_are_its_cells_padded_to_their_columns(
    spec: list[tuple[str, int, Justify, bool]],
) -> None:
    # the lines written as the spaces owed between texts: the same as padding every
    # column (a fixed cell wider than its column pushing the rest right included)
    cells = [cell for cell, *_ in spec]
    widths = [w for _, w, _, _ in spec]
    justify = [how for _, _, how, _ in spec]
    prose = [i for i, (*_, is_prose) in enumerate(spec) if is_prose]
    columns = [
        [part for line in cell.split("\n") for part in _fold(line, widths[i])]
        if i in prose
        else [cell]
        for i, cell in enumerate(cells)
    ]
    assert grid_lines(cells, widths, justify, prose) == reference_lines(columns, widths, justify)
