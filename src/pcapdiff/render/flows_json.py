"""JSON for `pcapdiff flows` (schema ``pcapdiff/flows/1``, docs/json.md), streamed:
one flow at a time; and for `pcapdiff flows EDGE ORIGIN` (``pcapdiff/flowdiff/1``),
one pair at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TextIO

import orjson

from ..flows import Flow, HttpMessage, TlsRun
from ..model import CaptureSummary
from ..pairdiff import MessageDiff, PairedFlow
from ..reassembly import Stream

SCHEMA = "pcapdiff/flows/1"
DIFF_SCHEMA = "pcapdiff/flowdiff/1"
Cite = Callable[[int], int | str]


def _message(m: HttpMessage, cite: Cite) -> dict[str, Any]:
    return {
        "start_line": m.start_line,
        "headers": [[name, value] for name, value in m.headers],
        "body_bytes": m.body_bytes,
        "framing": m.framing,
        "complete": m.complete,
        "stream_offset": m.start,
        "bytes": m.end - m.start,
        "first_frame": cite(m.first_frame),
        "last_frame": cite(m.last_frame),
    }


def _tls(run: TlsRun, cite: Cite) -> dict[str, Any]:
    return {
        "kind": run.kind,
        "records": run.records,
        "bytes": run.payload_bytes,
        "what": run.what or None,
        "first_frame": cite(run.first_frame),
        "last_frame": cite(run.last_frame),
    }


def _stream(stream: Stream, cite: Cite) -> dict[str, Any]:
    return {
        "bytes": stream.length,
        "gaps": [[s.start, s.end] for s in stream.spans if s.gap],
        "conflicts": [
            {
                "start": c.start,
                "end": c.end,
                "kept_frame": cite(c.kept_frame),
                "frame": cite(c.frame),
            }
            for c in stream.conflicts
        ],
        "retransmitted_bytes": stream.retransmitted,
        "truncated_bytes": stream.truncated,
    }


def flow_to_json(flow: Flow, cite: Cite) -> dict[str, Any]:
    conn = flow.connection
    return {
        "id": conn.id,
        "client": str(conn.client),
        "server": str(conn.server),
        "conn_state": conn.conn_state,
        "start": conn.first_ts_ns / 1e9,
        "client_stream": _stream(flow.client, cite),
        "server_stream": _stream(flow.server, cite),
        "requests": [_message(m, cite) for m in flow.requests],
        "responses": [_message(m, cite) for m in flow.responses],
        "http_problem": flow.problem or None,
        "client_tls": [_tls(r, cite) for r in flow.client_tls],
        "server_tls": [_tls(r, cite) for r in flow.server_tls],
    }


def write_flows_json(flows: Iterable[Flow], summary: CaptureSummary, out: TextIO) -> int:
    """The document, a flow at a time; returns how many were written."""
    out.write(f'{{"schema": "{SCHEMA}",\n "flows": [')
    n = 0
    for flow in flows:
        out.write(",\n  " if n else "\n  ")
        out.write(orjson.dumps(flow_to_json(flow, summary.cite)).decode())
        n += 1
    out.write("\n ],\n")
    tail = {"path": summary.path, "packets": summary.packets, "flows": n}
    out.write(f' "capture": {orjson.dumps(tail).decode()}\n}}\n')
    return n


def _diff(d: MessageDiff, sent_cite: Cite, received_cite: Cite) -> dict[str, Any]:
    return {
        "number": d.number,
        "same": d.same,
        "sent": None if d.sent is None else _message(d.sent, sent_cite),
        "received": None if d.received is None else _message(d.received, received_cite),
        "start_line": None
        if d.start_line is None
        else {"sent": d.start_line[0], "received": d.start_line[1]},
        "added": [[name, value] for name, value in d.added],
        "removed": [[name, value] for name, value in d.removed],
        "changed": [[name, before, after] for name, before, after in d.changed],
        "body_spans": [[start, end] for start, end in d.body_spans],
        "more_body_spans": d.more_spans,
    }


def _end(flow: Flow) -> dict[str, Any]:
    conn = flow.connection
    return {"id": conn.id, "client": str(conn.client), "server": str(conn.server)}


def pair_to_json(pair: PairedFlow) -> dict[str, Any]:
    edge, origin = pair.edge_cite, pair.origin_cite
    return {
        "number": pair.number,
        "outcome": pair.verdict.outcome.value,
        "edge": _end(pair.edge),
        "origin": _end(pair.origin),
        "changed": not all(d.same for d in (*pair.requests, *pair.responses)),
        "requests": [_diff(d, edge, origin) for d in pair.requests],
        "responses": [_diff(d, origin, edge) for d in pair.responses],
    }


def write_flowdiff_json(pairs: Iterable[PairedFlow], out: TextIO) -> tuple[int, int]:
    """The document, a pair at a time; returns (pairs written, pairs changed)."""
    out.write(f'{{"schema": "{DIFF_SCHEMA}",\n "pairs": [')
    n = changed = 0
    for pair in pairs:
        doc = pair_to_json(pair)
        out.write(",\n  " if n else "\n  ")
        out.write(orjson.dumps(doc).decode())
        n += 1
        changed += doc["changed"]
    out.write("\n ],\n")
    out.write(f' "summary": {orjson.dumps({"pairs": n, "changed": changed}).decode()}\n}}\n')
    return n, changed
