"""`pcapdiff compare` for people: a summary, then one row per connection."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from ..model import ClockOffset, Comparison, Culprit, Outcome, Side

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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def clock_line(clock: ClockOffset) -> str:
    """The clock offset as far as it is known: never a spread it does not have."""
    if clock.source == "none":
        return "clock offset (origin - edge): not estimated (no pair is certain); assumed 0"
    if clock.source == "given":
        return f"clock offset (origin - edge): {clock.seconds:+.6f} s (given)"
    pairs = _plural(clock.pairs_used, "pair")
    if clock.source.endswith("(one way only)"):
        return (
            f"clock offset (origin - edge): at most {clock.seconds:+.6f} s "
            f"(one way only: an upper bound; {pairs})"
        )
    return (
        f"clock offset (origin - edge): {clock.seconds:+.6f} s ± {clock.spread_s:.6f} s "
        f"(estimated from {pairs})"
    )


def render_comparison(c: Comparison, console: Console, *, show_unpaired: bool = False) -> None:
    counts = Counter(v.outcome for v in c.verdicts)
    parts = ", ".join(f"{o.value} {n}" for o, n in sorted(counts.items(), key=lambda x: -x[1]))
    console.print(f"{len(c.verdicts)} origin-pull connection(s): {parts or 'none'}")
    if c.other_connections:
        others = ", ".join(f"port {port}: {n}" for port, n in c.other_connections)
        total = sum(n for _, n in c.other_connections)
        console.print(f"{_plural(total, 'other connection')} not judged ({others})")
    if c.origin is not None:
        console.print(f"{clock_line(c.clock)}; {c.origin_only} origin connection(s) unpaired")
    for w in c.warnings:
        console.print(f"warning: {w}")
    if show_unpaired:
        for o in c.unpaired_origin:
            console.print(
                f"unpaired at the origin: {o.client} -> {o.server} frame "
                f"{c.origin.cite(o.first_frame) if c.origin else o.first_frame} "
                f"{o.conn_state} {o.history}"
            )
    table = Table(header_style="bold", box=None, pad_edge=False)
    for name, wrap in (
        ("#", False),
        ("edge client", False),
        ("server", False),
        ("outcome", False),
        ("cdn", False),
        ("culprit", False),
        ("evidence", True),
        ("explanation", True),
    ):
        table.add_column(name, no_wrap=not wrap, overflow="fold")
    for i, v in enumerate(c.verdicts, 1):
        evidence = "; ".join(
            f"{_cite(c, ev.capture, ev.frame)} {ev.what}"
            if ev.frame is not None
            else f"{ev.capture.value}: {ev.what}"
            for ev in v.evidence
        )
        explanation = v.explanation + "".join(f" [hint: {h}]" for h in v.hints)
        if v.pair.confidence and v.pair.confidence != "certain":
            explanation += f" [pairing {v.pair.confidence}: {v.pair.matched_by}]"
        culprit = "" if v.culprit is Culprit.NONE else v.culprit.value
        table.add_row(
            str(i),
            str(v.pair.edge.client),
            str(v.pair.edge.server),
            v.outcome.value,
            str(v.cdn_status or ""),
            culprit,
            evidence,
            explanation,
            style=OUTCOME_STYLE[v.outcome],
        )
    console.print(table)


def _cite(c: Comparison, side: Side, frame: int) -> str:
    """edge#12, or the file's own name and frame when a side is several files."""
    summary = c.edge if side is Side.EDGE else c.origin
    if summary is None or not summary.files:
        return f"{side.value}#{frame}"
    return f"{side.value} {summary.cite(frame)}"
