"""A connection's ladder: each key packet as one arrow between the edge and the origin,
time-aligned with the estimated clock offset, and its fate — delivered, lost on the
way, injected (seen by the receiver, never sent by its sender), or not seen because
the other capture was not running.

Input is one connection of a ``pcapdiff/compare/1`` document (its sides' ``packets``,
which ``compare --json`` lists for every connection that is not ok) and the
document's clock and windows, so a report can be drawn from a JSON made in CI. The
stage decides nothing the verdict did not: it lines up what each capture holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

# Which way a packet goes, by its sender on the connection: the edge is the client.
FROM_EDGE, FROM_ORIGIN, FROM_PATH = "edge", "origin", "path"

# Fates, drawn each their own way (render/html.py).
DELIVERED = "delivered"  # in both captures: left one side, arrived at the other
LOST = "lost"  # left its sender, never arrived, while the receiver's capture ran
INJECTED = "injected"  # arrived, never sent, while the sender's capture ran
UNSEEN = "unseen"  # in one capture; the other was not running then (or has no twin)
ICMP = "icmp"  # an ICMP error from a router in the path, as the verdict cites it

# Two captures' clocks agree to within the estimate's spread; a packet may seem to
# arrive up to this long before it left (seconds) and still be the same packet.
MIN_SLACK_S = 0.002


class Mark(NamedTuple):
    """Where a packet is in one capture."""

    frame: int | str  # N, or "FILE#N" in a capture of several files
    time: float | None  # that capture's clock, epoch seconds (None: not recorded)
    ttl: int | None
    ip_id: int | None


class Arrow(NamedTuple):
    """One packet (or several in one frame) between the two columns."""

    packet: str  # SYN, SYN-ACK, ACK, request, response, RST, FIN, alert, ICMP
    sender: str  # FROM_EDGE, FROM_ORIGIN or FROM_PATH
    fate: str
    what: str  # "GET /a.jpg", "200 OK", "fatal handshake_failure", the ICMP evidence
    edge: Mark | None
    origin: Mark | None
    sent_at: float | None  # edge clock: when it left (None: not known)
    seen_at: float | None  # edge clock: when it arrived (None: it never did)
    note: str = ""  # why the fate: "the origin never sent it (TTL 250, IP ID 1)"


class Ladder(NamedTuple):
    arrows: tuple[Arrow, ...]  # in the order of their first moment
    aligned: bool  # the origin's times are shifted by an estimated or given offset
    offset_s: float  # origin clock minus edge clock used (0.0 when not aligned)
    one_capture: str  # why only one column holds packets ("" when both do)


class _Row(NamedTuple):
    packet: str
    sender: str  # "client" or "server"
    mark: Mark
    at: float | None  # edge clock, the time filled in from its neighbours when missing
    what: str  # "GET /a.jpg", "200 OK", an alert


def _rows(side: Mapping[str, Any] | None, shift_s: float) -> list[_Row]:
    """A side's packets, their times on the edge clock (origin: minus the offset); a
    packet without a time (the handshake's ACK) takes its predecessor's."""
    if not side:
        return []
    rows, last = [], None
    for p in side.get("packets") or ():
        t = p.get("time")
        at = t - shift_s if isinstance(t, (int, float)) else last
        last = at if at is not None else last
        mark = Mark(p.get("frame"), t, p.get("ttl"), p.get("ip_id"))
        what = str(p.get("what") or "")
        rows.append(_Row(str(p.get("packet")), str(p.get("sender")), mark, at, what))
    return rows


class _Span(NamedTuple):
    start: float | None
    end: float | None  # None: no recorded end, taken as still running

    def covers(self, t: float | None) -> bool:
        if t is None:
            return True
        return (self.start is None or t >= self.start) and (self.end is None or t <= self.end)


def _span(window: Mapping[str, Any] | None, shift_s: float) -> _Span | None:
    if window is None:
        return None
    start, end = window.get("start"), window.get("end")
    return _Span(None if start is None else start - shift_s, None if end is None else end - shift_s)


def _injected_note(mark: Mark, sender_capture: str) -> str:
    numbers = ", ".join(
        f"{name} {value}"
        for name, value in (("TTL", mark.ttl), ("IP ID", mark.ip_id))
        if value is not None
    )
    return f"the {sender_capture} capture holds no such packet" + (
        f" ({numbers})" if numbers else ""
    )


def _pair_up(
    sent: list[_Row], received: list[_Row], slack: float
) -> tuple[list[tuple[_Row, _Row]], list[_Row], list[_Row]]:
    """Each received packet with the latest unmatched sent one of its kind that left
    before it arrived (a retransmission arrives for the copy that made it); by order
    when a time is missing. Returns the pairs, the sent left over, the received."""
    pairs, orphans = [], []
    free = list(sent)
    for r in received:
        fits = [s for s in free if s.at is None or r.at is None or s.at <= r.at + slack]
        if not fits:
            orphans.append(r)
            continue
        s = fits[-1] if r.at is not None and all(f.at is not None for f in fits) else fits[0]
        free.remove(s)
        pairs.append((s, r))
    return pairs, free, orphans


def ladder_of(connection: Mapping[str, Any], document: Mapping[str, Any]) -> Ladder:
    """The ladder of one ``connections[]`` entry of a compare/1 document."""
    offset = document.get("clock_offset_s")
    spread = document.get("clock_offset_spread_s") or 0.0
    aligned = isinstance(offset, (int, float))
    shift = float(offset) if isinstance(offset, (int, float)) else 0.0
    slack = max(2 * float(spread), MIN_SLACK_S)
    edge_rows = _rows(connection.get("edge"), 0.0)
    origin_side = connection.get("origin")
    origin_rows = _rows(origin_side, shift)
    has_origin_capture = document.get("origin") is not None
    edge_span = _span(document.get("edge_window"), 0.0) or _Span(None, None)
    origin_span = _span(document.get("origin_window"), shift)
    one_capture = ""
    if not has_origin_capture:
        one_capture = "the edge capture alone: what the origin did is not known"
    elif origin_side is None:
        one_capture = "the origin capture holds no twin of this connection"

    arrows: list[Arrow] = []
    kinds = dict.fromkeys((r.packet, r.sender) for r in [*edge_rows, *origin_rows])
    for packet, sender in kinds:
        from_edge = sender == "client"
        at_edge = [r for r in edge_rows if (r.packet, r.sender) == (packet, sender)]
        at_origin = [r for r in origin_rows if (r.packet, r.sender) == (packet, sender)]
        sent, received = (at_edge, at_origin) if from_edge else (at_origin, at_edge)
        pairs, lost, injected = _pair_up(sent, received, slack)
        direction = FROM_EDGE if from_edge else FROM_ORIGIN
        receiver_span = origin_span if from_edge else edge_span
        sender_span = edge_span if from_edge else origin_span
        receiver = "origin" if from_edge else "edge"
        for s, r in pairs:
            e, o = (s, r) if from_edge else (r, s)
            what = e.what or o.what
            arrows.append(Arrow(packet, direction, DELIVERED, what, e.mark, o.mark, s.at, r.at))
        for s in lost:
            if not has_origin_capture:
                fate, note = UNSEEN, "no origin capture"
            elif receiver_span is None or not receiver_span.covers(s.at):
                fate, note = UNSEEN, f"the {receiver} capture was not running"
            else:
                fate, note = LOST, f"never reached the {receiver} capture"
            e_mark, o_mark = (s.mark, None) if from_edge else (None, s.mark)
            arrows.append(Arrow(packet, direction, fate, s.what, e_mark, o_mark, s.at, None, note))
        for r in injected:
            sender_name = "edge" if from_edge else "origin"
            if not has_origin_capture:
                fate, note = UNSEEN, "no origin capture"
            elif sender_span is None or not sender_span.covers(r.at):
                fate, note = UNSEEN, f"the {sender_name} capture was not running"
            else:
                fate, note = INJECTED, _injected_note(r.mark, sender_name)
            e_mark, o_mark = (None, r.mark) if from_edge else (r.mark, None)
            arrows.append(Arrow(packet, direction, fate, r.what, e_mark, o_mark, None, r.at, note))
    arrows += _icmp(connection.get("evidence") or (), shift)
    arrows.sort(key=_first_moment)
    return Ladder(tuple(_merged(arrows)), aligned, shift, one_capture)


def _first_moment(a: Arrow) -> float:
    times = [t for t in (a.sent_at, a.seen_at) if t is not None]
    return min(times) if times else float("inf")


def _merged(arrows: Iterable[Arrow]) -> list[Arrow]:
    """Packets of one frame (a response with its FIN) as one arrow, labels joined."""
    out: list[Arrow] = []
    for a in arrows:
        key = (a.sender, a.fate, a.edge and a.edge.frame, a.origin and a.origin.frame)
        if out:
            b = out[-1]
            if (b.sender, b.fate, b.edge and b.edge.frame, b.origin and b.origin.frame) == key:
                out[-1] = b._replace(
                    packet=f"{b.packet}+{a.packet}", what=" ".join(w for w in (b.what, a.what) if w)
                )
                continue
        out.append(a)
    return out


def _icmp(evidence: Iterable[Mapping[str, Any]], shift_s: float) -> list[Arrow]:
    """ICMP errors the verdict cites, from a router (or the host) toward the capture."""
    arrows = []
    for ev in evidence:
        what = str(ev.get("what") or "")
        if "ICMP" not in what or ev.get("frame") is None:
            continue
        t = ev.get("time")
        mark = Mark(ev["frame"], t, None, None)
        if ev.get("capture") == "origin":
            at = None if t is None else t - shift_s
            arrows.append(Arrow("ICMP", FROM_PATH, ICMP, what, None, mark, None, at))
        else:
            arrows.append(Arrow("ICMP", FROM_PATH, ICMP, what, mark, None, None, t))
    return arrows
