"""`pcapdiff flows EDGE ORIGIN`: the request as the edge sent it beside the request as
the origin received it, and the same for the answer, for every pair `compare` makes.

A transparent proxy or load balancer in the path that rewrites Host, adds
X-Forwarded-For or Via, or changes the path shows here header by header; a body
that differs shows as the byte ranges that differ (and the bytes one side has and
the other lacks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from .comparison import compare
from .conns import Sources
from .flows import Flow, FlowOptions, HttpMessage, contiguous, scan_flows
from .model import Verdict

MAX_SPANS = 20  # differing byte ranges listed per body
BLOCK = 4096  # bodies are compared a block at a time, byte by byte only where they differ


class MessageDiff(NamedTuple):
    """One message as sent and as received; what changed on the way."""

    number: int  # 1 for the first request (or response) of the connection
    sent: HttpMessage | None  # None: the edge side has no such message
    received: HttpMessage | None
    start_line: tuple[str, str] | None  # (sent, received) when they differ
    added: tuple[tuple[str, str], ...]  # headers only the receiving side has
    removed: tuple[tuple[str, str], ...]
    changed: tuple[tuple[str, str, str], ...]  # (name, sent value, received value)
    # [start, end) offsets in the body where the two differ, the first MAX_SPANS; a
    # body longer on one side ends in the span of the bytes only it has
    body_spans: tuple[tuple[int, int], ...] = ()
    more_spans: bool = False  # spans past MAX_SPANS were not listed

    @property
    def body_differs_at(self) -> int | None:
        """Offset in the body of the first differing byte."""
        return self.body_spans[0][0] if self.body_spans else None

    @property
    def same(self) -> bool:
        return (
            self.sent is not None
            and self.received is not None
            and self.start_line is None
            and not (self.added or self.removed or self.changed)
            and not self.body_spans
        )


class PairedFlow(NamedTuple):
    number: int  # the connection's number in compare's output
    verdict: Verdict
    edge: Flow
    origin: Flow
    requests: tuple[MessageDiff, ...]  # edge sent -> origin received
    responses: tuple[MessageDiff, ...]  # origin sent -> edge received
    edge_cite: Callable[[int], int | str] = int  # frames as each capture names them
    origin_cite: Callable[[int], int | str] = int


def paired_flows(edge: Sources, origin: Sources, **options: object) -> Iterator[PairedFlow]:
    """Each pair compare makes, with both sides' flows and their differences.
    ``options`` go to ``compare`` (origins, ports, clock_offset_s, ...)."""
    result = compare(edge, origin, **options)  # type: ignore[arg-type]
    if result.swapped:  # compare found the captures given the wrong way round
        edge, origin = origin, edge
    pairs = [(n, v) for n, v in enumerate(result.verdicts, 1) if v.pair.origin is not None]
    edge_ids = frozenset(v.pair.edge.id for _, v in pairs)
    origin_ids = frozenset(v.pair.origin.id for _, v in pairs if v.pair.origin is not None)
    edge_scan = scan_flows(edge, FlowOptions(conn_ids=edge_ids))
    edge_flows = {f.connection.id: f for f in edge_scan}
    origin_scan = scan_flows(origin, FlowOptions(conn_ids=origin_ids))
    origin_flows = {f.connection.id: f for f in origin_scan}
    for n, v in pairs:
        assert v.pair.origin is not None
        e, o = edge_flows.get(v.pair.edge.id), origin_flows.get(v.pair.origin.id)
        if e is None or o is None:
            continue
        yield PairedFlow(
            n,
            v,
            e,
            o,
            _diffs(e.requests, o.requests, contiguous(e.client), contiguous(o.client)),
            _diffs(o.responses, e.responses, contiguous(o.server), contiguous(e.server)),
            edge_scan.summary.cite,
            origin_scan.summary.cite,
        )


def _diffs(
    sent: Sequence[HttpMessage], received: Sequence[HttpMessage], sent_bytes: bytes, got: bytes
) -> tuple[MessageDiff, ...]:
    out = []
    for i in range(max(len(sent), len(received))):
        a = sent[i] if i < len(sent) else None
        b = received[i] if i < len(received) else None
        out.append(_diff(i + 1, a, b, sent_bytes, got))
    return tuple(out)


def _diff(
    index: int, a: HttpMessage | None, b: HttpMessage | None, sent_bytes: bytes, got: bytes
) -> MessageDiff:
    if a is None or b is None:
        return MessageDiff(index, a, b, None, (), (), ())
    line = None if a.start_line == b.start_line else (a.start_line, b.start_line)
    ours = {name.lower(): (name, value) for name, value in a.headers}
    theirs = {name.lower(): (name, value) for name, value in b.headers}
    added = tuple(theirs[k] for k in theirs if k not in ours)
    removed = tuple(ours[k] for k in ours if k not in theirs)
    changed = tuple(
        (ours[k][0], ours[k][1], theirs[k][1])
        for k in ours
        if k in theirs and ours[k][1] != theirs[k][1]
    )
    body_a = sent_bytes[a.end - a.body_bytes : a.end] if a.framing != "chunked" else b""
    body_b = got[b.end - b.body_bytes : b.end] if b.framing != "chunked" else b""
    spans, more = differing_spans(body_a, body_b)
    return MessageDiff(index, a, b, line, added, removed, changed, spans, more)


def differing_spans(
    a: bytes, b: bytes, limit: int = MAX_SPANS
) -> tuple[tuple[tuple[int, int], ...], bool]:
    """[start, end) ranges where ``a`` and ``b`` differ, at most ``limit``, and whether
    there were more. Equal blocks are skipped whole, so equal megabytes cost little."""
    spans: list[tuple[int, int]] = []
    common = min(len(a), len(b))
    start: int | None = None
    for block in range(0, common, BLOCK):
        end = min(block + BLOCK, common)
        if start is None and a[block:end] == b[block:end]:
            continue
        for i in range(block, end):
            if a[i] != b[i]:
                if start is None:
                    start = i
            elif start is not None:
                spans.append((start, i))
                start = None
                if len(spans) > limit:
                    return tuple(spans[:limit]), True
    if start is not None:
        spans.append((start, common))
    if len(a) != len(b):
        if spans and spans[-1][1] == common:
            spans[-1] = (spans[-1][0], max(len(a), len(b)))
        else:
            spans.append((common, max(len(a), len(b))))
    return tuple(spans[:limit]), len(spans) > limit
