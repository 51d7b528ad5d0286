"""JSON for `pcapdiff conns` (schema ``pcapdiff/conns/1``, documented in docs/json.md).

The document is streamed: connections are written as they end, and the capture
facts (known only at the end) follow them, so memory never holds the whole list.
"""

from __future__ import annotations

import codecs
import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import orjson

from ..errors import PcapdiffError
from ..model import (
    RECORD_SEPARATOR,
    CaptureSummary,
    Connection,
    Direction,
    Exchange,
    PacketRef,
    RecordTexts,
    TcpOptions,
)

SCHEMA = "pcapdiff/conns/1"


def seconds(ts_ns: int | None) -> float | None:
    """Epoch seconds as a JSON number (a double keeps about 0.2 us at today's epoch)."""
    return None if ts_ns is None else ts_ns / 1_000_000_000


# A frame as JSON: an int, or "FILE#N" when the capture was read from several files.
Cite = Callable[[int], "int | str"]


def same_frame(frame: int) -> int | str:
    return frame


def _packet(ref: PacketRef, cite: Cite) -> dict[str, Any]:
    return {
        "frame": cite(ref.frame),
        "time": ref.ts_ns / 1_000_000_000,
        "ttl": ref.ttl,
        "ip_id": ref.ip_id if ref.ip_id >= 0 else None,
    }


def _options(opts: TcpOptions | None) -> dict[str, Any] | None:
    if opts is None:
        return None
    return {
        "mss": opts.mss,
        "wscale": opts.wscale,
        "sack_permitted": opts.sack_permitted,
        "tsval": opts.tsval,
        "tsecr": opts.tsecr,
        "layout": opts.layout,
    }


def connection_to_json(conn: Connection, cite: Cite = same_frame) -> dict[str, Any]:
    """One connection as a plain dict, in schema ``pcapdiff/conns/1``; ``cite`` is
    the capture's ``CaptureSummary.cite``, for captures read from several files."""
    req, resp = conn.request, conn.response
    handshake = conn.handshake_frame
    return {
        "id": conn.id,
        "client": str(conn.client),
        "server": str(conn.server),
        "conn_state": conn.conn_state,
        "history": conn.history,
        "client_isn": conn.client_isn,
        "server_isn": conn.server_isn,
        "first_frame": cite(conn.first_frame),
        "last_frame": cite(conn.last_frame),
        "start": conn.first_ts_ns / 1_000_000_000,
        "end": conn.last_ts_ns / 1_000_000_000,
        "duration": (conn.last_ts_ns - conn.first_ts_ns) / 1_000_000_000,
        "syns": [_packet(p, cite) for p in conn.syns],
        "synacks": [_packet(p, cite) for p in conn.synacks],
        "handshake_frame": None if handshake is None else cite(handshake),
        "resets": [
            {
                "frame": cite(r.frame),
                "time": r.ts_ns / 1_000_000_000,
                "sender": r.sender,
                "phase": r.phase,
                "ttl": r.ttl,
                "ip_id": r.ip_id if r.ip_id >= 0 else None,
                "seq": r.seq,
            }
            for r in conn.resets
        ],
        "syn_options": _options(conn.syn_options),
        "synack_options": _options(conn.synack_options),
        "client_sent": _direction(conn.client_sent, cite),
        "server_sent": _direction(conn.server_sent, cite),
        "request": None if req is None else _message(req._asdict(), cite),
        "response": None if resp is None else _message(resp._asdict(), cite),
        "tls_alerts": [
            {"frame": cite(a.frame), "time": seconds(a.ts_ns), "sender": a.sender, "alert": a.alert}
            for a in conn.tls_alerts
        ],
        "gaps": conn.gaps,
        "ended_by": conn.ended_by,
        "omitted": dict(conn.omitted),
        "exchange": _exchange(conn.exchange, cite),
        "exchange_at_rst": _exchange(conn.exchange_at_rst, cite),
    }


def _exchange(x: Exchange | None, cite: Cite) -> dict[str, Any] | None:
    if x is None:
        return None
    return {
        "requests": x.requests,
        "responses": x.responses,
        "response_bytes": x.response_bytes,
        "response_expected": x.response_expected,
        "problem": x.problem or None,
        "answer_frame": None if x.answer_frame is None else cite(x.answer_frame),
        "answer_time": seconds(x.answer_ts_ns),
    }


def _message(fields: dict[str, Any], cite: Cite) -> dict[str, Any]:
    """A request or response record, its capture time in epoch seconds."""
    fields["time"] = seconds(fields.pop("ts_ns"))
    fields["frame"] = cite(fields["frame"])
    return fields


def _direction(d: Direction, cite: Cite) -> dict[str, Any]:
    return {
        "packets": d.packets,
        "payload_bytes": d.payload_bytes,
        "retransmitted_bytes": d.retransmitted_bytes,
        "fin_frames": [cite(f) for f in d.fin_frames],
        "last_time": seconds(d.last_ts_ns),
        "first_fin_time": seconds(d.fin_ts_ns),
    }


def summary_to_json(summary: CaptureSummary) -> dict[str, Any]:
    """The capture facts: format, counts, window, quality."""
    return {
        "path": summary.path,
        "format": summary.format,
        "compression": summary.compression or None,
        "linktypes": sorted(summary.linktypes),
        "snaplen": summary.snaplen,
        "packets": summary.packets,
        "tcp_packets": summary.tcp_packets,
        "non_tcp_packets": summary.non_tcp_packets,
        "ip_fragments": summary.ip_fragments,
        "sliced_packets": summary.sliced_packets,
        "malformed_packets": summary.malformed_packets,
        "anomalies": dict(sorted(summary.anomalies.items())),
        "anomaly_examples": [
            {"frame": summary.cite(a.frame), "code": a.code, "detail": a.detail}
            for a in summary.anomaly_examples
        ],
        "start": seconds(summary.first_ts_ns),
        "end": seconds(summary.last_ts_ns),
        "truncated_tail": summary.truncated_tail or None,
        "skipped_sections": summary.skipped_sections,
        "icmp_errors": summary.icmp_errors_seen,
        "interface_stats": [
            {
                "interface": s.interface,
                "linktype": s.linktype,
                "received": s.received,
                "dropped_by_interface": s.dropped_by_interface,
                "dropped_by_os": s.dropped_by_os,
                "delivered": s.delivered,
                "start": seconds(s.start_ns),
                "end": seconds(s.end_ns),
            }
            for s in summary.interface_stats
        ],
    }


def _encode(doc: dict[str, Any]) -> str:
    # orjson: about 5x the stdlib encoder on these records (measured 22.6 -> ~4 us each),
    # and conns writes one per connection. Same compact text, keys in the same order.
    return orjson.dumps(doc).decode()


def write_utf8(out: TextIO, text: bytes) -> None:
    """UTF-8 text to OUT: to its bytes where it writes UTF-8 (megabytes of records
    neither decoded here nor encoded again there), else as str."""
    buffer = getattr(out, "buffer", None)
    if buffer is not None and codecs.lookup(out.encoding or "ascii").name == "utf-8":
        out.flush()  # what OUT holds goes first
        buffer.write(text)
    else:
        out.write(text.decode())


def write_conns_json(
    connections: Iterable[Connection | RecordTexts],
    summary: CaptureSummary,
    out: TextIO,
    filters: dict[str, Any] | None = None,
    json_of: Callable[[Connection], str | None] | None = None,
) -> int:
    """Stream the whole document to ``out``; return how many connections were written.
    ``json_of``: a record's text as the core wrote it (``ConnectionScan.json_of``),
    None where it did not; ``RecordTexts`` are records as that text alone.

    The document is always complete: when reading fails part-way, it holds the
    connections up to the failure and an ``error`` member, and the error is raised
    again for the caller (the CLI then exits 2)."""
    out.write(f'{{"schema": "{SCHEMA}",\n "connections": [')
    states: Counter[str] = Counter()
    n = 0
    error: PcapdiffError | None = None
    try:
        for conn in connections:
            out.write(RECORD_SEPARATOR if n else "\n  ")
            if isinstance(conn, RecordTexts):
                write_utf8(out, conn.text)
                states.update(conn.states)
                n += conn.records
                continue
            text = json_of(conn) if json_of is not None else None
            out.write(text or _encode(connection_to_json(conn, summary.cite)))
            states[conn.conn_state] += 1
            n += 1
    except PcapdiffError as exc:
        error = exc
    out.write("\n ],\n")
    tail = {
        "capture": summary_to_json(summary),
        "filters": filters or {},
        "summary": {"connections": n, "by_state": dict(sorted(states.items()))},
        "error": None if error is None else str(error),
    }
    out.write(json.dumps(tail, indent=1)[2:-2])  # the members, without the braces
    out.write("\n}\n")
    if error is not None:
        raise error
    return n
