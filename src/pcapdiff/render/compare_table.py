"""`pcapdiff compare` for people: a summary, then each connection shown — as a table
row where the terminal is wide enough, otherwise as a block (render.layout)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from rich.console import Console

from ..model import ClockOffset, Comparison, Culprit, Evidence, Outcome, Side, Verdict
from .console import write_lines
from .layout import grid, table_fits, wrap
from .times import NS, TimeFormat

OUTCOME_STYLE = {
    Outcome.OK: "green",
    Outcome.SYN_NOT_RECEIVED: "red",
    Outcome.SYN_NOT_ANSWERED: "red",
    Outcome.SYNACK_NOT_RECEIVED: "red",
    Outcome.NO_SYNACK: "red",
    Outcome.RST_ON_CONNECT: "red",
    Outcome.RST_AFTER_REQUEST: "red",
    Outcome.REQUEST_NOT_SEEN: "magenta",
    Outcome.NO_RESPONSE: "yellow",
    Outcome.INVALID_RESPONSE: "red",
    Outcome.TLS_HANDSHAKE_FAILED: "red",
    Outcome.INCONCLUSIVE: "dim",
}

# Below this the clocks count as one: the origin's times are not restated in the edge's.
SAME_CLOCK_NS = 1_000_000

HEADERS = ("#", "start", "edge client", "server", "outcome", "cdn", "culprit")
PROSE_HEADERS = ("evidence", "explanation")
PROSE = (7, 8)  # their columns


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def clock_line(clock: ClockOffset) -> str:
    """The clock offset as far as it is known: never a spread it does not have."""
    if clock.source == "none":
        return "clock offset (origin - edge): not estimated (no pair is certain); assumed 0"
    if clock.source == "given":
        return f"clock offset (origin - edge): {clock.seconds:+.6f} s (given)"
    pairs = plural(clock.pairs_used, "pair")
    if clock.source.endswith("(one way only)"):
        return (
            f"clock offset (origin - edge): at most {clock.seconds:+.6f} s "
            f"(one way only: an upper bound; {pairs})"
        )
    return (
        f"clock offset (origin - edge): {clock.seconds:+.6f} s ± {clock.spread_s:.6f} s "
        f"(estimated from {pairs})"
    )


class Shown(NamedTuple):
    """The verdicts to show (numbered as in the whole comparison and its JSON) and
    why the others are not: the filters' description, and how many they left out."""

    verdicts: Sequence[tuple[int, Verdict]]
    filtered_out: int = 0
    filters: str = ""


class Row(NamedTuple):
    fields: tuple[str, ...]  # HEADERS
    evidence: tuple[str, ...]
    explanation: tuple[str, ...]  # the explanation, then each hint
    style: str


def render_comparison(
    c: Comparison,
    console: Console,
    *,
    show_unpaired: bool = False,
    times: TimeFormat | None = None,
    shown: Shown | None = None,
) -> None:
    times = times or TimeFormat(reference_ns=c.edge.first_ts_ns)
    shown = shown or Shown(tuple(enumerate(c.verdicts, 1)))
    _summary(c, console, times, show_unpaired)
    rows = [_row(c, n, v, times) for n, v in shown.verdicts]
    if rows:
        cells = _cells(rows)
        if table_fits(console.width, (*HEADERS, *PROSE_HEADERS), cells, PROSE):
            _table(rows, cells, console)
        else:
            _blocks(rows, console)
    if shown.filtered_out:
        console.print(
            f"{plural(len(rows), 'connection')} shown, {shown.filtered_out:,} filtered out "
            f"({shown.filters})"
        )


def _summary(c: Comparison, out: Console, times: TimeFormat, show_unpaired: bool) -> None:
    def say(line: str) -> None:  # wrapped at words: a summary line is prose
        for part in wrap(line, out.width, 0):
            out.print(part)

    counts = Counter(v.outcome for v in c.verdicts)
    parts = ", ".join(f"{o.value} {n:,}" for o, n in sorted(counts.items(), key=lambda x: -x[1]))
    judged = plural(len(c.verdicts), "origin-pull connection")
    say(f"{judged}: {parts or 'none'}")
    say(f"{times.heading()}; each capture's packets in its own clock")
    if c.other_connections:
        others = ", ".join(f"port {port}: {n:,}" for port, n in c.other_connections)
        total = sum(n for _, n in c.other_connections)
        say(f"{plural(total, 'other connection')} not judged ({others})")
    if c.origin is not None:
        unpaired = plural(c.origin_only, "origin connection")
        say(f"{clock_line(c.clock)}; {unpaired} unpaired")
    for w in c.warnings:
        say(f"warning: {w}")
    if show_unpaired:
        for o in c.unpaired_origin:
            say(
                f"unpaired at the origin: {o.client} -> {o.server} frame "
                f"{c.origin.cite(o.first_frame) if c.origin else o.first_frame} "
                f"{times.stamp(o.first_ts_ns)} {o.conn_state} {o.history}"
            )


def _row(c: Comparison, n: int, v: Verdict, times: TimeFormat) -> Row:
    explanation = [v.explanation, *(f"hint: {h}" for h in v.hints)]
    if v.pair.confidence and v.pair.confidence != "certain":
        explanation.append(f"pairing {v.pair.confidence}: {v.pair.matched_by}")
    fields = (
        str(n),
        times.stamp(v.pair.edge.first_ts_ns),
        str(v.pair.edge.client),
        str(v.pair.edge.server),
        v.outcome.value,
        str(v.cdn_status or ""),
        "" if v.culprit is Culprit.NONE else v.culprit.value,
    )
    evidence = tuple(_evidence(c, ev, times) for ev in v.evidence)
    return Row(fields, evidence, tuple(explanation), OUTCOME_STYLE[v.outcome])


def _evidence(c: Comparison, ev: Evidence, times: TimeFormat) -> str:
    """edge#11 18:51:40.123 edge sent SYN ...; an origin packet's time also in the
    edge's clock when the clocks differ; an absence with its capture's name."""
    if ev.frame is None:
        return f"{ev.capture.value}: {ev.what}"
    when = times.stamp(ev.ts_ns)
    offset_ns = int(c.clock.seconds * NS) if c.clock.source != "none" else 0
    if ev.capture is Side.ORIGIN and ev.ts_ns is not None and abs(offset_ns) >= SAME_CLOCK_NS:
        when += f" (edge clock {times.stamp(ev.ts_ns - offset_ns)})"
    return " ".join(part for part in (_cite(c, ev.capture, ev.frame), when, ev.what) if part)


def _cells(rows: Sequence[Row]) -> list[list[str]]:
    return [[*r.fields, "\n".join(r.evidence), "\n".join(r.explanation)] for r in rows]


def _table(rows: Sequence[Row], cells: Sequence[Sequence[str]], console: Console) -> None:
    styled = [(row_cells, r.style) for row_cells, r in zip(cells, rows, strict=True)]
    write_lines(console, grid(console.width, (*HEADERS, *PROSE_HEADERS), styled, (0,), PROSE))


def _blocks(rows: Sequence[Row], console: Console) -> None:
    """One block per connection: the verdict line, the evidence, the explanation."""
    width = console.width

    def lines() -> Iterator[tuple[str, str]]:
        for r in rows:
            n, start, client, server, outcome, cdn, culprit = r.fields
            head = (
                f"#{n} {outcome}"
                + (f" {cdn}" if cdn else "")
                + (f", culprit {culprit}" if culprit else "")
            )
            block = wrap(head, width, 0)
            block += wrap(f"{client} -> {server}, started {start}", width, 3)
            for ev in r.evidence:
                block += wrap(ev, width, 3)
            for text in r.explanation:
                block += wrap(text, width, 3)
            yield block[0], f"bold {r.style}"
            for line in block[1:]:
                yield line, ""
            yield "", ""

    write_lines(console, lines())


def _cite(c: Comparison, side: Side, frame: int) -> str:
    """edge#12, or the file's own name and frame when a side is several files."""
    summary = c.edge if side is Side.EDGE else c.origin
    if summary is None or not summary.files:
        return f"{side.value}#{frame}"
    return f"{side.value} {summary.cite(frame)}"


def nothing_judged(c: Comparison) -> str:
    """Why no connection was judged, and how to select them (exit status 3)."""
    if c.other_connections:
        others = ", ".join(f"port {port}: {n:,}" for port, n in c.other_connections[:5])
        total = sum(n for _, n in c.other_connections)
        return (
            f"nothing judged: none of the edge capture's {plural(total, 'TCP connection')} "
            f"({others}) goes to the origin as pcapdiff sees it; select them with "
            "--origin HOST[:PORT] or --port N (exit status 3)"
        )
    return (
        "nothing judged: the edge capture holds no TCP connection (check the capture "
        "filter, the interface and that the capture ran while the errors happened; "
        "exit status 3)"
    )
