"""JSON for `pcapdiff flows` (schema ``pcapdiff/flows/1``, docs/json.md), streamed:
one flow at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TextIO

import orjson

from ..flows import Flow, HttpMessage, TlsRun
from ..model import CaptureSummary
from ..reassembly import Stream

SCHEMA = "pcapdiff/flows/1"
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
