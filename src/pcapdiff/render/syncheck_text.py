"""`pcapdiff syncheck` for people: the capture's window, one row (or block) per source
and network, then the verdict and the next steps.

Every line is plain text printed with markup and highlighting off; the capture's
path goes through ``safe_text``. Addresses are our own formatting of packed bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.text import Text

from ..coverage import duration
from ..syncheck import FATES, NEXT_STEPS, NOT_SEEN, Fate, SynCheck, Tally
from ..text import safe_text
from .layout import table_fits, wrap
from .times import TimeFormat

# Columns of the table, in order: (header, fate counted). The verdict is the last.
FATE_COLUMNS: tuple[tuple[str, Fate], ...] = (
    ("answered", Fate.ANSWERED),
    ("incomplete", Fate.INCOMPLETE),
    ("refused", Fate.REFUSED),
    ("icmp", Fate.REFUSED_ICMP),
    ("unanswered", Fate.UNANSWERED),
    ("undetermined", Fate.UNDETERMINED),
)
HEADERS = ("source", "attempts", "SYNs", *(h for h, _ in FATE_COLUMNS), "first", "last", "verdict")
# The worst first: a source's place in the listing.
SEVERITY = {fate.value: rank for rank, fate in enumerate(FATES)} | {NOT_SEEN: -1}
VERDICT_STYLE = {
    Fate.ANSWERED.value: "green",
    Fate.UNDETERMINED.value: "yellow",
    Fate.INCOMPLETE.value: "yellow",
    NOT_SEEN: "yellow",
}

COUNT_WORDS = {fate: fate.value for fate in Fate} | {Fate.REFUSED_ICMP: "refused by ICMP"}

Cite = Callable[[int], "int | str"]


def ports_text(check: SynCheck) -> str:
    if not check.ports:
        return "every port"
    return ("port " if len(check.ports) == 1 else "ports ") + ", ".join(map(str, check.ports))


def heading(check: SynCheck, times: TimeFormat) -> str:
    """origin.pcap: 18:51:40.123 to 18:52:10.456 (30.3 s, end from the sidecar); port 80"""
    path = safe_text(check.summary.path)
    if check.start_ns is None or check.end_ns is None:
        window = "no packets"
    else:
        span = duration(check.end_ns - check.start_ns)
        window = (
            f"{times.stamp(check.start_ns)} to {times.stamp(check.end_ns)} "
            f"({span}, end from the {check.end_source})"
        )
    sources = (
        "every source" if not check.networks else "from " + ", ".join(map(str, check.networks))
    )
    return f"{path}: {window}; {ports_text(check)}; {sources}"


def frames(tally: Tally, fate: Fate, cite: Cite, limit: int = 3) -> str:
    shown = tally.examples.get(fate, [])[:limit]
    if not shown:
        return ""
    more = ", .." if tally.fates[fate] > len(shown) else ""
    word = "frame" if len(shown) == 1 and not more else "frames"
    return f"{word} {', '.join(str(cite(f)) for f in shown)}{more}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def counts_line(tally: Tally, cite: Cite) -> str:
    """'3 attempts (5 SYNs): 2 answered, 1 unanswered (frame 7)'."""
    parts = []
    for fate in FATES:
        n = tally.fates[fate]
        if n:
            cited = "" if fate is Fate.ANSWERED else f" ({frames(tally, fate, cite)})"
            parts.append(f"{n} {COUNT_WORDS[fate]}{cited}")
    head = f"{plural(tally.attempts, 'attempt')} ({plural(tally.syns, 'SYN')})"
    return f"{head}: {', '.join(parts)}" if parts else "no SYN seen during the capture"


def retransmission_line(tally: Tally) -> str:
    """'2 attempts retransmitted their SYN: backing off (intervals doubling): 1.0 s, 2.0 s'."""
    if not tally.retransmitted:
        return ""
    pattern, _ = tally.patterns.most_common(1)[0]
    intervals = ", ".join(f"{s:.1f} s" for s in tally.example_intervals)
    n = tally.retransmitted
    what = "attempt retransmitted its SYN" if n == 1 else "attempts retransmitted their SYN"
    meaning = (
        ": the client's TCP kept trying, each SYN reached this host"
        if pattern.startswith("backing off")
        else ""
    )
    return f"{n} {what}: {pattern} ({intervals}){meaning}"


def icmp_line(tally: Tally, cite: Cite) -> str:
    if not tally.icmp:
        return ""
    kinds = ", ".join(f"{n} {kind}" for kind, n in tally.icmp.most_common())
    shown = ", ".join(str(cite(f)) for f in tally.icmp_frames[:3])
    word = "frame" if len(tally.icmp_frames) == 1 else "frames"
    return f"ICMP errors sent back: {kinds} ({word} {shown})"


def _rows(check: SynCheck) -> list[tuple[str, Tally]]:
    named = [(f"net {name}", t) for name, t in check.by_network.items()]
    named += sorted(
        check.sources.items(), key=lambda item: (SEVERITY[item[1].verdict], -item[1].attempts)
    )
    return named


def render_syncheck(check: SynCheck, console: Console, cite: Cite, times: TimeFormat) -> None:
    """The whole report: heading, sources, verdict, next steps."""
    width = console.width

    def say(text: str, indent: int = 0, style: str = "") -> None:
        for line in wrap(text, width, indent):
            console.print(Text(line, style=style), soft_wrap=True, no_wrap=True, overflow="ignore")

    say(heading(check, times))
    say(times.heading())
    rows = _rows(check)
    cells = [
        [
            name,
            str(t.attempts),
            str(t.syns),
            *(str(t.fates[fate]) for _, fate in FATE_COLUMNS),
            times.stamp(t.first_ns),
            times.stamp(t.last_ns),
            t.verdict,
        ]
        for name, t in rows
    ]
    if rows and table_fits(width, HEADERS, cells, ()):
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]
        header = "  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True))
        console.print(Text(header.rstrip()))
        for row in cells:
            line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            console.print(Text(line, style=VERDICT_STYLE.get(row[-1], "red")))
        for name, tally in rows:
            for extra in (retransmission_line(tally), icmp_line(tally, cite)):
                if extra:
                    say(f"{name}: {extra}", 0)
    else:
        for name, tally in rows:
            say(f"{name}: {tally.verdict}", 0, VERDICT_STYLE.get(tally.verdict, "red"))
            for extra in (
                counts_line(tally, cite),
                f"first {times.stamp(tally.first_ns)}, last {times.stamp(tally.last_ns)}"
                if tally.attempts
                else "",
                retransmission_line(tally),
                icmp_line(tally, cite),
            ):
                if extra:
                    say(extra, 2)
    if check.not_selected:
        say(f"{plural(check.not_selected, 'attempt')} from other sources not counted (--from)")
    if check.without_syn:
        say(
            f"{plural(check.without_syn, 'connection')} without a SYN in the capture (under "
            "way when it began) not counted"
        )
    for line in verdict_lines(check, cite):
        say(line, 0)
    steps = next_steps(check)
    if steps:
        say("next steps:")
        for step in steps:
            say(f"- {step}", 2)


def verdict_lines(check: SynCheck, cite: Cite) -> list[str]:
    """'verdict: unanswered: the SYN reached this host ...' and the counts behind it."""
    total = check.total
    if not total.attempts:
        where = ", ".join(map(str, check.networks)) or "any source"
        return [
            f"verdict: {NOT_SEEN}: no SYN from {where} to {ports_text(check)} during the "
            "capture: either none was sent or none reached this host's capture point "
            "(a firewall or the path before it)"
        ]
    fate = Fate(total.verdict)
    sources = len(check.sources) + (1 if check.other_sources else 0)
    lines = [f"verdict: {FATES[fate][0]}"]
    lines.append(f"{counts_line(total, cite)}, from {plural(sources, 'source')}")
    for name, tally in check.by_network.items():
        if not tally.attempts:
            lines.append(f"net {name}: {NOT_SEEN}: no SYN from it during the capture")
    return lines


def next_steps(check: SynCheck) -> list[str]:
    """The next steps of every fate that happened, worst first, with the port filled in."""
    failing = check.total.ports
    port = (
        str(check.ports[0])
        if len(check.ports) == 1
        else str(next(iter(failing)))
        if len(failing) == 1
        else "PORT"
    )
    steps: list[str] = []
    for fate in FATES:
        if check.total.fates[fate]:
            steps.extend(step.replace("PORT", port) for step in NEXT_STEPS[fate])
    return steps
