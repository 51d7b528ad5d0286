"""The batch (numpy) decoder and the careful per-frame decoder agree exactly."""

from __future__ import annotations

import io
from itertools import chain
from pathlib import Path
from typing import Any

import pytest

from pcapdiff.decode import decode, decode_batches
from pcapdiff.errors import PcapdiffError
from pcapdiff.model import CaptureSummary, Segment
from pcapdiff.read import read, read_batches

from .conftest import CORPUS, FIXTURES

FILES = sorted(p for p in FIXTURES.iterdir() if p.is_file()) + sorted(
    p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".tsv", ".md")
)


def meaning(row: Any) -> tuple[object, ...]:
    """What a segment says, whatever buffer its bytes sit in."""
    s = row if isinstance(row, Segment) else Segment._make(row)
    return (
        s.frame,
        s.ts_ns,
        s.src,
        s.sport,
        s.dst,
        s.dport,
        s.flags,
        s.seq,
        s.ack,
        s.win,
        s.payload_len,
        s.ttl,
        s.ip_id,
        s.payload,
        s.options,
    )


def both_ways(source: Path | bytes) -> tuple[Any, Any]:
    results = []
    for batched in (False, True):
        src = io.BytesIO(source) if isinstance(source, bytes) else source
        summary = CaptureSummary(path="x")
        try:
            if batched:
                rows = chain.from_iterable(decode_batches(read_batches(src, summary), summary))
            else:
                rows = decode(read(src, summary), summary)
            segments = [meaning(r) for r in rows]
            error = ""
        except PcapdiffError as exc:
            segments, error = [], str(exc)
        results.append(
            (
                segments,
                error,
                summary.tcp_packets,
                summary.non_tcp_packets,
                dict(summary.anomalies),
                summary.packets,
                summary.first_ts_ns,
                summary.last_ts_ns,
            )
        )
    return results[0], results[1]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_batch_and_per_frame_decoding_agree(path: Path) -> None:
    per_frame, batched = both_ways(path)
    assert batched == per_frame
