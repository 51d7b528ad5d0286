"""JSON for `pcapdiff compare` (schema ``pcapdiff/compare/1``, DESIGN.md and docs/json.md)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, TextIO

from ..model import CaptureSummary, Comparison, Connection, Verdict

SCHEMA = "pcapdiff/compare/1"


def _capture(summary: CaptureSummary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    ns = 1_000_000_000
    return {
        "path": summary.path,
        "packets": summary.packets,
        "start": None if summary.first_ts_ns is None else summary.first_ts_ns / ns,
        "end": None if summary.last_ts_ns is None else summary.last_ts_ns / ns,
        "malformed_packets": summary.malformed_packets,
        "dropped_packets": summary.dropped_packets,
        "truncated_tail": summary.truncated_tail or None,
    }


def _side(conn: Connection | None) -> dict[str, Any] | None:
    if conn is None:
        return None
    return {
        "client": str(conn.client),
        "server": str(conn.server),
        "first_frame": conn.first_frame,
        "conn_state": conn.conn_state,
        "history": conn.history,
    }


def verdict_to_json(n: int, v: Verdict) -> dict[str, Any]:
    e = v.pair.edge
    req = e.request
    request = None
    if req is not None and req.kind == "http":
        request = {"method": req.method, "host": req.host, "path": req.target}
    elif req is not None and req.kind == "tls":
        request = {"method": "TLS", "host": req.host, "path": ""}
    return {
        "id": n,
        "edge": _side(e),
        "origin": _side(v.pair.origin),
        "matched_by": v.pair.matched_by or None,
        "outcome": v.outcome.value,
        "cdn_status": v.cdn_status,
        "culprit": v.culprit.value,
        "request": request,
        "evidence": [
            {
                "capture": ev.capture.value,
                "frame": ev.frame,
                "time": None if ev.ts_ns is None else ev.ts_ns / 1_000_000_000,
                "what": ev.what,
            }
            for ev in v.evidence
        ],
        "explanation": v.explanation,
        "hints": list(v.hints),
    }


def comparison_to_json(c: Comparison) -> dict[str, Any]:
    summary: Counter[str] = Counter(v.outcome.value for v in c.verdicts)
    return {
        "schema": SCHEMA,
        "edge": _capture(c.edge),
        "origin": _capture(c.origin),
        "clock_offset_s": c.clock.seconds,
        "clock_offset_spread_s": c.clock.spread_s,
        "clock_offset_source": c.clock.source,
        "connections": [verdict_to_json(i, v) for i, v in enumerate(c.verdicts, 1)],
        "origin_only_connections": c.origin_only,
        "warnings": list(c.warnings),
        "summary": dict(sorted(summary.items())),
    }


def write_comparison_json(c: Comparison, out: TextIO) -> None:
    json.dump(comparison_to_json(c), out, indent=1)
    out.write("\n")
