"""`pcapdiff flows EDGE ORIGIN`: the request as the edge sent it beside the request as
the origin received it, and the same for the answer, for every pair `compare` makes.

A transparent proxy or load balancer in the path that rewrites Host, adds
X-Forwarded-For or Via, or changes the path shows here header by header; a body
that differs shows as its first differing byte.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

from .compare import compare
from .conns import Sources
from .flows import Flow, FlowOptions, HttpMessage, contiguous, scan_flows
from .model import Verdict


class MessageDiff(NamedTuple):
    """One message as sent and as received; what changed on the way."""

    number: int  # 1 for the first request (or response) of the connection
    sent: HttpMessage | None  # None: the edge side has no such message
    received: HttpMessage | None
    start_line: tuple[str, str] | None  # (sent, received) when they differ
    added: tuple[tuple[str, str], ...]  # headers only the receiving side has
    removed: tuple[tuple[str, str], ...]
    changed: tuple[tuple[str, str, str], ...]  # (name, sent value, received value)
    body_differs_at: int | None  # offset in the body of the first differing byte

    @property
    def same(self) -> bool:
        return (
            self.sent is not None
            and self.received is not None
            and self.start_line is None
            and not (self.added or self.removed or self.changed)
            and self.body_differs_at is None
        )


class PairedFlow(NamedTuple):
    number: int  # the connection's number in compare's output
    verdict: Verdict
    edge: Flow
    origin: Flow
    requests: tuple[MessageDiff, ...]  # edge sent -> origin received
    responses: tuple[MessageDiff, ...]  # origin sent -> edge received


def paired_flows(edge: Sources, origin: Sources, **options: object) -> Iterator[PairedFlow]:
    """Each pair compare makes, with both sides' flows and their differences.
    ``options`` go to ``compare`` (origins, ports, clock_offset_s, ...)."""
    result = compare(edge, origin, **options)  # type: ignore[arg-type]
    if result.swapped:  # compare found the captures given the wrong way round
        edge, origin = origin, edge
    pairs = [(n, v) for n, v in enumerate(result.verdicts, 1) if v.pair.origin is not None]
    edge_ids = frozenset(v.pair.edge.id for _, v in pairs)
    origin_ids = frozenset(v.pair.origin.id for _, v in pairs if v.pair.origin is not None)
    edge_flows = {f.connection.id: f for f in scan_flows(edge, FlowOptions(conn_ids=edge_ids))}
    origin_flows = {
        f.connection.id: f for f in scan_flows(origin, FlowOptions(conn_ids=origin_ids))
    }
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
        return MessageDiff(index, a, b, None, (), (), (), None)
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
    differs = None
    if body_a != body_b:
        differs = next(
            (i for i, (x, y) in enumerate(zip(body_a, body_b, strict=False)) if x != y),
            min(len(body_a), len(body_b)),
        )
    return MessageDiff(index, a, b, line, added, removed, changed, differs)
