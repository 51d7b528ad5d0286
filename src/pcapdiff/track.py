"""Stage 3, track: ``Segment`` -> ``Connection``, streamed.

Input: segments in capture order. Output: one ``Connection`` per TCP connection
attempt, yielded when it ends: closed (FIN both ways, or RST) and quiet for
``close_delay``, idle for ``idle_timeout``, replaced by a new attempt on the same
4-tuple (a pure SYN with another ISN), or at the end of the capture. So memory grows
with the connections alive at one time, not with the packets or the file.

A connection is a 4-tuple plus the client's ISN. SYN retransmits (same ISN) belong to
the first SYN's attempt. Connections whose SYN was not captured are tracked from
what was seen. Connection state and history follow Zeek (base/protocols/conn), so
results can be checked against a second tool: ``conn_state`` is computed with Zeek's
own decision function from Zeek-like endpoint states, and the history letters are
recorded as Zeek records them (once; again on a new sequence number for S/H/F/R;
at 1, 10, 100, ... for T/G/W).

The tracking is the Rust core's (core/src/track.rs). ``track_batches`` decodes and
tracks a capture's batches in one pass inside the core; ``track`` follows segments
given as rows (several files merged by time, tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, cast

from . import _core
from .decode import account, decode_ahead, on_a_thread
from .model import CaptureSummary, Connection, FrameBatch, RecordTexts, SegmentRow

# Zeek's defaults: tcp_inactivity_timeout 5 min, tcp_close_delay / tcp_reset_delay 5 s.
IDLE_TIMEOUT_NS: int = _core.IDLE_TIMEOUT_NS
CLOSE_DELAY_NS: int = _core.CLOSE_DELAY_NS
IDLE_SWEEP_INTERVAL_NS: int = _core.IDLE_SWEEP_INTERVAL_NS  # idle connections looked for
ROWS_PER_CALL = 4096  # segment rows handed to the core at once
# Batches tracked on the reading thread and waiting for compare's engine, at most: each
# holds only the records it ended, so the thread may run this far ahead through the
# engine's slow batches (at 2, the two threads took turns: compare 6% slower).
TRACKED_AHEAD = 8

# (connection id, from the client, the segment): see ``track``'s ``tap``.
Tap = Callable[[int, bool, SegmentRow], None]


def track(
    segments: Iterable[SegmentRow],
    *,
    idle_timeout_ns: int = IDLE_TIMEOUT_NS,
    close_delay_ns: int = CLOSE_DELAY_NS,
    released: list[int] | None = None,
    tap: Tap | None = None,
    keep: bool = False,
) -> Iterator[Connection | _core.Records]:
    """Follow every TCP connection in ``segments``; yield each when it ends.

    ``tap``, when given, sees every segment that carries payload, a SYN, a FIN or a
    RST, with the id of the connection it belongs to and its direction (``flows``
    reassembles the streams so, under the same ids as ``conns`` and ``compare``
    print; live ``flows`` ends a body framed by the close at the FIN).

    ``released[0]``, when given, is kept at the capture time up to which every record
    that ends by then has been yielded (the last sweep's clock): a reader of the stream
    knows no record released by then is still to come.

    ``keep``: the records stay in the core, for compare's engine: a ``Records`` of
    those that ended is yielded after each chunk instead of their ``Connection``s."""
    tracker = _core.Tracker(idle_timeout_ns, close_delay_ns, tap is not None, keep=keep)
    rows = iter(segments)
    while chunk := list(islice(rows, ROWS_PER_CALL)):
        yield from cast(Iterator[Connection], _events(tracker.feed_rows(chunk), released, tap))
        if keep:
            yield tracker.take_kept()
    yield from cast(Iterator[Connection], _events(tracker.finish(), released, tap))
    if keep:
        yield tracker.take_kept()


def track_batches(
    batches: Iterable[FrameBatch],
    summary: CaptureSummary,
    *,
    idle_timeout_ns: int = IDLE_TIMEOUT_NS,
    close_delay_ns: int = CLOSE_DELAY_NS,
    released: list[int] | None = None,
    tap: Tap | None = None,
    json: list[tuple[int, str | None]] | None = None,
    text_only: bool = False,
    keep: bool = False,
    ahead: bool = False,
) -> Iterator[Connection | RecordTexts | _core.Records]:
    """``track`` over ``decode_batches`` of ``batches``, in one pass inside the core:
    no segment becomes a Python object (but those ``tap`` is shown). With ``json``,
    ``json[0]`` holds (id, its ``conns --json`` text, or None) of each record as it is
    yielded: the core writes the text (render/conns_json.py writes it otherwise).
    ``text_only`` (with ``json``): ``RecordTexts`` instead of the ``Connection``s
    whose text the core wrote, a run of them at a time. ``keep``: see ``track``.
    ``ahead``: the batches are read and decoded on a second thread (``decode_ahead``;
    ``batches`` must be an iterator whose reads return, a file's); with ``keep`` they are
    tracked there too, compare's thread left to its engine (which judges what they end)."""
    tracker = _core.Tracker(
        idle_timeout_ns, close_delay_ns, tap is not None, json is not None, not text_only, keep
    )
    if ahead and keep:
        pcapng = summary.format == "pcapng"
        Tracked = tuple[list[tuple[Any, ...]], _core.Records]

        def track_one(batch: FrameBatch) -> Tracked:
            found, events = tracker.feed_batch(*batch.core_columns(), pcapng)
            account(found, summary)
            return events, tracker.take_kept()

        def track_end() -> Tracked:  # there too: the engine has batches to judge meanwhile
            return tracker.finish(), tracker.take_kept()

        for events, kept in on_a_thread(iter(batches), track_one, TRACKED_AHEAD, track_end):
            yield from _events(events, released, tap, json)
            yield kept
        return
    if ahead:
        for decoded in decode_ahead(iter(batches), summary):
            events = tracker.feed_decoded(decoded)
            yield from _events(events, released, tap, json)
    else:
        for batch in batches:
            pcapng = summary.format == "pcapng"
            found, events = tracker.feed_batch(*batch.core_columns(), pcapng)
            account(found, summary)
            yield from _events(events, released, tap, json)
            if keep:
                yield tracker.take_kept()
    yield from _events(tracker.finish(), released, tap, json)
    if keep:
        yield tracker.take_kept()


def _events(
    events: list[tuple[Any, ...]],
    released: list[int] | None,
    tap: Tap | None,
    json: list[tuple[int, str | None]] | None = None,
) -> Iterator[Connection | RecordTexts]:
    """The core's events in order: a record ended (a ``Connection`` the core made), a
    run of records as their text only, a segment tapped, the clock."""
    for event in events:
        kind = event[0]
        if kind == 3:
            yield RecordTexts(event[1], event[2], event[3])
        elif kind == 0:
            if json is not None:
                json[0] = (event[1].id, event[2])
            yield event[1]
        elif kind == 1:
            if tap is not None:
                tap(event[1], event[2], event[3])
        elif released is not None:
            released[0] = event[1]
