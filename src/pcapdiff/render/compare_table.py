"""`pcapdiff compare` for people: a summary, then each connection shown — as a table
row where the terminal is wide enough, otherwise as a block (render.layout)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..model import ClockOffset, Comparison, Culprit, Outcome, Side, Verdict
from .console import write_lines
from .layout import Widest, fits, grid, wrap
from .spool import Spool
from .times import NS, TimeFormat

if TYPE_CHECKING:  # rich is imported with the first console: --json starts without it
    from rich.console import Console

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


# What a table row shows of a verdict, in the values marshal writes (a spool's
# records): (edge start ns, client, server, outcome, cdn status or None, culprit,
# evidence as ((capture, frame, ns, what), ...), explanation, hints, pairing
# confidence, matched by).
Shows = tuple[
    int,
    str,
    str,
    str,
    int | None,
    str,
    tuple[tuple[str, int | None, int | None, str], ...],
    str,
    tuple[str, ...],
    str,
    str,
]


def shows(v: Verdict) -> Shows:
    edge = v.pair.edge
    return (
        edge.first_ts_ns,
        str(edge.client),
        str(edge.server),
        v.outcome.value,
        v.cdn_status,
        v.culprit.value,
        tuple((ev.capture.value, ev.frame, ev.ts_ns, ev.what) for ev in v.evidence),
        v.explanation,
        tuple(v.hints),
        v.pair.confidence,
        v.pair.matched_by,
    )


class TableRows(NamedTuple):
    """The rows to show (read once, in order), with what the summary says of all
    verdicts."""

    rows: Iterable[tuple[int, Shows]]  # (number, what it shows)
    outcomes: Counter[Outcome]  # of every verdict judged
    shown: int
    filtered_out: int = 0
    filters: str = ""


class VerdictSpool(Spool):
    """The verdicts of a streamed comparison, for the table, as each is final (a
    ``Spool`` of what each row shows), counted by outcome; ``wanted`` chooses the
    rows shown, every verdict keeps its number."""

    def __init__(self, wanted: Callable[[Verdict], bool] | None = None) -> None:
        super().__init__()
        self._wanted = wanted
        self.outcomes: Counter[Outcome] = Counter()

    def verdict(self, v: Verdict, *_cites: object) -> None:
        """One verdict (``compare_streaming``'s ``emit``)."""
        self.outcomes[v.outcome] += 1
        shown = self._wanted is None or self._wanted(v)
        self.add(v.pair.edge.first_ts_ns, v.pair.edge.first_frame, shows(v) if shown else None)

    def row(self, start_ns: int, frame: int, row: tuple[Any, ...]) -> None:
        """One verdict as its row (``compare_streaming``'s ``emit_rows``): shown, there
        being no filter to see its ``Verdict``."""
        self.outcomes[Outcome(row[3])] += 1
        self.add(start_ns, frame, row)

    def table(self, several_files: bool, filters: str = "") -> TableRows:
        """The rows, in ``compare``'s order (``Spool.rows``; several files:
        ``CaptureSummary.files``)."""
        rows = self.rows(several_files)
        return TableRows(rows, self.outcomes, self.shown, len(self) - self.shown, filters)


def table_rows(c: Comparison, shown: Shown | None = None) -> TableRows:
    """The table of a whole ``Comparison`` (every verdict, unless ``shown`` says)."""
    chosen = shown.verdicts if shown is not None else tuple(enumerate(c.verdicts, 1))
    everything = [(n, shows(v)) for n, v in chosen]
    return TableRows(
        everything,
        Counter(v.outcome for v in c.verdicts),
        len(everything),
        shown.filtered_out if shown else 0,
        shown.filters if shown else "",
    )


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
    shown: Shown | TableRows | None = None,
) -> None:
    """The summary, then each verdict shown. ``shown``: which verdicts (``Shown``),
    or the rows themselves (``TableRows``: a ``VerdictSpool``'s, when ``c`` was
    streamed and holds none); None: every verdict of ``c``."""
    times = times or TimeFormat(reference_ns=c.edge.first_ts_ns)
    table = shown if isinstance(shown, TableRows) else table_rows(c, shown)
    _summary(c, table.outcomes, console, times, show_unpaired)

    if table.shown:
        # each row made once: measured, and kept on disk until the widths are known
        widest = Widest((*HEADERS, *PROSE_HEADERS))
        with Spool() as made:
            for n, facts in table.rows:
                row = _row(c, n, facts, times)
                widest.add(_cells(row))
                made.add(0, n, tuple(row))
            rows = (Row(*row) for _, row in made.rows(False))
            if fits(console.width, widest.widths, PROSE):
                _table(rows, widest.widths, console)
            else:
                _blocks(rows, console)
    if table.filtered_out:
        console.print(
            f"{plural(table.shown, 'connection')} shown, {table.filtered_out:,} filtered out "
            f"({table.filters})"
        )


def _summary(
    c: Comparison,
    outcomes: Counter[Outcome],
    out: Console,
    times: TimeFormat,
    show_unpaired: bool,
) -> None:
    def say(line: str) -> None:  # wrapped at words: a summary line is prose
        for part in wrap(line, out.width, 0):
            out.print(part)

    parts = ", ".join(f"{o.value} {n:,}" for o, n in sorted(outcomes.items(), key=lambda x: -x[1]))
    judged = plural(sum(outcomes.values()), "origin-pull connection")
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


def _row(c: Comparison, n: int, row: Shows, times: TimeFormat) -> Row:
    start, client, server, outcome, cdn, culprit, evidence, explanation, hints, how, by = row
    said = [explanation, *(f"hint: {h}" for h in hints)]
    if how and how != "certain":
        said.append(f"pairing {how}: {by}")
    fields = (
        str(n),
        times.stamp(start),
        client,
        server,
        outcome,
        str(cdn or ""),
        "" if culprit == Culprit.NONE.value else culprit,
    )
    shown = tuple(_evidence(c, *ev, times) for ev in evidence)
    return Row(fields, shown, tuple(said), OUTCOME_STYLE[Outcome(outcome)])


def _evidence(
    c: Comparison, capture: str, frame: int | None, ts_ns: int | None, what: str, times: TimeFormat
) -> str:
    """edge#11 18:51:40.123 edge sent SYN ...; an origin packet's time also in the
    edge's clock when the clocks differ; an absence with its capture's name."""
    if frame is None:
        return f"{capture}: {what}"
    when = times.stamp(ts_ns)
    offset_ns = int(c.clock.seconds * NS) if c.clock.source != "none" else 0
    if capture == Side.ORIGIN.value and ts_ns is not None and abs(offset_ns) >= SAME_CLOCK_NS:
        when += f" (edge clock {times.stamp(ts_ns - offset_ns)})"
    return " ".join(part for part in (_cite(c, Side(capture), frame), when, what) if part)


def _cells(r: Row) -> list[str]:
    return [*r.fields, "\n".join(r.evidence), "\n".join(r.explanation)]


def _table(rows: Iterable[Row], widest: Sequence[int], console: Console) -> None:
    styled = ((_cells(r), r.style) for r in rows)
    headers = (*HEADERS, *PROSE_HEADERS)
    write_lines(console, grid(console.width, headers, styled, (0,), PROSE, widest))


def _blocks(rows: Iterable[Row], console: Console) -> None:
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
