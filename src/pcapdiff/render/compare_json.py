"""JSON for `pcapdiff compare` (schema ``pcapdiff/compare/1``, DESIGN.md and docs/json.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol, TextIO

import orjson

from ..model import (
    CaptureSummary,
    CaptureWindow,
    Comparison,
    Connection,
    Side,
    Verdict,
    VerdictTexts,
)
from .conns_json import Cite, same_frame, write_utf8


class Page(Protocol):
    """Where the records written go too (``render.html.HtmlReport``)."""

    def add(self, c: object) -> None: ...
    def add_run(self, text: bytes) -> None: ...


SCHEMA = "pcapdiff/compare/1"


def _capture(summary: CaptureSummary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    ns = 1_000_000_000
    return {
        "path": summary.path,
        "files": summary.files or None,
        "packets": summary.packets,
        "start": None if summary.first_ts_ns is None else summary.first_ts_ns / ns,
        "end": None if summary.last_ts_ns is None else summary.last_ts_ns / ns,
        "malformed_packets": summary.malformed_packets,
        "dropped_packets": summary.dropped_packets,
        "truncated_tail": summary.truncated_tail or None,
    }


def _seconds(ts_ns: int | None) -> float | None:
    return None if ts_ns is None else ts_ns / 1_000_000_000


def _window(w: CaptureWindow | None) -> dict[str, Any] | None:
    if w is None:
        return None
    return {
        "start": _seconds(w.start_ns),
        "end": _seconds(w.end_ns),
        "start_source": w.start_source,
        "end_source": w.end_source,
        "assumed_end": w.assumed_end,
    }


def _side(conn: Connection | None, cite: Cite, with_packets: bool = False) -> dict[str, Any] | None:
    if conn is None:
        return None
    side: dict[str, Any] = {
        "client": str(conn.client),
        "server": str(conn.server),
        "first_frame": cite(conn.first_frame),
        "conn_state": conn.conn_state,
        "history": conn.history,
    }
    if with_packets:
        side["packets"] = [
            {
                "packet": packet,
                "sender": sender,
                "frame": cite(frame),
                "time": _seconds(ts_ns),
                "ttl": ttl,
                "ip_id": None if ip_id is None or ip_id < 0 else ip_id,
                "what": what,
            }
            for packet, sender, frame, ts_ns, ttl, ip_id, what in _key_packets(conn)
        ]
    return side


_KeyPacket = tuple[str, str, int, "int | None", "int | None", "int | None", str]


def _words(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _key_packets(c: Connection) -> list[_KeyPacket]:
    """What the report's ladder draws of a connection, in frame order (the order listed
    for one frame): SYNs, SYN-ACKs, the handshake's ACK, the first request and
    response, RSTs, each side's first FIN, TLS alerts."""
    rows: list[_KeyPacket] = [
        ("SYN", "client", p.frame, p.ts_ns, p.ttl, p.ip_id, "") for p in c.syns
    ]
    rows += [("SYN-ACK", "server", p.frame, p.ts_ns, p.ttl, p.ip_id, "") for p in c.synacks]
    if c.handshake_frame is not None:
        rows.append(("ACK", "client", c.handshake_frame, None, None, None, ""))
    if (q := c.request) is not None:
        what = {"http": _words(q.method, q.target), "tls": _words("ClientHello", q.host)}
        rows.append(("request", "client", q.frame, q.ts_ns, None, None, what.get(q.kind, "data")))
    if (a := c.response) is not None:
        if a.kind == "http":
            label = _words(str(a.status), a.reason)
        elif a.kind == "tls":
            label = _words("alert", a.alert) if a.alert else _words("ServerHello", a.tls_version)
        else:
            label = "data"
        rows.append(("response", "server", a.frame, a.ts_ns, None, None, label))
    rows += [("RST", r.sender, r.frame, r.ts_ns, r.ttl, r.ip_id, "") for r in c.resets]
    for sender, sent in (("client", c.client_sent), ("server", c.server_sent)):
        if sent.fin_frames:
            rows.append(("FIN", sender, sent.fin_frames[0], sent.fin_ts_ns, None, None, ""))
    rows += [("alert", t.sender, t.frame, t.ts_ns, None, None, t.alert) for t in c.tls_alerts]
    rows.sort(key=lambda row: row[2])  # stable: one frame's rows keep the order above
    return rows


def verdict_to_json(
    n: int,
    v: Verdict,
    edge_cite: Cite = same_frame,
    origin_cite: Cite = same_frame,
    all_packets: bool = False,
) -> dict[str, Any]:
    """One verdict; ``CaptureSummary.cite`` of each capture names frames of several files.
    Its sides list their key packets (the report's ladder) when it is not ok, or with
    ``all_packets``."""
    cites: dict[Side, Cite] = {Side.EDGE: edge_cite, Side.ORIGIN: origin_cite}
    e = v.pair.edge
    with_packets = all_packets or v.outcome.value != "ok"
    req = e.request
    request = None
    if req is not None and req.kind == "http":
        request = {"method": req.method, "host": req.host, "path": req.target}
    elif req is not None and req.kind == "tls":
        request = {"method": "TLS", "host": req.host, "path": ""}
    return {
        "id": n,
        "edge": _side(e, cites[Side.EDGE], with_packets),
        "origin": _side(v.pair.origin, cites[Side.ORIGIN], with_packets),
        "matched_by": v.pair.matched_by or None,
        "pairing": v.pair.confidence or None,
        "outcome": v.outcome.value,
        "cdn_status": v.cdn_status,
        "culprit": v.culprit.value,
        "reason": v.reason,
        "request": request,
        "evidence": [
            {
                "capture": ev.capture.value,
                "frame": None if ev.frame is None else cites[ev.capture](ev.frame),
                "time": _seconds(ev.ts_ns),
                "what": ev.what,
                "due": None
                if ev.due is None
                else {"from": _seconds(ev.due[0]), "until": _seconds(ev.due[1])},
            }
            for ev in v.evidence
        ],
        "explanation": v.explanation,
        "assumes": list(v.assumes),
        "hints": list(v.hints),
    }


def comparison_to_json(c: Comparison, all_packets: bool = False) -> dict[str, Any]:
    summary: Counter[str] = Counter(v.outcome.value for v in c.verdicts)
    estimated = (c.origin is not None and c.clock.source != "none") or c.clock.source == "given"
    windows = c.windows or (None, None)
    return {
        "schema": SCHEMA,
        "edge": _capture(c.edge),
        "origin": _capture(c.origin),
        "swapped": c.swapped,
        "edge_window": _window(windows[0]),
        "origin_window": _window(windows[1]),
        "clock_offset_s": c.clock.seconds if estimated else None,
        "clock_offset_spread_s": c.clock.spread_s if estimated else None,
        "clock_offset_source": c.clock.source,
        "clock_offset_pairs": c.clock.pairs_used,
        "connections": [
            verdict_to_json(
                i, v, c.edge.cite, c.origin.cite if c.origin else same_frame, all_packets
            )
            for i, v in enumerate(c.verdicts, 1)
        ],
        "origin_only_connections": c.origin_only,
        "unpaired_origin": [
            _side(o, c.origin.cite if c.origin else same_frame) for o in c.unpaired_origin
        ],
        "other_connections": [
            {"server_port": port, "connections": n} for port, n in c.other_connections
        ],
        "warnings": list(c.warnings),
        "assumed": sum(1 for v in c.verdicts if v.assumes),
        "summary": dict(sorted(summary.items())),
        "filtered_out": 0,
    }


def write_comparison_json(c: Comparison, out: TextIO) -> None:
    # orjson: the stdlib encoder took 5.8 s of a 16 s compare of 50,000 connections
    out.write(orjson.dumps(comparison_to_json(c), option=orjson.OPT_INDENT_2).decode())
    out.write("\n")


class ComparisonJsonStream:
    """The same document, written as the verdicts come (``compare_streaming``): the
    connections first, in the order they were judged, then what is known at the end.
    Memory holds one verdict at a time."""

    def __init__(
        self,
        out: TextIO,
        wanted: Callable[[Verdict], bool] | None = None,
        all_packets: bool = False,
        page: Page | None = None,
    ) -> None:
        """``wanted``: write only the verdicts it accepts (compare's filters); the
        summary still counts them all, and ``filtered_out`` says how many it left.
        ``all_packets``: ok verdicts list their key packets too. ``page``: each record
        written goes to it too (``render.html.HtmlReport``: the page of the document)."""
        self.out, self.wanted, self.all_packets, self.page = out, wanted, all_packets, page
        self.written = 0
        self.filtered_out = 0
        self.judged = 0
        self.assumed = 0
        self.outcomes: Counter[str] = Counter()
        out.write(f'{{"schema": "{SCHEMA}",\n "connections": [')

    def texts(self, run: VerdictTexts) -> None:
        """Verdicts the core wrote, numbered as they came (no filter: each is written)."""
        self.judged += run.verdicts
        self.outcomes.update(run.outcomes)
        self.assumed += run.assumed
        self.out.write(",\n  " if self.written else "\n  ")
        self.written += run.verdicts
        write_utf8(self.out, run.text)
        if self.page is not None:
            self.page.add_run(run.text)

    def verdict(self, v: Verdict, edge_cite: Cite, origin_cite: Cite) -> None:
        self.judged += 1
        self.outcomes[v.outcome.value] += 1
        self.assumed += bool(v.assumes)
        if self.wanted is not None and not self.wanted(v):
            self.filtered_out += 1
            return
        self.out.write(",\n  " if self.written else "\n  ")
        self.written += 1
        record = verdict_to_json(self.judged, v, edge_cite, origin_cite, self.all_packets)
        self.out.write(orjson.dumps(record).decode())
        if self.page is not None:
            self.page.add(record)

    def finish(self, c: Comparison) -> dict[str, Any]:
        """The document's end written; the document but its connections, returned."""
        tail = comparison_tail(c, self.outcomes, self.assumed, self.filtered_out)
        del tail["schema"]
        self.out.write("\n ],\n")
        self.out.write(orjson.dumps(tail, option=orjson.OPT_INDENT_2).decode()[2:-2])
        self.out.write("\n}\n")
        return {"schema": SCHEMA, **tail}

    def abort(self, error: str) -> dict[str, Any]:
        """Reading failed part-way: close the document on the verdicts so far (and
        return what is known of it but its connections)."""
        self.out.write("\n ],\n")
        self.out.write(f' "error": {orjson.dumps(error).decode()}\n}}\n')
        return {"schema": SCHEMA, "summary": dict(sorted(self.outcomes.items())), "error": error}


def comparison_tail(
    c: Comparison, outcomes: Counter[str], assumed: int, filtered_out: int
) -> dict[str, Any]:
    """The document but its connections, from the verdicts' counts (the Comparison
    may hold none: the streamed one does not)."""
    tail = comparison_to_json(c._replace(verdicts=()))
    del tail["connections"]
    tail["assumed"] = assumed
    tail["summary"] = dict(sorted(outcomes.items()))
    tail["filtered_out"] = filtered_out
    tail["error"] = None
    return tail
