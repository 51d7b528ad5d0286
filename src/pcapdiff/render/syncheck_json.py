"""`pcapdiff syncheck --json`: schema pcapdiff/syncheck/1 (docs/json.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO

import orjson

from ..exitcodes import for_syncheck
from ..syncheck import FATES, SynCheck, Tally, retransmission_pattern
from .conns_json import seconds, summary_to_json
from .syncheck_text import next_steps

SCHEMA = "pcapdiff/syncheck/1"

Cite = Callable[[int], "int | str"]


def tally_to_json(tally: Tally, cite: Cite) -> dict[str, Any]:
    pattern = retransmission_pattern(tally.example_intervals) if tally.example_intervals else None
    return {
        "verdict": tally.verdict,
        "attempts": tally.attempts,
        "syns": tally.syns,
        "synacks": tally.synacks,
        "fates": {fate.value: tally.fates[fate] for fate in FATES},
        "frames": {
            fate.value: [cite(f) for f in tally.examples[fate]]
            for fate in FATES
            if tally.examples.get(fate)
        },
        "first": seconds(tally.first_ns),
        "last": seconds(tally.last_ns),
        "retransmissions": {
            "attempts": tally.retransmitted,
            "patterns": dict(tally.patterns.most_common()),
            "longest": list(tally.example_intervals),
            "longest_pattern": pattern,
        },
        "icmp": dict(tally.icmp.most_common()),
        "icmp_frames": [cite(f) for f in tally.icmp_frames],
    }


def syncheck_to_json(check: SynCheck) -> dict[str, Any]:
    cite = check.summary.cite
    return {
        "schema": SCHEMA,
        "verdict": check.verdict,
        "exit_status": int(for_syncheck(check.total.fates)),
        "ports": list(check.ports),
        "from": [str(n) for n in check.networks],
        "window": {
            "start": seconds(check.start_ns),
            "end": seconds(check.end_ns),
            "end_source": check.end_source,
        },
        "total": tally_to_json(check.total, cite),
        "networks": [
            {"network": name, "addresses": t.addresses, **tally_to_json(t, cite)}
            for name, t in check.by_network.items()
        ],
        "sources": [
            {"address": address, **tally_to_json(t, cite)} for address, t in check.sources.items()
        ],
        "other_sources": check.other_sources,
        "not_selected": check.not_selected,
        "without_syn": check.without_syn,
        "next_steps": next_steps(check),
        "warnings": check.warnings,
        "capture": summary_to_json(check.summary),
    }


def write_syncheck_json(check: SynCheck, out: TextIO) -> None:
    out.write(orjson.dumps(syncheck_to_json(check), option=orjson.OPT_INDENT_2).decode())
    out.write("\n")
