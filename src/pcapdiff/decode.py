"""Stage 2, decode: ``Frame`` -> ``Segment``, streamed.

Input: frames from ``read``. Output: one ``Segment`` per TCP segment, in frame order.
The work is the core's (core/src/decode.rs), one path for every frame. Link types:
Ethernet (with 802.1Q / 802.1ad / QinQ tags, PPPoE sessions and MPLS), Linux cooked
SLL (113) and SLL2 (276), raw IP (101, 12, 14, 228, 229), BSD NULL (0) and LOOP (108),
NFLOG (239), IP over InfiniBand (242). IPv4 with options and fragments (TCP in
fragments is reassembled, bounded, and reported at the last fragment as Wireshark
does), IPv6 with extension headers and fragments. Payload length comes from the IP
header, never from the captured length, so snaplen-cut packets still count their bytes.

A frame that cannot be decoded never raises: it becomes an ``Anomaly`` in the
summary, with its frame number, and decoding goes on. Non-TCP packets are counted.
Checksums are never checked: packets captured on the sending host carry the
checksum the NIC has not filled in yet (DESIGN.md, "Checksum offload").
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple, TypeVar

from . import _core
from .errors import UnsupportedLinkType
from .model import (
    Anomaly,
    CaptureSummary,
    Frame,
    FrameBatch,
    IcmpError,
    Segment,
    SegmentRow,
    TcpOptions,
    format_address,
)

linktype_name = _core.linktype_name


def decode(frames: Iterable[Frame], summary: CaptureSummary) -> Iterator[Segment]:
    """Yield the TCP segments in ``frames``; count everything else in ``summary``."""
    decoder = _core.Decoder()
    for fr in frames:
        found = decoder.decode_frame(
            fr.frame, fr.ts_ns, fr.linktype, fr.data, summary.format == "pcapng"
        )
        for row in account(found, summary):
            yield Segment._make(row)


def decode_batches(
    batches: Iterable[FrameBatch], summary: CaptureSummary
) -> Iterator[list[SegmentRow]]:
    """Decode ``read_batches`` output; yield each batch's TCP segments as rows in frame
    order (their ``data`` is the batch's buffer, or the datagram put together from
    fragments)."""
    decoder = _core.Decoder()
    for batch in batches:
        found = decoder.decode_batch(*batch.core_columns(), summary.format == "pcapng")
        yield account(found, summary)


DECODED_AHEAD = 2  # batches decoded and waiting for the tracker, at most (each holds its chunk)
_END = None  # the reading's end, on the queue
T = TypeVar("T")


def decode_ahead(
    batches: Iterator[FrameBatch], summary: CaptureSummary
) -> Iterator[_core.DecodedBatch]:
    """``decode_batches``, on a thread of its own: the read stage and the decoding of
    the next batches run (on the other core) while the caller tracks this one. Their
    segments stay in the core, for ``Tracker.feed_decoded``. ``summary`` is written on
    that thread only; an error there is raised here, after the batches before it.
    Closing the iterator stops the thread once its batch in progress is done (so only
    for a source whose reads return: a file's)."""
    decoder = _core.Decoder()
    pcapng = summary.format == "pcapng"

    def decode(batch: FrameBatch) -> _core.DecodedBatch:
        decoded, found = decoder.decode_ahead(*batch.core_columns(), pcapng)
        account(found, summary)
        return decoded

    return on_a_thread(batches, decode, DECODED_AHEAD)


def on_a_thread(
    batches: Iterator[FrameBatch],
    work: Callable[[FrameBatch], T],
    ahead: int,
    end: Callable[[], T] | None = None,
) -> Iterator[T]:
    """``work`` of each batch, done on a thread of its own (which reads the batches
    too), at most ``ahead`` results ahead of the caller, then ``end()``'s once they are
    all read; an error there is raised here, after the results before it. Closing the
    iterator stops the thread once its batch in progress is done (so only for a source
    whose reads return: a file's)."""
    ready: queue.Queue[T | _Raised | None] = queue.Queue(ahead)
    stop = threading.Event()

    def work_all() -> None:
        try:
            for batch in batches:
                ready.put(work(batch))
                if stop.is_set():
                    return
            if end is not None and not stop.is_set():  # left midway: no end wanted
                ready.put(end())
            ready.put(_END)
        except BaseException as exc:  # raised in the caller's thread
            ready.put(_Raised(exc))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # the file closed on the thread that read it

    thread = threading.Thread(target=work_all, name="pcapdiff-decode", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
        # Room for the one put it may be waiting in, or make next: then it sees `stop`.
        with contextlib.suppress(queue.Empty):
            while True:
                ready.get_nowait()
        thread.join()


class _Raised(NamedTuple):
    """What stopped the thread's work, on the queue."""

    exc: BaseException


def account(found: _core.Decoded, summary: CaptureSummary) -> list[SegmentRow]:
    """Put what the core found besides segments into ``summary``; the segments."""
    rows, tcp, non_tcp, fragments, anomalies, icmp_errors, unsupported = found
    summary.tcp_packets += tcp
    summary.non_tcp_packets += non_tcp
    summary.ip_fragments += fragments
    for frame, code, detail in anomalies:
        summary.add_anomaly(Anomaly(frame, code, detail))
    for (frame, ts_ns, sender, kind, mtu), (src, sport, dst, dport, seq) in icmp_errors:
        summary.add_icmp_error(
            IcmpError(
                frame,
                ts_ns,
                format_address(sender),
                kind,
                mtu,
                format_address(src),
                sport,
                format_address(dst),
                dport,
                seq,
            )
        )
    if unsupported is not None:  # a pcap has one link type: nothing to decode
        raise UnsupportedLinkType(summary.path, unsupported, linktype_name(unsupported))
    return rows


def parse_tcp_options(raw: bytes) -> TcpOptions:
    """Parse raw TCP options (RFC 9293 3.1, RFC 7323, RFC 2018); never raises."""
    return TcpOptions._make(_core.parse_tcp_options(raw))
