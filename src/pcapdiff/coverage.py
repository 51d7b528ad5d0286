"""Capture coverage: when each capture ran, and how long a packet takes between them.

``recorded_window`` says when one capture ran by its own file and metadata (the
sidecar's start and stop, pcapng Interface Statistics, else its first and last
packet), on its own clock. The rest of the stage, settling both windows on the edge's
clock and the one-way delay bounds measured on paired handshakes (DESIGN.md, "Capture
coverage"), is the core's (core/src/compare/coverage.rs); it hands back a ``Coverage``
of these types. A capture with no recorded end is taken to have run as long as the
other, unless the pair shows it had stopped; a verdict resting on that assumption
says so (``Window.assumed_end``). The Python settling it replaced is the tests'
reference (tests/coverage_reference.py).
"""

from __future__ import annotations

from typing import NamedTuple

from .meta import CaptureMeta
from .model import CaptureSummary

NS = 1_000_000_000


class Window(NamedTuple):
    """The time one capture covered, on the edge's clock, and how that is known."""

    start_ns: int | None  # None: nothing is known (an empty capture without metadata)
    end_ns: int | None
    start_source: str  # "sidecar", "pcapng statistics", "first packet", "given"
    end_source: str  # the same, or "last packet (it had stopped: ...)", "assumed"
    last_packet_ns: int | None
    assumed_end: bool  # end_ns is only assumed: no recorded end, no sign it stopped
    # Spans inside the window that no file holds: a missing file of a rotated ring.
    holes: tuple[tuple[int, int], ...] = ()

    def covers(self, start_ns: int, end_ns: int) -> bool:
        """Was the capture running through all of [start_ns, end_ns]?"""
        return (
            self.start_ns is not None
            and self.end_ns is not None
            and self.start_ns <= start_ns
            and end_ns <= self.end_ns
            and self.hole_in(start_ns, end_ns) is None
        )

    def hole_in(self, start_ns: int, end_ns: int) -> tuple[int, int] | None:
        """The first hole that overlaps [start_ns, end_ns], if any."""
        for hole in self.holes:
            if hole[0] < end_ns and start_ns < hole[1]:
                return hole
        return None

    def assumed_for(self, end_ns: int) -> bool:
        """Does covering up to ``end_ns`` rest on the assumed end?"""
        return self.assumed_end and (self.last_packet_ns is None or end_ns > self.last_packet_ns)


class Delays(NamedTuple):
    """Upper bounds on the one-way delay each way, from paired handshakes."""

    forward_ns: int  # edge -> origin
    reverse_ns: int  # origin -> edge
    measured_pairs: int  # 0: the bounds are the unmeasured default (1 s each way)


class Coverage(NamedTuple):
    """What judge needs to know about the two captures' time."""

    edge: Window
    origin: Window | None  # None: judging the edge capture alone
    delays: Delays
    round_trip_ns: int  # bound on SYN -> SYN-ACK at the edge, for the edge alone
    offset_ns: int  # origin clock minus edge clock


class Recorded(NamedTuple):
    """What a capture's own file and metadata say about when it ran (its clock)."""

    start_ns: int | None
    end_ns: int | None  # None: no recorded end
    start_source: str
    end_source: str
    last_packet_ns: int | None
    holes: tuple[tuple[int, int], ...] = ()  # see Window.holes

    def shifted(self, delta_ns: int) -> Recorded:
        def move(t: int | None) -> int | None:
            return None if t is None else t + delta_ns

        return self._replace(
            start_ns=move(self.start_ns),
            end_ns=move(self.end_ns),
            last_packet_ns=move(self.last_packet_ns),
            holes=tuple((a + delta_ns, b + delta_ns) for a, b in self.holes),
        )


def recorded_window(
    summary: CaptureSummary | None, meta: CaptureMeta | None, given: tuple[float, float] | None
) -> Recorded:
    """When one capture ran, on its own clock: ``given`` (--edge-window and the like)
    first, then the sidecar and pcapng statistics, else its first packet."""
    first = summary.first_ts_ns if summary is not None else None
    last = summary.last_ts_ns if summary is not None else None
    holes = tuple(summary.unseen) if summary is not None else ()
    if given is not None:
        return Recorded(round(given[0] * NS), round(given[1] * NS), "given", "given", last, holes)
    start, start_source = first, "first packet"
    end, end_source = None, ""
    stats = summary.interface_stats if summary is not None else []
    isb_starts = [s.start_ns for s in stats if s.start_ns is not None]
    isb_ends = [s.end_ns for s in stats if s.end_ns is not None]
    if isb_starts and (start is None or min(isb_starts) < start):
        start, start_source = min(isb_starts), "pcapng statistics"
    if isb_ends:
        end, end_source = max(isb_ends), "pcapng statistics"
    if meta is not None:
        meta_start = round(meta.start * NS)
        if start is None or meta_start < start:
            start, start_source = meta_start, "sidecar"
        if meta.stop is not None:
            end, end_source = round(meta.stop * NS), "sidecar"
    if end is not None and last is not None and last > end:
        end = last  # clocks stepped, or the statistics were written early: keep the packets
    return Recorded(start, end, start_source, end_source, last, holes)


def duration(ns: int) -> str:
    """A span for people: 850 us, 12 ms, 0.8 s, 3.5 min, 2.0 h."""
    magnitude = abs(ns)
    if magnitude < 1_000_000:
        return f"{ns / 1000:.0f} us"
    if magnitude < 1 * NS:
        return f"{ns / 1_000_000:.0f} ms"
    if magnitude < 120 * NS:
        return f"{ns / NS:.1f} s"
    if magnitude < 7200 * NS:
        return f"{ns / NS / 60:.1f} min"
    return f"{ns / NS / 3600:.1f} h"
