"""The evidence report: one self-contained HTML page of a ``pcapdiff/compare/1``
document (``compare --html``, ``pcapdiff report``), for a ticket.

Inline CSS and SVG only: nothing fetched, no script at all (the page's
Content-Security-Policy forbids every script and allows just its own style block, by
hash). Every string from a capture — paths, Host, SNI, request targets, alerts — is
attacker-controlled: control and format characters (ANSI escapes, NUL, U+202E) are
shown as escapes, and the rest is HTML-escaped. The outcome filter is CSS (radio
buttons), so it works offline and without scripts.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import io
import re
import shutil
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import orjson

from .. import __version__
from ..ladder import DELIVERED, FROM_EDGE, ICMP, INJECTED, LOST, Arrow, Ladder, ladder_of
from ..model import CDN_STATUS, Comparison, Outcome

SCHEMA = "pcapdiff/compare/1"

# The ladder's geometry (SVG user units)
WIDTH, EDGE_X, ORIGIN_X = 860, 270, 590
MID_X = (EDGE_X + ORIGIN_X) // 2
TOP, ROW, GAP_ROW, NOTE_ROW = 64, 34, 24, 14
SHORT = 44  # how far a lost packet gets, an injected one comes from (x)
GAP_S = 1.0  # a pause longer than this (seconds) is drawn as a gap with its length

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, sans-serif; color: #1b1f24; background: #fff;
  margin: 1.5em auto; max-width: 1200px; padding: 0 1em; }
h1 { font-size: 1.5em; margin: 0 0 .2em; } h2 { font-size: 1.2em; margin: 1.4em 0 .4em; }
h3 { font-size: 1em; margin: 1em 0 .3em; }
code, .mono, td.mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
table { border-collapse: collapse; margin: .4em 0; }
th, td { border-bottom: 1px solid #d8dee4; padding: .25em .6em; text-align: left;
  vertical-align: top; }
th { background: #f3f5f7; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.conns td { overflow-wrap: break-word; }
table.conns td.n, table.conns td.outcome { white-space: nowrap; }
table.conns { width: 100%; }
table.conns td.mono { overflow-wrap: anywhere; }
table.conns td.ep { white-space: nowrap; }
table.conns td.why { min-width: 18em; }
table.conns td.req { min-width: 11em; }
section#connections > input { position: absolute; opacity: 0; width: 1px; height: 1px; }
.filters label { display: inline-block; border: 1px solid #d0d7de; border-radius: 1em;
  padding: .05em .7em; margin: .15em .3em .15em 0; }
.meta { color: #57606a; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1em; }
dl.facts dt { color: #57606a; } dl.facts dd { margin: 0; }
.warnings li, .error { color: #8a4b00; } .error { font-weight: 600; }
.o-ok .outcome { color: #1a7f37; } tr .outcome { font-weight: 600; color: #b42318; }
tr.o-inconclusive .outcome, tr.o-request_not_seen .outcome { color: #8a4b00; }
.filters { margin: .5em 0; } .filters label { cursor: pointer; }
section.conn { border-top: 2px solid #d8dee4; margin-top: 2em; }
p.explanation { background: #f6f8fa; border-left: 4px solid #0969da; padding: .5em .8em; }
svg.ladder { display: block; max-width: 100%; height: auto; }
svg text { font: 11.5px ui-monospace, Menlo, Consolas, monospace; fill: #1b1f24; }
svg text.head { font: 600 13px system-ui, sans-serif; }
svg text.label { font: 12px system-ui, sans-serif; }
svg text.note { fill: #b42318; } svg text.gap { fill: #57606a; }
svg line.column { stroke: #57606a; stroke-width: 2; }
svg .delivered line.packet { stroke: #1b1f24; }
svg .lost line.packet { stroke: #b42318; stroke-dasharray: 6 3; }
svg .injected line.packet { stroke: #bc4c00; stroke-width: 2.5; }
svg .unseen line.packet { stroke: #8c959f; stroke-dasharray: 2 3; }
svg .icmp line.packet { stroke: #8250df; }
svg .lost text.cross { fill: #b42318; font-weight: 700; }
@media print {
  .filters { display: none; }
  section.conn { break-before: page; }
  body { margin: 0; max-width: none; }
}
"""


def _filter_css(outcomes: Iterable[str]) -> str:
    """One rule per outcome: its radio button shows only its rows (no script)."""
    rules = ["#f-all:checked ~ .filters label[for=f-all] { background: #0969da; color: #fff; }\n"]
    for o in outcomes:
        rules.append(f"#f-{o}:checked ~ table.conns tbody tr:not(.o-{o}) {{ display: none; }}\n")
        rules.append(
            f"#f-{o}:checked ~ .filters label[for=f-{o}] {{ background: #0969da; color: #fff; }}\n"
        )
    return "".join(rules)


def visible(text: object) -> str:
    """Packet-derived text as inert HTML: control and format characters (ESC, NUL,
    bidi overrides, line separators) shown as escapes, then HTML-escaped."""
    out = []
    for ch in str(text):
        category = unicodedata.category(ch)
        if category[0] == "C" or category in ("Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return html.escape("".join(out), quote=True)


def _clock(t: object, with_date: bool = False) -> str:
    if not isinstance(t, (int, float)):
        return "—"
    try:
        moment = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    except (OverflowError, ValueError, OSError):  # a document from elsewhere: as given
        return f"{t!r} s"
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f UTC" if with_date else "%H:%M:%S.%f")


def token(name: object) -> str:
    """A name as a CSS class or id: what is not [a-z0-9_] becomes _ (the document may
    come from anywhere; a class must not end the style block)."""
    return re.sub(r"[^a-z0-9_]", "_", str(name).lower())


def _cdn(outcome: str) -> str:
    try:
        status = CDN_STATUS[Outcome(outcome)]
    except ValueError:
        return ""
    return "" if status is None else str(status)


def _frame_attr(mark_frame: object) -> str:
    return "" if mark_frame is None else visible(mark_frame)


class _Point:
    """A moment of an arrow (its start or end), ordered on the time axis."""

    __slots__ = ("at", "order", "y")

    def __init__(self, at: float | None, order: int) -> None:
        self.at, self.order, self.y = at, order, 0


def _layout(
    arrows: tuple[Arrow, ...],
) -> tuple[list[tuple[_Point, _Point]], list[tuple[int, float]], int]:
    """Each arrow's start and end on the page (an ordinal time axis: every moment its
    own row, pauses longer than GAP_S marked with their length); the gaps; the height."""
    ends: list[tuple[_Point, _Point]] = []
    order = 0
    last_known: float | None = None
    for a in arrows:
        start = a.sent_at if a.sent_at is not None else a.seen_at
        start = start if start is not None else last_known
        end = a.seen_at if a.seen_at is not None else start
        if start is not None and end is not None and end < start:
            end = start  # clocks agree only to the offset's spread: never upward
        ends.append((_Point(start, order), _Point(end, order + 1)))
        order += 2
        last_known = end if end is not None else last_known
    # the end of each arrow whose note is drawn under it
    noted = {end.order for a, (_, end) in zip(arrows, ends, strict=True) if _noted(a)}
    points = sorted(
        (p for pair in ends for p in pair),
        key=lambda p: (p.at if p.at is not None else float("inf"), p.order),
    )
    y, previous = TOP, None
    gaps: list[tuple[int, float]] = []
    for p in points:
        pause = None if previous is None or None in (p.at, previous.at) else p.at - previous.at
        if pause is not None and pause > GAP_S:
            gaps.append((y + GAP_ROW // 2 - 2, pause))
            y += GAP_ROW
        p.y = y
        y += ROW // 2 if previous is not None and p.order == previous.order + 1 else ROW
        if p.order in noted:
            y += NOTE_ROW  # the note under the arrow gets a line of its own
        previous = p
    return ends, gaps, y + 10


def _noted(a: Arrow) -> bool:
    return bool(a.note) and a.fate != DELIVERED


def _mark_text(mark_frame: object, time: object) -> str:
    return f"#{mark_frame} {_clock(time)}"


def _arrow_svg(n: int, a: Arrow, start: _Point, end: _Point) -> str:
    """One packet: its line, its label, where it is in each capture."""
    toward_origin = a.sender == FROM_EDGE
    source_x, target_x = (EDGE_X, ORIGIN_X) if toward_origin else (ORIGIN_X, EDGE_X)
    y1, y2 = start.y, max(end.y, start.y + 10)
    if a.fate == LOST or (a.fate != DELIVERED and a.seen_at is None):
        x1, x2 = source_x, MID_X + (-SHORT if toward_origin else SHORT)
        y2 = y1 + 10
    elif a.fate in (INJECTED, ICMP) or a.sent_at is None:
        if a.sender == "path" or a.fate == ICMP:
            target_x = EDGE_X if a.edge is not None else ORIGIN_X
            source_x = MID_X
        x1, x2 = MID_X + (SHORT if target_x == EDGE_X else -SHORT), target_x
        y1 = y2 - 10
    else:
        x1, x2 = source_x, target_x
    head = f"c{n}-{a.fate}"
    label = visible(" ".join(w for w in (a.packet, a.what) if w))
    edge_frame = _frame_attr(a.edge.frame if a.edge else None)
    origin_frame = _frame_attr(a.origin.frame if a.origin else None)
    parts = [
        f'<g class="arrow {a.fate}" data-packet="{visible(a.packet)}" data-fate="{a.fate}" '
        f'data-sender="{a.sender}" data-edge-frame="{edge_frame}" '
        f'data-origin-frame="{origin_frame}">',
        f'<line class="packet" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" marker-end="url(#{head})"/>',
    ]
    lx, ly = (x1 + x2) / 2, (y1 + y2) / 2 - 5
    parts.append(
        f'<text class="label" x="{lx:.0f}" y="{ly:.0f}" text-anchor="middle">{label}</text>'
    )
    if _noted(a):
        parts.append(
            f'<text class="note" x="{lx:.0f}" y="{max(y1, y2) + 16:.0f}" text-anchor="middle">'
            f"{'injected? ' if a.fate == INJECTED else ''}{visible(a.note)}</text>"
        )
    if a.fate == LOST:
        parts.append(f'<text class="cross" x="{x2}" y="{y2 + 4}" text-anchor="middle">✕</text>')
    for mark, x, anchor, y in (
        (a.edge, EDGE_X - 8, "end", y1 if toward_origin else y2),
        (a.origin, ORIGIN_X + 8, "start", y2 if toward_origin else y1),
    ):
        if mark is not None:
            parts.append(
                f'<text class="mark" x="{x}" y="{y + 4}" text-anchor="{anchor}">'
                f"{visible(_mark_text(mark.frame, mark.time))}</text>"
            )
    parts.append("</g>")
    return "".join(parts)


MARKER_COLOURS = {
    "delivered": "#1b1f24",
    "lost": "#b42318",
    "injected": "#bc4c00",
    "unseen": "#8c959f",
    "icmp": "#8250df",
}


def ladder_svg(n: int, ladder: Ladder, edge_side: Mapping[str, Any], origin_side: Any) -> str:
    """The two-column ladder diagram of connection N."""
    ends, gaps, height = _layout(ladder.arrows)
    markers = "".join(
        f'<marker id="c{n}-{fate}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" '
        f'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        for fate, colour in MARKER_COLOURS.items()
    )
    edge_head = f"edge {edge_side.get('client', '')}"
    origin_head = (
        f"origin {origin_side.get('server', '')}" if isinstance(origin_side, Mapping) else "origin"
    )
    parts = [
        f'<svg class="ladder" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="ladder diagram of connection {n}"><defs>{markers}</defs>',
        f'<text class="head" x="{EDGE_X}" y="20" text-anchor="middle">{visible(edge_head)}</text>',
        f'<text class="head" x="{ORIGIN_X}" y="20" text-anchor="middle">'
        f"{visible(origin_head)}</text>",
        f'<text class="meta" x="{EDGE_X}" y="36" text-anchor="middle">edge clock</text>',
        f'<text class="meta" x="{ORIGIN_X}" y="36" text-anchor="middle">origin clock</text>',
        f'<line class="column" x1="{EDGE_X}" y1="44" x2="{EDGE_X}" y2="{height - 4}"/>',
        f'<line class="column" x1="{ORIGIN_X}" y1="44" x2="{ORIGIN_X}" y2="{height - 4}"/>',
    ]
    for y, pause in gaps:
        parts.append(
            f'<text class="gap" x="{MID_X}" y="{y}" text-anchor="middle">'
            f"⋮ {pause:.3f} s later ⋮</text>"
        )
    for a, (start, end) in zip(ladder.arrows, ends, strict=True):
        parts.append(_arrow_svg(n, a, start, end))
    parts.append("</svg>")
    return "".join(parts)


LEGEND = (
    ("delivered", "left one side, arrived at the other"),
    ("lost", "left, never arrived (the other capture was running)"),
    ("injected", "arrived, never sent by its side (TTL, IP ID shown)"),
    ("unseen", "in one capture only: the other was not running, or none"),
    ("icmp", "ICMP error from the path"),
)


def legend_svg() -> str:
    """What the ladders' arrows mean, drawn as they are."""
    height = 22 * len(LEGEND) + 8
    parts = [
        f'<svg class="ladder legend" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="legend">',
        "<defs>",
        *(
            f'<marker id="legend-{fate}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" '
            f'orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{MARKER_COLOURS[fate]}"/></marker>'
            for fate, _ in LEGEND
        ),
        "</defs>",
    ]
    for i, (fate, meaning) in enumerate(LEGEND):
        y = 14 + 22 * i
        parts.append(
            f'<g class="{fate}"><line class="packet" x1="10" y1="{y}" x2="90" y2="{y}" '
            f'marker-end="url(#legend-{fate})"/><text class="label" x="100" y="{y + 4}">'
            f"{fate}: {meaning}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _alignment(ladder: Ladder, document: Mapping[str, Any]) -> str:
    if not ladder.aligned:
        return "The clocks are not aligned (no offset estimated): each side at its own clock."
    spread = document.get("clock_offset_spread_s")
    good = f" ± {spread:.6f} s" if isinstance(spread, (int, float)) else ""
    source = document.get("clock_offset_source") or ""
    return (
        f"Rows are time-aligned: origin clock minus {ladder.offset_s:+.6f} s{good} "
        f"({visible(source)}); frames and times are each capture's own."
    )


def _request_text(c: Mapping[str, Any]) -> str:
    r = c.get("request")
    if not isinstance(r, Mapping):
        return ""
    return " ".join(str(x) for x in (r.get("method"), r.get("host"), r.get("path")) if x)


def _endpoints(side: Any) -> str:
    if not isinstance(side, Mapping):
        return "—"
    return f"{side.get('client', '')} → {side.get('server', '')}"


def _endpoints_cell(side: Any) -> str:
    """client, then → server on a line of its own (HTML, escaped)."""
    if not isinstance(side, Mapping):
        return "—"
    return f"{visible(side.get('client', ''))}<br>→ {visible(side.get('server', ''))}"


def _connection_section(c: Mapping[str, Any], document: Mapping[str, Any], ladder: Ladder) -> str:
    n = int(c.get("id", 0))
    outcome = str(c.get("outcome", ""))
    cdn = _cdn(outcome)
    title = f"#{n} {outcome}" + (f" ({cdn})" if cdn else "") + f" — culprit {c.get('culprit', '')}"
    origin = c.get("origin")
    facts = [
        ("edge", _endpoints(c.get("edge"))),
        ("origin", _endpoints(origin) if origin else "no twin in the origin capture"),
        ("request", _request_text(c) or "—"),
        ("pairing", f"{c.get('pairing') or 'unpaired'}: {c.get('matched_by') or '—'}"),
    ]
    parts = [
        f'<section class="conn o-{token(outcome)}" id="c-{n}">',
        f"<h2>{visible(title)}</h2>",
        '<dl class="facts">',
        *(f'<dt>{name}</dt><dd class="mono">{visible(value)}</dd>' for name, value in facts),
        "</dl>",
        ladder_svg(n, ladder, c.get("edge") or {}, origin),
        f'<p class="meta">{_alignment(ladder, document)}'
        + (
            f" Only one capture holds packets: {visible(ladder.one_capture)}."
            if ladder.one_capture
            else ""
        )
        + "</p>",
        f'<p class="explanation">{visible(c.get("explanation", ""))}</p>',
    ]
    evidence = c.get("evidence") or []
    if evidence:
        parts.append("<h3>Evidence</h3><ul>")
        for ev in evidence:
            where = (
                f"{ev.get('capture')}#{ev.get('frame')} {_clock(ev.get('time'))}"
                if ev.get("frame") is not None
                else f"{ev.get('capture')}: absent"
            )
            parts.append(
                f'<li><span class="mono">{visible(where)}</span> {visible(ev.get("what", ""))}</li>'
            )
        parts.append("</ul>")
    for heading, key in (("Hints", "hints"), ("Assumes", "assumes")):
        items = c.get(key) or []
        if items:
            parts.append(f"<h3>{heading}</h3><ul>")
            parts += [f"<li>{visible(item)}</li>" for item in items]
            parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _window_text(w: Any) -> str:
    if not isinstance(w, Mapping):
        return "—"
    return (
        f"{_clock(w.get('start'), True)} ({w.get('start_source', '')}) to "
        f"{_clock(w.get('end'), True)} ({w.get('end_source', '')})"
    )


def _summary(document: Mapping[str, Any], listed: int, pairing: Counter[str]) -> str:
    counts: Mapping[str, int] = document.get("summary") or {}
    rows = "".join(
        f'<tr class="o-{token(o)}"><td class="outcome">{visible(o)}</td>'
        f'<td class="n">{_cdn(o)}</td><td class="n">{int(k)}</td></tr>'
        for o, k in sorted(counts.items(), key=lambda item: (-int(item[1]), item[0]))
    )
    offset = document.get("clock_offset_s")
    if isinstance(offset, (int, float)):
        spread = document.get("clock_offset_spread_s")
        clock = f"{offset:+.6f} s" + (
            f" ± {spread:.6f} s" if isinstance(spread, (int, float)) else ""
        )
        clock += (
            f" ({document.get('clock_offset_source')}, {document.get('clock_offset_pairs')} pairs)"
        )
    else:
        clock = f"not estimated ({document.get('clock_offset_source')})"
    facts = [
        ("edge capture", (document.get("edge") or {}).get("path", "")),
        ("edge ran", _window_text(document.get("edge_window"))),
        ("origin capture", (document.get("origin") or {}).get("path", "none: the edge alone")),
        ("origin ran", _window_text(document.get("origin_window"))),
        ("clock offset (origin - edge)", clock),
        ("pairing", ", ".join(f"{k} {v}" for k, v in sorted(pairing.items())) or "—"),
        ("origin-only connections", str(document.get("origin_only_connections", 0))),
        ("listed / judged", f"{listed} of {sum(int(k) for k in counts.values())}"),
    ]
    parts = [
        '<section id="summary"><h2>Summary</h2>',
        "<table><thead><tr><th>outcome</th><th>CDN</th><th>connections</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>",
        '<dl class="facts">',
        *(f"<dt>{name}</dt><dd>{visible(value)}</dd>" for name, value in facts),
        "</dl>",
    ]
    if document.get("error"):
        parts.append(f'<p class="error">Reading stopped part-way: {visible(document["error"])}</p>')
    warnings = document.get("warnings") or []
    if warnings:
        parts.append('<h3>Warnings</h3><ul class="warnings">')
        parts += [f"<li>{visible(w)}</li>" for w in warnings]
        parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _row(c: Mapping[str, Any], drawn: bool) -> str:
    n = int(c.get("id", 0))
    outcome = str(c.get("outcome", ""))
    number = f'<a href="#c-{n}">{n}</a>' if drawn else str(n)
    return (
        f'<tr class="o-{token(outcome)}"><td class="n">{number}</td>'
        f'<td class="outcome">{visible(outcome)}</td><td class="n">{_cdn(outcome)}</td>'
        f"<td>{visible(c.get('culprit', ''))}</td>"
        f'<td class="mono ep">{_endpoints_cell(c.get("edge"))}</td>'
        f'<td class="mono ep">{_endpoints_cell(c.get("origin"))}</td>'
        f'<td class="mono req">{visible(_request_text(c))}</td>'
        f"<td>{visible(c.get('pairing') or 'unpaired')}</td>"
        f'<td class="why">{visible(c.get("explanation", ""))}</td></tr>\n'
    )


# Ladders drawn at most: a page of thousands is no ticket's attachment (and its size
# and the connections held for it would grow with the capture). The rest are listed.
MAX_LADDERS = 500


class HtmlReport:
    """The page, built as the connections come (``add``, ``add_run``), written once the
    document's tail is known (``write``): the table's rows wait in a temporary file,
    and only the connections to be drawn (at most ``max_ladders``) are held, since their
    ladders need the clock offset that comes at the end."""

    def __init__(self, *, all_connections: bool = False, max_ladders: int = MAX_LADDERS) -> None:
        self.all_connections, self.max_ladders = all_connections, max_ladders
        # the rows wait on disk: a page of 50,000 connections holds none in memory
        self.rows = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed by write)
        self.held: list[Mapping[str, Any]] = []
        self.listed = 0
        self.by_outcome: Counter[str] = Counter()
        self.pairing: Counter[str] = Counter()
        self.without_packets = 0  # wanted, but the document lists no packets for them
        self.not_drawn = 0  # past max_ladders

    def add(self, c: object) -> None:
        if not isinstance(c, Mapping):
            return
        wanted = self.all_connections or c.get("outcome") != "ok"
        has_packets = isinstance(c.get("edge"), Mapping) and "packets" in c["edge"]
        drawn = False
        if wanted and not has_packets:
            self.without_packets += 1
        elif wanted and len(self.held) < self.max_ladders:
            self.held.append(c)
            drawn = True
        elif wanted:
            self.not_drawn += 1
        self.rows.write(_row(c, drawn))
        self.listed += 1
        self.by_outcome[str(c.get("outcome", ""))] += 1
        self.pairing[str(c.get("pairing") or "unpaired")] += 1

    def add_run(self, text: bytes) -> None:
        """Records as ``compare --json`` writes them, joined by its separator."""
        for c in orjson.loads(b"[" + text + b"]"):
            self.add(c)

    def write(self, document: Mapping[str, Any], out: TextIO) -> None:
        """The page, ``document`` giving all but its connections (those were added)."""
        outcomes = sorted(self.by_outcome)
        css = CSS + _filter_css(sorted({token(o) for o in outcomes}))
        digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        policy = (
            f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; "
            "script-src 'none'; base-uri 'none'; form-action 'none'"
        )
        edge_path = (document.get("edge") or {}).get("path", "")
        origin_path = (document.get("origin") or {}).get("path", "")
        out.write(
            "\n".join(
                [
                    "<!DOCTYPE html>",
                    '<html lang="en"><head><meta charset="utf-8">',
                    f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
                    '<meta name="viewport" content="width=device-width, initial-scale=1">',
                    f"<title>pcapdiff report: {visible(edge_path)} vs "
                    f"{visible(origin_path or 'edge alone')}</title>",
                    f"<style>{css}</style></head><body>",
                    "<header><h1>pcapdiff evidence report</h1>",
                    f'<p class="meta">edge <code>{visible(edge_path)}</code> · origin '
                    f"<code>{visible(origin_path or 'none')}</code> · made by pcapdiff "
                    f"{__version__} from {SCHEMA}</p></header>",
                    _summary(document, self.listed, self.pairing),
                    '<section id="connections"><h2>Connections</h2>',
                    '<input type="radio" name="outcome" id="f-all" checked>',
                    *(f'<input type="radio" name="outcome" id="f-{token(o)}">' for o in outcomes),
                    '<div class="filters">Show: '
                    + " ".join(
                        [
                            f'<label for="f-all">all ({self.listed})</label>',
                            *(
                                f'<label for="f-{token(o)}">{visible(o)} '
                                f"({self.by_outcome[o]})</label>"
                                for o in outcomes
                            ),
                        ]
                    )
                    + "</div>",
                    '<table class="conns"><thead><tr><th>#</th><th>outcome</th><th>CDN</th>'
                    "<th>culprit</th><th>edge</th><th>origin</th><th>request</th>"
                    "<th>pairing</th><th>explanation</th></tr></thead><tbody>",
                    "",
                ]
            )
        )
        self.rows.seek(0)
        shutil.copyfileobj(self.rows, out)
        self.rows.close()
        out.write("</tbody></table></section>\n")
        if self.without_packets and self.all_connections:
            out.write(
                f'<p class="meta">{self.without_packets} connection(s) without a ladder: '
                "the JSON lists their packets only when made with --html-all.</p>\n"
            )
        if self.not_drawn:
            out.write(
                f'<p class="meta">{self.not_drawn} more connection(s) without a ladder: '
                f"a page draws the first {self.max_ladders}. Narrow it with compare's "
                "filters (--not-ok, --outcome, --client, --request, --since, --until).</p>\n"
            )
        if self.held:
            out.write(f"<h2>Ladders</h2>\n{legend_svg()}\n")
        for c in self.held:
            out.write(_connection_section(c, document, ladder_of(c, document)) + "\n")
        out.write("</body></html>\n")


def report_html(
    document: Mapping[str, Any], *, all_connections: bool = False, max_ladders: int = MAX_LADDERS
) -> str:
    """The page of a compare/1 document: the summary, the table, a ladder for every
    connection that is not ok (every one with ``all_connections``, where the document
    lists their packets), the first ``max_ladders`` of them."""
    page = HtmlReport(all_connections=all_connections, max_ladders=max_ladders)
    for c in document.get("connections") or []:
        page.add(c)
    out = io.StringIO()
    page.write(document, out)
    return out.getvalue()


def comparison_html(comparison: Comparison, *, all_connections: bool = False) -> str:
    """The page of a ``Comparison`` (``pcapdiff.compare(...)``'s result): the same as
    ``compare --html`` writes."""
    from .compare_json import comparison_to_json

    document = comparison_to_json(comparison, all_packets=all_connections)
    document["error"] = None
    return report_html(document, all_connections=all_connections)
