"""TCP stream reassembly (pcapdiff.reassembly): in order whatever the arrival order,
retransmissions folded, holes as gaps, differing overlaps reported, 2**32 wrap."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pcapdiff.reassembly import M32, Conflict, Span, Stream


def segments(payload: bytes, cuts: list[int]) -> list[tuple[int, bytes]]:
    """(offset, bytes) pieces of ``payload`` cut at ``cuts``."""
    points = sorted({0, len(payload), *(c % (len(payload) + 1) for c in cuts)})
    return [(a, payload[a:b]) for a, b in itertools.pairwise(points) if b > a]


def rebuilt(stream: Stream) -> bytes:
    return b"".join(data for span, data in stream.pieces() if not span.gap)


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(min_size=1, max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=30),
    isn=st.one_of(st.integers(0, M32 - 1), st.integers(M32 - 2000, M32 - 1)),
    seed=st.integers(0, 2**16),
    copies=st.integers(1, 3),
)
def test_any_order_and_any_retransmission_gives_the_stream(
    payload: bytes, cuts: list[int], isn: int, seed: int, copies: int
) -> None:
    pieces = segments(payload, cuts) * copies
    random.Random(seed).shuffle(pieces)
    stream = Stream()
    stream.syn(isn)
    for frame, (offset, data) in enumerate(pieces, 1):
        stream.add((isn + 1 + offset) % M32, data, frame)
    stream.close()
    assert rebuilt(stream) == payload
    assert stream.conflicts == []
    assert not any(span.gap for span in stream.spans)
    assert stream.length == len(payload)
    assert stream.retransmitted == len(payload) * (copies - 1)


def test_a_lost_segment_is_a_gap_of_its_size() -> None:
    stream = Stream()
    stream.syn(M32 - 10)  # the stream wraps past 2**32 at once
    base = M32 - 9
    stream.add(base % M32, b"GET / HTTP/1.1\r\n", 1)
    stream.add((base + 16 + 100) % M32, b"Host: x\r\n", 3)  # 100 bytes never seen
    stream.close()
    assert [(s.start, s.end, s.gap) for s in stream.spans] == [
        (0, 16, False),
        (16, 116, True),
        (116, 125, False),
    ]
    assert rebuilt(stream) == b"GET / HTTP/1.1\r\nHost: x\r\n"


def test_differing_bytes_over_taken_ones_are_reported_and_the_first_kept() -> None:
    stream = Stream()
    stream.syn(1000)
    stream.add(1001, b"HTTP/1.1 200 OK\r\n", 5)
    stream.add(1001 + 9, b"302", 7)  # an injector's overlapping rewrite
    stream.add(1001 + 17, b"rest", 8)
    assert rebuilt(stream) == b"HTTP/1.1 200 OK\r\nrest"
    assert stream.conflicts == [Conflict(9, 12, 5, 7)]
    pending = Stream()
    pending.syn(0)
    pending.add(11, b"abcd", 2)  # out of order, then a different copy of it
    pending.add(11, b"abXdef", 3)
    pending.add(1, b"0123456789", 1)
    assert rebuilt(pending) == b"0123456789abcdef"
    assert pending.conflicts == [Conflict(12, 14, 2, 3)]


def test_memory_is_bounded() -> None:
    stream = Stream(max_bytes=1000, max_pending=5000)
    stream.syn(0)
    for i in range(100):
        stream.add(1 + i * 100, b"x" * 100, i + 1)
    assert len(stream.data) == 1000
    assert stream.truncated == 9000
    assert stream.length == 10_000
    held = Stream(max_pending=1000)
    held.syn(0)
    for i in range(1, 30):  # the first segment never comes: the window gives up
        held.add(1 + i * 100, b"y" * 100, i)
    assert held.pending_bytes <= 1000
    assert held.spans[0] == Span(0, 100, True)


def test_no_syn_starts_at_the_first_segment() -> None:
    stream = Stream()
    stream.add(77, b"abc", 1)
    stream.add(80, b"def", 2)
    stream.add(70, b"zzzzzzz", 3)  # before the first byte seen: nothing to take
    assert rebuilt(stream) == b"abcdef"
