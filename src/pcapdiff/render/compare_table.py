"""`pcapdiff compare` for people: a summary, then one row per connection."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from ..model import Comparison, Culprit, Outcome

OUTCOME_STYLE = {
    Outcome.OK: "green",
    Outcome.SYN_NOT_RECEIVED: "red",
    Outcome.SYN_NOT_ANSWERED: "red",
    Outcome.SYNACK_NOT_RECEIVED: "red",
    Outcome.RST_ON_CONNECT: "red",
    Outcome.RST_AFTER_REQUEST: "red",
    Outcome.REQUEST_NOT_SEEN: "magenta",
    Outcome.NO_RESPONSE: "yellow",
    Outcome.TLS_HANDSHAKE_FAILED: "red",
    Outcome.INCONCLUSIVE: "dim",
}


def render_comparison(c: Comparison, console: Console) -> None:
    counts = Counter(v.outcome for v in c.verdicts)
    parts = ", ".join(f"{o.value} {n}" for o, n in sorted(counts.items(), key=lambda x: -x[1]))
    console.print(f"{len(c.verdicts)} origin-pull connection(s): {parts or 'none'}")
    if c.origin is not None:
        console.print(
            f"clock offset (origin - edge): {c.clock.seconds:+.6f} s "
            f"± {c.clock.spread_s:.6f} s ({c.clock.source}, {c.clock.pairs_used} pairs); "
            f"{c.origin_only} origin connection(s) unpaired"
        )
    for w in c.warnings:
        console.print(f"warning: {w}")
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
            f"{ev.capture.value}#{ev.frame} {ev.what}"
            if ev.frame is not None
            else f"{ev.capture.value}: {ev.what}"
            for ev in v.evidence
        )
        explanation = v.explanation + "".join(f" [hint: {h}]" for h in v.hints)
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
