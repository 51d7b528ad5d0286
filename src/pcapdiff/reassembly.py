"""One direction of a TCP connection as the bytes the receiver's application read:
in sequence order, retransmissions and overlaps resolved, out-of-order segments held
until the hole before them fills, holes that never fill said as gaps.

Where a later segment overlaps bytes already taken and its bytes differ, the first
bytes are kept (what a receiver that had read them delivered) and the difference is
reported: that is how injected data shows. Sequence numbers wrap at 2**32; offsets
here do not (a stream may be longer than 4 GiB). Memory is bounded: at most
``max_bytes`` of the stream are kept (the rest is counted, ``truncated``), and at most
``max_pending`` bytes wait out of order (beyond that the oldest hole is given up as
a gap, as a receiver's window would have forced).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import NamedTuple

M32 = 1 << 32
HALF = 1 << 31
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_PENDING = 8 * 1024 * 1024


class Span(NamedTuple):
    """A stretch of the stream: bytes seen (``gap`` False) or a hole (``gap`` True).
    Offsets count from the stream's first byte; frames are the first and the last
    segment that carried it (0 for a gap)."""

    start: int
    end: int
    gap: bool
    first_frame: int = 0
    last_frame: int = 0


class Conflict(NamedTuple):
    """A segment whose bytes differ from those already taken at the same offsets."""

    start: int
    end: int
    kept_frame: int  # the segment whose bytes were taken first
    frame: int  # the later segment that disagrees


@dataclass
class Stream:
    """Feed segments with ``add``; ``close`` when the connection has ended."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pending: int = DEFAULT_MAX_PENDING
    base: int | None = None  # the sequence number of the stream's first byte
    data: bytearray = field(default_factory=bytearray)  # offsets 0 .. len: kept bytes
    spans: list[Span] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    next: int = 0  # the offset of the next byte expected in order
    truncated: int = 0  # bytes taken in order but not kept (past max_bytes)
    retransmitted: int = 0  # bytes that arrived again, the same
    pending: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # offset: bytes, frame
    pending_bytes: int = 0
    gap_total: int = 0  # bytes of the stream in gaps
    # Kept segments (offset, frame), and gaps (start, end, gap bytes before): bisected.
    _taken: list[tuple[int, int]] = field(default_factory=list)
    _gaps: list[tuple[int, int, int]] = field(default_factory=list)
    _cuts: dict[int, int] = field(default_factory=dict)  # offset: end of bytes not captured

    def syn(self, seq: int) -> None:
        """The SYN's sequence number: the stream starts one after it."""
        if self.base is None:
            self.base = (seq + 1) % M32

    def add(self, seq: int, payload: bytes, frame: int, wire_len: int | None = None) -> None:
        """A segment's captured bytes; ``wire_len``, when more were sent than captured
        (a snap length), makes the rest a gap once the stream reaches it."""
        if not payload and not wire_len:
            return
        if self.base is None:  # no SYN seen: the stream starts at its first segment
            self.base = seq % M32
        start = self._offset(seq)
        if wire_len is not None and wire_len > len(payload):
            cut = start + len(payload)
            self._cuts[cut] = max(self._cuts.get(cut, 0), start + wire_len)
            if not payload and cut == self.next:
                self._skip_cut()
        if payload:
            self._place(start, bytes(payload), frame)
        while self.pending_bytes > self.max_pending:
            self._give_up_hole()

    def close(self) -> None:
        """No more segments: what waits beyond a hole is taken, the hole a gap."""
        while self.pending:
            self._give_up_hole()
        self._skip_cut()

    @property
    def length(self) -> int:
        """Bytes of the stream so far, gaps included."""
        return self.next

    def _offset(self, seq: int) -> int:
        """The stream offset of ``seq``: the one within 2**31 of the next expected."""
        assert self.base is not None
        expected = (self.base + self.next) % M32
        delta = (seq - expected) % M32
        if delta >= HALF:
            delta -= M32
        return max(self.next + delta, -1)  # before the stream's start: nothing to take

    def _place(self, start: int, payload: bytes, frame: int) -> None:
        end = start + len(payload)
        if start < 0:  # bytes before the first (a retransmitted SYN's data): cut
            payload, start = payload[-start:], 0
        if start < self.next:  # overlaps what was taken: compare, keep the first
            seen = min(end, self.next)
            self._compare(start, payload[: seen - start], frame)
            if end <= self.next:
                return
            payload, start = payload[seen - start :], seen
        if start > self.next:
            old = self.pending.get(start)
            if old is None:
                self.pending[start] = (payload, frame)
                self.pending_bytes += len(payload)
                return
            self._compare_pending(start, old, payload, frame)
            if len(payload) > len(old[0]):  # the first bytes kept, the new tail added
                self.pending[start] = (old[0] + payload[len(old[0]) :], old[1])
                self.pending_bytes += len(payload) - len(old[0])
            return
        self._take(payload, frame)
        while self.pending:
            at = min(self.pending)
            if at > self.next:
                break
            waiting, waiting_frame = self.pending.pop(at)
            self.pending_bytes -= len(waiting)
            self._place(at, waiting, waiting_frame)

    def _take(self, payload: bytes, frame: int) -> None:
        start, end = self.next, self.next + len(payload)
        room = self.max_bytes - len(self.data)
        if room > 0 and not self.truncated:
            self.data += payload[:room]
            self._taken.append((start, frame))
        self.truncated += max(0, len(payload) - max(room, 0))
        last = self.spans[-1] if self.spans else None
        if last is not None and not last.gap and last.end == start:
            self.spans[-1] = Span(last.start, end, False, last.first_frame, frame)
        else:
            self.spans.append(Span(start, end, False, frame, frame))
        self.next = end
        if self._cuts:
            self._skip_cut()

    def _skip_cut(self) -> None:
        """The stream reached bytes a segment carried but the capture cut: a gap."""
        while self.next in self._cuts:
            end = self._cuts.pop(self.next)
            if end > self.next:
                self._hole(end)

    def _hole(self, end: int) -> None:
        self.spans.append(Span(self.next, end, True))
        self._gaps.append((self.next, end, self.gap_total))
        self.gap_total += end - self.next
        self.next = end

    def _give_up_hole(self) -> None:
        at = min(self.pending)
        if at > self.next:
            self._hole(at)
        waiting, frame = self.pending.pop(at)
        self.pending_bytes -= len(waiting)
        self._place(at, waiting, frame)

    def _kept(self, start: int, end: int) -> bytes | None:
        """The kept bytes at stream offsets start..end, if all were kept (no gap)."""
        i = bisect_right(self._gaps, (start, M32 * M32, 0))
        before = 0
        if i:
            g_start, g_end, g_before = self._gaps[i - 1]
            if g_end > start:
                return None  # starts inside a gap
            before = g_before + g_end - g_start
        if i < len(self._gaps) and self._gaps[i][0] < end:
            return None  # runs into a gap
        index = start - before
        if index + (end - start) > len(self.data):
            return None  # past max_bytes
        return bytes(self.data[index : index + (end - start)])

    def _compare(self, start: int, payload: bytes, frame: int) -> None:
        kept = self._kept(start, start + len(payload))
        if kept is None:
            return  # past max_bytes or over a gap: nothing to compare with
        if kept == payload:
            self.retransmitted += len(payload)
            return
        first = next(i for i, (a, b) in enumerate(zip(kept, payload, strict=True)) if a != b)
        last = len(payload) - next(
            i for i, (a, b) in enumerate(zip(kept[::-1], payload[::-1], strict=True)) if a != b
        )
        at = start + first
        kept_frame = self._taken[max(bisect_right(self._taken, (at, M32 * M32)) - 1, 0)][1]
        self.conflicts.append(Conflict(at, start + last, kept_frame, frame))

    def _compare_pending(
        self, start: int, old: tuple[bytes, int], payload: bytes, frame: int
    ) -> None:
        shorter = min(len(old[0]), len(payload))
        a, b = old[0][:shorter], payload[:shorter]
        if a == b:
            self.retransmitted += shorter
            return
        first = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
        self.conflicts.append(Conflict(start + first, start + shorter, old[1], frame))

    def taken_frames(self) -> list[tuple[int, int]]:
        """(stream offset, frame) of each kept segment taken in order, by offset."""
        return self._taken

    def pieces(self) -> list[tuple[Span, bytes]]:
        """Each span with its kept bytes (empty for a gap, short past max_bytes)."""
        out: list[tuple[Span, bytes]] = []
        index = 0
        for span in self.spans:
            if span.gap:
                out.append((span, b""))
                continue
            size = span.end - span.start
            out.append((span, bytes(self.data[index : index + size])))
            index += size
        return out
