"""The Python tracker the core's (core/src/track.rs) replaced, kept as the reference
the tests hold it to (tests/test_track_core.py).

Stage 3, track: ``Segment`` -> ``Connection``, streamed.

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
"""

from __future__ import annotations

import re
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from pcapdiff.framing import UNBOUNDED, HttpFramer, TlsFramer, tls_exchange
from pcapdiff.model import (
    ACK,
    FIN,
    RST,
    SYN,
    Connection,
    Direction,
    Endpoint,
    Exchange,
    PacketRef,
    Request,
    Reset,
    Response,
    Segment,
    SegmentRow,
    TcpOptions,
    TlsAlert,
    format_address,
)
from pcapdiff.payload import MAX_HEAD_BYTES, parse_request, parse_response, tls_alert

T = TypeVar("T")

# Zeek's defaults: tcp_inactivity_timeout 5 min, tcp_close_delay / tcp_reset_delay 5 s.
IDLE_TIMEOUT_NS = 300 * 1_000_000_000
CLOSE_DELAY_NS = 5 * 1_000_000_000
# Release closed connections every 8192 packets or second of capture time, whichever
# comes first; look at every live connection for idleness every 10 s of capture time.
SWEEP_EVERY = 1 << 13
SWEEP_INTERVAL_NS = 1_000_000_000
IDLE_SWEEP_INTERVAL_NS = 10 * SWEEP_INTERVAL_NS

# Bounds whatever the input (issue 9): a flood of SYNs, RSTs or FINs on one connection
# keeps the first MAX_KEPT - 1 and the latest, and counts the rest; live half-open
# connections beyond MAX_HALF_OPEN are finalized oldest first; the history string
# stops growing at MAX_HISTORY letters.
MAX_KEPT = 16
MAX_HALF_OPEN = 50_000
MAX_HISTORY = 200
# The sweep clock ignores a jump forward of more than this (one packet stamped in 2106)
# until JUMP_CONFIRM packets beyond it show the capture's time really moved on.
MAX_CLOCK_STEP_NS = 3600 * 1_000_000_000
JUMP_CONFIRM = 256
_NEVER = -(1 << 62)

# Zeek's TCP endpoint states (analyzer/protocol/tcp/TCP_Endpoint.h).
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
_M32 = 0xFFFFFFFF
_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*")

# History bits, one per letter, kept per endpoint.
_H_SYN, _H_SYNACK, _H_ACK, _H_DATA, _H_FIN, _H_RST, _H_MULTI, _H_FINRST = (
    1,
    2,
    4,
    8,
    16,
    32,
    64,
    128,
)


class _Half:
    """What one endpoint of a live connection has sent so far."""

    __slots__ = (
        "base",
        "fin_frames",
        "fin_ts",
        "framer",
        "gap_count",
        "granted",
        "head",
        "head_buf",
        "head_bytes",
        "head_done",
        "head_first",
        "head_tries",
        "head_try_at",
        "hist_bits",
        "holes",
        "last_ack",
        "last_fin",
        "last_rst",
        "last_syn",
        "last_ts",
        "next_rel",
        "packets",
        "payload_bytes",
        "retx_bytes",
        "retx_count",
        "skip",
        "state",
        "zero_windows",
    )

    def __init__(self) -> None:
        self.state = INACTIVE
        self.base: int | None = None  # ISN, or the first sequence number seen - 1
        self.next_rel = 0  # highest relative sequence number sent + 1
        self.holes: list[tuple[int, int]] = []  # [start, end) not seen yet
        self.packets = 0
        self.payload_bytes = 0
        self.retx_bytes = 0
        self.fin_frames: list[int] = []
        self.fin_ts: int | None = None
        self.last_ts: int | None = None  # this endpoint's last packet
        self.hist_bits = 0
        self.last_syn = self.last_fin = self.last_rst = -1
        self.last_ack = -1  # the last ACK number the fast path checked for gaps
        self.retx_count = self.gap_count = self.zero_windows = 0  # for T, G and W
        # The start of the stream, by relative sequence number, until it is parsed:
        # relative sequence number -> (frame, ts_ns, payload).
        self.head: dict[int, tuple[int, int, bytes]] | None = None
        self.head_bytes = 0
        self.head_buf = bytearray()  # the stream's bytes contiguous from its first
        # (frame, ts) of the segment that holds the first byte (it may start before it)
        self.head_first: tuple[int, int] = (0, 0)
        self.head_tries = 0  # parses tried so far
        self.head_try_at = 0  # TLS: the buffer length at which the next record is whole
        self.head_done = False
        # Message framing once the stream's start is parsed: in-order bytes up to
        # ``skip`` may pass unseen (a body); ``granted`` is what the framer last allowed.
        self.framer: HttpFramer | TlsFramer | None = None
        self.skip = self.granted = UNBOUNDED


class _Live:
    """A connection being tracked."""

    __slots__ = (
        "alerts",
        "client",
        "client_half",
        "client_key",
        "first_frame",
        "first_ts",
        "gaps",
        "handshake_frame",
        "history",
        "id",
        "isn",
        "last_frame",
        "last_ts",
        "methods",
        "omitted",
        "request",
        "resets",
        "response",
        "rst_exchange",
        "server",
        "server_half",
        "server_isn",
        "syn_opts",
        "synack_opts",
        "synacks",
        "syns",
        "tls",
    )

    def __init__(self, conn_id: int, seg: Segment, client_is_sender: bool) -> None:
        self.id = conn_id
        if client_is_sender:
            self.client, self.server = (seg.src, seg.sport), (seg.dst, seg.dport)
        else:
            self.client, self.server = (seg.dst, seg.dport), (seg.src, seg.sport)
        self.client_key = (*self.client, *self.server)
        self.client_half = _Half()
        self.server_half = _Half()
        self.first_frame = self.last_frame = seg.frame
        self.first_ts = self.last_ts = seg.ts_ns
        self.isn: int | None = None
        self.server_isn: int | None = None
        self.history: list[str] = [] if client_is_sender else ["^"]
        self.syns: list[PacketRef] = []
        self.synacks: list[PacketRef] = []
        self.syn_opts = b""
        self.synack_opts = b""
        self.handshake_frame: int | None = None
        self.resets: list[Reset] = []
        self.request: Request | None = None
        self.response: Response | None = None
        self.alerts: list[TlsAlert] = []
        # requests' methods, for their responses' framing; made with the first framer
        self.methods: deque[str] | None = None
        self.rst_exchange: Exchange | None = None  # the exchange when the server first reset
        self.omitted: dict[str, int] | None = None  # list entries left out, by list
        self.gaps = 0
        self.tls = False  # the client spoke TLS: look for cleartext alerts in data

    def closed(self) -> bool:
        c, s = self.client_half.state, self.server_half.state
        return c == RESET or s == RESET or (c == CLOSED and s == CLOSED)


_FlowKey = tuple[bytes, int, bytes, int]
_FlowEntry = tuple["_Live", bool, _Half, _Half]  # connection, from client, sender, receiver


# (connection id, from the client, the segment): see ``track``'s ``tap``.
Tap = Callable[[int, bool, SegmentRow], None]


def track(
    segments: Iterable[SegmentRow],
    *,
    idle_timeout_ns: int = IDLE_TIMEOUT_NS,
    close_delay_ns: int = CLOSE_DELAY_NS,
    released: list[int] | None = None,
    tap: Tap | None = None,
) -> Iterator[Connection]:
    """Follow every TCP connection in ``segments``; yield each when it ends.

    ``tap``, when given, sees every segment that carries payload, a SYN, a FIN or a
    RST, with the id of the connection it belongs to and its direction (``flows``
    reassembles the streams so, under the same ids as ``conns`` and ``compare``
    print; live ``flows`` ends a body framed by the close at the FIN).

    ``released[0]``, when given, is kept at the capture time up to which every record
    that ends by then has been yielded (the last sweep's clock): a reader of the stream
    knows no record released by then is still to come."""
    flows: dict[_FlowKey, _FlowEntry] = {}
    live: dict[int, _Live] = {}
    closing: dict[int, _Live] = {}  # closed (FIN both ways or RST), released after a delay
    # The ids (not the connections: finished ones must be freed) of connections begun
    # with a bare SYN, oldest first; the answered and the ended are dropped lazily.
    half_open: dict[int, None] = {}
    flows_get = flows.get
    next_id = 1
    countdown = SWEEP_EVERY
    now = _NEVER  # the sweep clock: the capture's time, as far as it can be trusted
    jumps = 0  # packets seen beyond a jump the clock has not taken yet
    next_sweep = next_idle_sweep = _NEVER
    as_segment = Segment._make
    # Locals: the fast path below runs for nearly every packet.
    established, h_data, h_ack, m32, ack_flag = ESTABLISHED, _H_DATA, _H_ACK, _M32, ACK
    for row in segments:
        frame, ts, src, sport, dst, dport, flags, seq, ack, win, pl, _t, _i, data, _ta, pa, _e = row
        countdown -= 1
        if ts >= next_sweep or not countdown:  # time, or packets, for a sweep
            countdown = SWEEP_EVERY
            if ts > now:
                if now == _NEVER or ts - now <= MAX_CLOCK_STEP_NS or jumps >= JUMP_CONFIRM:
                    now, jumps = ts, 0
                else:
                    jumps += 1  # a lone outlier must not make every connection look idle
            elif ts >= now - MAX_CLOCK_STEP_NS:
                jumps = 0
            idle = 0
            if now >= next_idle_sweep:
                idle, next_idle_sweep = idle_timeout_ns, now + IDLE_SWEEP_INTERVAL_NS
            next_sweep = now + SWEEP_INTERVAL_NS
            yield from _sweep(live, closing, flows, now, idle, close_delay_ns)
            if released is not None:
                released[0] = now
        entry = flows_get((src, sport, dst, dport))
        if entry is not None and not flags & 0x07 and entry[2].state == established:
            # Fast path: an established connection, no SYN/FIN/RST. Most packets.
            conn, from_client, half, peer = entry
            conn.last_frame = frame
            conn.last_ts = half.last_ts = ts
            half.packets += 1
            if pl:
                if not half.hist_bits & h_data:
                    half.hist_bits |= h_data
                    conn.history.append("D" if from_client else "d")
                rel = (seq - half.base) & m32  # type: ignore[operator]
                if rel == half.next_rel and half.head_done and pl <= half.skip and not conn.tls:
                    half.payload_bytes += pl  # in order, the stream's start parsed, a body
                    half.next_rel = rel + pl
                    half.skip -= pl
                else:
                    _data(conn, half, from_client, as_segment(row), seq, pl, frame, data, pa)
            elif not half.hist_bits & h_ack and flags & ack_flag:
                half.hist_bits |= h_ack
                conn.history.append("A" if from_client else "a")
            if tap is not None and pl:
                tap(conn.id, from_client, row)
            if not win:
                _log_letter(conn, half, from_client, "W")
            # The same ACK number again cannot reveal a new gap: the peer's next_rel
            # only grows, and a hole opened since lies beyond what this ACK covers.
            if flags & ack_flag and ack != half.last_ack and peer.base is not None:
                half.last_ack = ack
                ack_rel = (ack - peer.base) & m32
                if ack_rel > peer.next_rel or peer.holes:
                    _check_ack(conn, peer, not from_client, ack_rel)
            continue
        seg = row if type(row) is Segment else as_segment(row)
        if entry is not None and flags & 0x17 == SYN:
            conn, from_client = entry[0], entry[1]
            if not from_client or conn.isn is None or conn.isn != seq:
                # A new attempt on a used 4-tuple: a new connection (port reuse).
                del live[conn.id]
                closing.pop(conn.id, None)
                _forget(flows, conn)
                yield _finish(conn, "port_reuse")
                entry = None
        if entry is None:
            conn = _Live(next_id, seg, flags & 0x12 != SYN | ACK)  # a SYN-ACK first: flip
            next_id += 1
            live[conn.id] = conn
            if flags & 0x17 == SYN:
                half_open[conn.id] = None
                if len(half_open) > MAX_HALF_OPEN:
                    yield from _shed_half_open(half_open, live, closing, flows)
            key = conn.client_key
            c, s = conn.client_half, conn.server_half
            flows[key] = (conn, True, c, s)
            flows[(key[2], key[3], key[0], key[1])] = (conn, False, s, c)
            entry = flows_get((src, sport, dst, dport))
            assert entry is not None
        if tap is not None and (seg.payload_len or seg.flags & (SYN | FIN | RST)):
            tap(entry[0].id, entry[1], seg)
        _slow_packet(entry, seg)
        if flags & (FIN | RST) and entry[0].closed():
            closing[entry[0].id] = entry[0]
    for conn in sorted(live.values(), key=lambda c: c.id):
        yield _finish(
            conn,
            "fin"
            if conn.closed() and not conn.resets
            else "rst"
            if conn.resets
            else "end_of_capture",
        )
    if released is not None:
        released[0] = 1 << 62  # everything


def _slow_packet(entry: _FlowEntry, seg: Segment) -> None:
    """Any packet the fast path does not take: handshake, close, reset, midstream."""
    conn, from_client, half, peer = entry
    flags, pl = seg.flags, seg.payload_len
    conn.last_frame, conn.last_ts = seg.frame, seg.ts_ns
    half.last_ts = seg.ts_ns
    half.packets += 1
    if flags & 0x07 == 0:
        if pl:
            if not half.hist_bits & _H_DATA:
                half.hist_bits |= _H_DATA
                conn.history.append("D" if from_client else "d")
            _data(conn, half, from_client, seg, seg.seq, pl, seg.frame, seg.data, seg.payload_at)
        elif flags & ACK and not half.hist_bits & _H_ACK:
            half.hist_bits |= _H_ACK
            conn.history.append("A" if from_client else "a")
        if half.state == INACTIVE:
            half.state = PARTIAL
        elif (
            flags & ACK
            and half.state in (SYN_SENT, SYN_ACK_SENT)
            and peer.state in (SYN_SENT, SYN_ACK_SENT, ESTABLISHED)
        ):
            half.state = peer.state = ESTABLISHED
            if conn.handshake_frame is None and from_client:
                conn.handshake_frame = seg.frame
        if not seg.win:
            _log_letter(conn, half, from_client, "W")
    else:
        _control(conn, half, peer, from_client, seg)
        if pl:  # data on a SYN (TCP Fast Open) starts after the SYN's own number
            start = (seg.seq + 1) & _M32 if flags & SYN else seg.seq
            _data(conn, half, from_client, seg, start, pl, seg.frame, seg.data, seg.payload_at)
    if flags & ACK and peer.base is not None:
        _check_ack(conn, peer, not from_client, (seg.ack - peer.base) & _M32)


def _check_ack(conn: _Live, peer: _Half, peer_is_client: bool, ack_rel: int) -> None:
    """The peer's bytes acknowledged but never captured are a content gap."""
    if ack_rel > peer.next_rel and ack_rel - peer.next_rel < 0x40000000:
        if peer.next_rel > 0 or peer.packets:
            _gap(conn, peer, peer_is_client)
        peer.next_rel = ack_rel
    elif peer.holes:
        _ack_holes(conn, peer, peer_is_client, ack_rel)


def _sweep(
    live: dict[int, _Live],
    closing: dict[int, _Live],
    flows: dict[_FlowKey, _FlowEntry],
    now: int,
    idle_timeout_ns: int,
    close_delay_ns: int,
) -> Iterator[Connection]:
    """Release closed connections after the close delay; with ``idle_timeout_ns``
    (0: skip this part), also those idle that long."""
    done = [c for c in closing.values() if now - c.last_ts > close_delay_ns]
    if idle_timeout_ns:
        done += [
            c for c in live.values() if now - c.last_ts > idle_timeout_ns and c.id not in closing
        ]
    for conn in done:
        del live[conn.id]
        closing.pop(conn.id, None)
        _forget(flows, conn)
        yield _finish(conn, ("rst" if conn.resets else "fin") if conn.closed() else "idle_timeout")


def _forget(flows: dict[_FlowKey, _FlowEntry], conn: _Live) -> None:
    key = conn.client_key
    flows.pop(key, None)
    flows.pop((key[2], key[3], key[0], key[1]), None)


def _control(conn: _Live, half: _Half, peer: _Half, from_client: bool, seg: Segment) -> None:
    """A packet with SYN, FIN or RST: history letters, endpoint state, evidence."""
    flags, seq = seg.flags, seg.seq
    ref = PacketRef(seg.frame, seg.ts_ns, seg.ttl, seg.ip_id, seq)
    bits = (flags & SYN and 1) + (flags & FIN and 1) + (flags & RST and 1)
    letter_case = str.upper if from_client else str.lower
    if bits > 1:
        if flags & FIN and flags & RST:
            _once(conn, half, _H_FINRST, letter_case("I"))
        else:
            _once(conn, half, _H_MULTI, letter_case("Q"))
    if flags & SYN:
        if bits == 1:
            code = "H" if flags & ACK else "S"
            if not _once(conn, half, _H_SYNACK if flags & ACK else _H_SYN, letter_case(code)):
                pass
            elif seq != half.last_syn and len(conn.history) < MAX_HISTORY:  # bounded: floods
                conn.history.append(letter_case(code))
            half.last_syn = seq
        if half.base is None or half.state in (INACTIVE, PARTIAL):
            half.base = seq
            half.next_rel = max(half.next_rel, 1)
        if flags & ACK:
            _keep(conn, conn.synacks, ref, "synacks")
            if conn.server_isn is None:
                conn.server_isn = seq
                conn.synack_opts = seg.options
            if half.state in (INACTIVE, PARTIAL, SYN_SENT):
                half.state = SYN_ACK_SENT
        else:
            _keep(conn, conn.syns, ref, "syns")
            if conn.isn is None:
                conn.isn = seq
                conn.syn_opts = seg.options
            if half.state in (INACTIVE, PARTIAL):
                half.state = SYN_SENT
    if flags & FIN:
        if half.base is None:
            half.base = (seq - 1) & _M32
        rel_end = ((seq - half.base) & _M32) + seg.payload_len
        if bits == 1:
            if not _once(conn, half, _H_FIN, letter_case("F")) or rel_end == half.last_fin:
                pass
            else:
                if len(conn.history) < MAX_HISTORY:  # a flood of new sequence numbers
                    conn.history.append(letter_case("F"))
            half.last_fin = rel_end
        _keep(conn, half.fin_frames, seg.frame, "client_fins" if from_client else "server_fins")
        if half.fin_ts is None:
            half.fin_ts = seg.ts_ns
        if half.state != RESET:
            half.state = CLOSED
        if rel_end + 1 > half.next_rel:
            half.next_rel = rel_end + 1
    if flags & RST:
        if bits == 1:
            if not _once(conn, half, _H_RST, letter_case("R")) or seq == half.last_rst:
                pass
            else:
                if len(conn.history) < MAX_HISTORY:  # a flood of new sequence numbers
                    conn.history.append(letter_case("R"))
            half.last_rst = seq
        phase = (
            "handshake"
            if conn.handshake_frame is None
            and peer.state != ESTABLISHED
            and half.state != ESTABLISHED
            else "after_response"
            if conn.server_half.payload_bytes
            else "after_request"
            if conn.client_half.payload_bytes
            else "established"
        )
        if not from_client and conn.rst_exchange is None:
            conn.rst_exchange = _exchange(conn)
        reset = Reset(
            seg.frame,
            seg.ts_ns,
            "client" if from_client else "server",
            phase,
            seg.ttl,
            seg.ip_id,
            seq,
        )
        _keep(conn, conn.resets, reset, "resets")
        half.state = RESET


def _keep(conn: _Live, kept: list[T], item: T, name: str) -> None:
    """Append, up to MAX_KEPT entries: then the last entry is always the latest, and
    what it replaced is counted as left out."""
    if len(kept) < MAX_KEPT:
        kept.append(item)
        return
    kept[-1] = item
    if conn.omitted is None:
        conn.omitted = {}
    conn.omitted[name] = conn.omitted.get(name, 0) + 1


def _shed_half_open(
    half_open: dict[int, None],
    live: dict[int, _Live],
    closing: dict[int, _Live],
    flows: dict[_FlowKey, _FlowEntry],
) -> Iterator[Connection]:
    """Too many connections that began with a bare SYN: finalize the oldest that are
    still only that (a SYN flood must not hold the machine's memory)."""
    while len(half_open) > MAX_HALF_OPEN:
        conn_id = next(iter(half_open))
        del half_open[conn_id]
        conn = live.get(conn_id)
        if conn is None or conn.synacks or conn.server_half.packets:
            continue  # ended, or answered since: not half-open
        del live[conn_id]
        closing.pop(conn_id, None)
        _forget(flows, conn)
        yield _finish(conn, "half_open_limit")


def _once(conn: _Live, half: _Half, bit: int, letter: str) -> bool:
    """Zeek's CheckHistory: add the letter the first time; True if it was seen before."""
    if half.hist_bits & bit:
        return True
    half.hist_bits |= bit
    conn.history.append(letter)
    return False


_LOG_COUNTERS = {"T": "retx_count", "G": "gap_count", "W": "zero_windows"}


def _log_letter(conn: _Live, half: _Half, from_client: bool, letter: str) -> None:
    """Zeek's logarithmic letters: recorded at the 1st, 10th, 100th, ... occurrence."""
    counter = _LOG_COUNTERS[letter]
    n = getattr(half, counter) + 1
    setattr(half, counter, n)
    if n == 1 or (n % 10 == 0 and str(n).rstrip("0") == "1"):
        conn.history.append(letter if from_client else letter.lower())


def _gap(conn: _Live, half: _Half, from_client: bool) -> None:
    conn.gaps += 1
    _log_letter(conn, half, from_client, "G")


def _ack_holes(conn: _Live, half: _Half, from_client: bool, ack_rel: int) -> None:
    still = []
    for start, end in half.holes:
        if ack_rel >= end:
            _gap(conn, half, from_client)
        else:
            still.append((start, end))
    half.holes = still


def _data(
    conn: _Live,
    half: _Half,
    from_client: bool,
    seg: Segment,
    seq: int,
    pl: int,
    frame: int,
    data: bytes | bytearray,
    pa: int,
) -> None:
    """Payload: bytes, retransmissions, holes, the stream's first message, TLS alerts,
    message framing."""
    half.payload_bytes += pl
    if half.base is None:  # midstream: the first byte we see is relative 1
        half.base = (seq - 1) & _M32
        half.next_rel = 1
    rel = (seq - half.base) & _M32
    rel_end = rel + pl
    if half.framer is not None and half.head_done and rel_end > half.next_rel:
        _frame(half, seg, rel, half.next_rel)
    if rel_end <= half.next_rel:
        if half.holes and _fill(half, rel, rel_end):
            pass
        else:
            half.retx_bytes += pl
            _log_letter(conn, half, from_client, "T")
    else:
        if rel > half.next_rel:
            if len(half.holes) < 16:
                half.holes.append((half.next_rel, rel))
        elif rel < half.next_rel:
            half.retx_bytes += half.next_rel - rel
        half.next_rel = rel_end
    if not half.head_done and rel < MAX_HEAD_BYTES:
        _collect_head(conn, half, from_client, rel, frame, seg.ts_ns, seg.payload)
    if conn.tls and data[pa : pa + 1] == b"\x15":
        alert = tls_alert(seg.payload[:7])  # data may hold the next frames too
        if alert:
            sender = "client" if from_client else "server"
            _keep(conn, conn.alerts, TlsAlert(frame, seg.ts_ns, sender, alert), "tls_alerts")


def _frame(half: _Half, seg: Segment, rel: int, next_rel: int) -> None:
    """New in-order bytes for the framer; a hole (or bytes the snaplen cut) loses it."""
    framer = half.framer
    assert framer is not None
    payload = seg.payload
    if rel > next_rel or len(payload) < seg.payload_len:
        framer.lose()
        half.skip = half.granted = UNBOUNDED
        return
    _sync(half)
    new = payload[next_rel - rel :]
    if isinstance(framer, HttpFramer):
        allowed = framer.feed(new)
    else:
        allowed = framer.feed(new, seg.frame, seg.ts_ns)
    half.skip = half.granted = allowed


def _sync(half: _Half) -> None:
    """Tell the framer what the fast path counted off since it last allowed it."""
    if half.framer is not None and half.granted != half.skip:
        half.framer.skipped(half.granted - half.skip)
        half.granted = half.skip


def _start_framer(
    conn: _Live,
    half: _Half,
    from_client: bool,
    blob: bytes,
    start: int,
    pos: int,
    frame: int,
    ts: int,
) -> None:
    """The stream's start is parsed: frame its messages from the first byte on."""
    kind = conn.request.kind if conn.request is not None else ""
    if not from_client and kind not in ("http", "tls"):
        kind = "tls" if blob[:2] in (b"\x16\x03", b"\x15\x03") else ""
    framer: HttpFramer | TlsFramer
    if kind == "http":
        if conn.methods is None:
            conn.methods = deque()
        http = HttpFramer(from_client, conn.methods)
        framer, allowed = http, http.feed(blob)
    elif kind == "tls":
        records = TlsFramer()
        framer, allowed = records, records.feed(blob, frame, ts)
    else:
        return
    half.framer = framer
    half.skip = half.granted = allowed
    if start != 1 or pos != half.next_rel:
        framer.lose()  # the first bytes, or some after them, were never captured
        half.skip = half.granted = UNBOUNDED


def _exchange(conn: _Live) -> Exchange | None:
    """The connection's messages as its framers see them now."""
    c, s = conn.client_half, conn.server_half
    _sync(c)
    _sync(s)
    client, server = c.framer, s.framer
    if isinstance(client, TlsFramer):
        tls13 = conn.response is not None and conn.response.tls_version == "TLS 1.3"
        return tls_exchange(client, server if isinstance(server, TlsFramer) else TlsFramer(), tls13)
    if not isinstance(client, HttpFramer):
        return None
    requests = client.messages + (1 if client.message_bytes else 0)
    # The answer's problems are the server side's; of the client's, only a hole counts.
    responses, in_progress, expected = 0, 0, None
    problem = client.problem if client.problem == "lost" else ""
    if isinstance(server, HttpFramer):
        responses, in_progress, expected, server_problem = server.exchange_part()
        problem = server_problem or problem
    elif s.payload_bytes and conn.response is not None and conn.response.kind != "http":
        problem = "invalid: the answer is not an HTTP/1.x status line"
    response = conn.response
    return Exchange(
        requests,
        responses,
        in_progress,
        expected,
        problem,
        response.frame if response is not None else None,
        response.ts_ns if response is not None else None,
    )


def _fill(half: _Half, rel: int, rel_end: int) -> bool:
    """Out-of-order data into a hole; True if it filled any part of one."""
    filled = False
    out: list[tuple[int, int]] = []
    for start, end in half.holes:
        if rel_end <= start or rel >= end:
            out.append((start, end))
            continue
        filled = True
        if rel > start:
            out.append((start, rel))
        if rel_end < end:
            out.append((rel_end, end))
    half.holes = out
    return filled


def _collect_head(
    conn: _Live, half: _Half, from_client: bool, rel: int, frame: int, ts: int, payload: bytes
) -> None:
    """Keep the stream's start until its first message can be read: the segments by
    sequence number, and the bytes contiguous from the first as one growing buffer,
    parsed again only when new bytes could complete the message (a line end, a whole
    TLS record, the size limit). One byte a segment costs no more than one segment."""
    head = half.head
    if head is None:
        head = half.head = {}
    if rel in head or not payload:
        return
    if half.head_bytes >= 2 * MAX_HEAD_BYTES:  # overlapping junk: read what there is
        _parse_head(conn, half, from_client, final=True)
        return
    head[rel] = (frame, ts, payload)
    half.head_bytes += len(payload)
    grown = _grow_head(half, rel, payload)
    if half.head_bytes >= MAX_HEAD_BYTES and len(half.head_buf) >= MAX_HEAD_BYTES:
        _parse_head(conn, half, from_client, final=True)
    elif grown is not None and _worth_parsing(half, grown):
        _parse_head(conn, half, from_client, final=False)


def _grow_head(half: _Half, rel: int, payload: bytes) -> bytes | None:
    """Extend the contiguous buffer with this segment (and the stored ones it joins up
    with); the new bytes, or None when it lies beyond a hole."""
    buf, end = half.head_buf, 1 + len(half.head_buf)
    if not rel <= end < rel + len(payload):
        return None
    # Whole segments, so that framing can go on from the buffer's end: at most the
    # limit plus one segment.
    before = len(buf)
    head = half.head
    assert head is not None
    if not before:
        half.head_first = head[rel][0], head[rel][1]
    buf += payload[end - rel :]
    while len(buf) < MAX_HEAD_BYTES and (stored := head.get(1 + len(buf))) is not None:
        buf += stored[2]
    return bytes(buf[max(0, before - 3) :])


def _worth_parsing(half: _Half, new: bytes) -> bool:
    """Could the new bytes complete the first message? The first look always; then, for
    TLS, once the record they belong to is whole; for anything else, at a line end."""
    buf = half.head_buf
    if not half.head_tries:
        return True
    if len(buf) > 1 and buf[0] in (0x15, 0x16) and buf[1] == 3:
        return len(buf) >= half.head_try_at
    return b"\n" in new


def _parse_head(conn: _Live, half: _Half, from_client: bool, *, final: bool) -> None:
    """Try to read the stream's first message from its start."""
    head = half.head
    if not head:
        return
    half.head_tries += 1
    if half.head_buf:  # the start is here: the contiguous buffer holds it
        blob = bytes(half.head_buf)
        start, pos = 1, 1 + len(blob)
        first_frame, first_ts = half.head_first
    elif not final:
        return  # the first segment is missing (so far)
    else:  # never captured: read from the first segment there is
        start = min(head)
        joined = bytearray()
        first_frame, first_ts = head[start][0], head[start][1]
        pos = start
        for rel in sorted(head):
            if rel > pos:
                break
            frame_payload = head[rel][2]
            if rel + len(frame_payload) > pos:
                joined += frame_payload[pos - rel :]
                pos = rel + len(frame_payload)
        blob = bytes(joined)
    if from_client:
        conn.request = parse_request(blob, first_frame, final, first_ts)
        done = conn.request is not None
        if blob[:1] == b"\x16":
            conn.tls = True
    else:
        conn.response = parse_response(blob, first_frame, final, first_ts)
        done = conn.response is not None
    if done or final:
        half.head = None
        half.head_buf = bytearray()
        half.head_done = True
        _start_framer(conn, half, from_client, blob, start, pos, first_frame, first_ts)
    else:
        half.head_try_at = _tls_record_end(half.head_buf)


def _tls_record_end(buf: bytearray) -> int:
    """Where the TLS record the buffer ends inside will be complete (bytes from the start)."""
    pos = 0
    while pos + 5 <= len(buf):
        pos += 5 + int.from_bytes(buf[pos + 3 : pos + 5], "big")
        if pos > len(buf):
            return pos
    return pos + 5


def _finish(conn: _Live, ended_by: str) -> Connection:
    """Freeze a live connection into its record."""
    for half, from_client in ((conn.client_half, True), (conn.server_half, False)):
        if half.head:
            _parse_head(conn, half, from_client, final=True)
    history = "".join(conn.history[:MAX_HISTORY])
    c, s = conn.client_half, conn.server_half
    for half in (c, s):
        if isinstance(half.framer, HttpFramer) and half.fin_frames:
            _sync(half)
            half.framer.close()  # a response framed by the connection's close ends here
    return Connection(
        id=conn.id,
        client=_endpoint(conn.client),
        server=_endpoint(conn.server),
        client_isn=conn.isn,
        server_isn=conn.server_isn,
        first_frame=conn.first_frame,
        last_frame=conn.last_frame,
        first_ts_ns=conn.first_ts,
        last_ts_ns=conn.last_ts,
        conn_state=conn_state(c.state, s.state, c.payload_bytes, s.payload_bytes, history),
        history=history,
        syns=tuple(conn.syns),
        synacks=tuple(conn.synacks),
        handshake_frame=conn.handshake_frame,
        resets=tuple(conn.resets),
        syn_options=parse_tcp_options(conn.syn_opts) if conn.syns else None,
        synack_options=parse_tcp_options(conn.synack_opts) if conn.synacks else None,
        client_sent=_direction(c),
        server_sent=_direction(s),
        request=conn.request,
        response=conn.response,
        tls_alerts=tuple(conn.alerts),
        gaps=conn.gaps,
        ended_by=ended_by,
        exchange=_exchange(conn),
        exchange_at_rst=conn.rst_exchange,
        omitted=tuple(sorted(conn.omitted.items())) if conn.omitted else (),
    )


def _endpoint(addr_port: tuple[bytes, int]) -> Endpoint:
    return Endpoint(format_address(addr_port[0]), addr_port[1])


def _direction(half: _Half) -> Direction:
    return Direction(
        half.packets,
        half.payload_bytes,
        half.retx_bytes,
        tuple(half.fin_frames),
        half.last_ts,
        half.fin_ts,
    )


def conn_state(os: int, rs: int, orig_bytes: int, resp_bytes: int, history: str) -> str:
    """Zeek's conn_state (base/protocols/conn/main.zeek), from endpoint states."""
    o_inactive = os in (INACTIVE, PARTIAL)
    r_inactive = rs in (INACTIVE, PARTIAL)
    if rs == RESET:
        if os in (SYN_SENT, SYN_ACK_SENT) or (os == RESET and orig_bytes == 0 and resp_bytes == 0):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if os == RESET:
        if r_inactive:
            return "RSTOS0" if _RSTOS0.fullmatch(history) else "OTH"
        return "RSTO"
    if rs == CLOSED and os == CLOSED:
        return "SF"
    if os == CLOSED:
        return "SH" if r_inactive else "S2"
    if rs == CLOSED:
        return "SHR" if o_inactive else "S3"
    if os == SYN_SENT and rs == INACTIVE:
        return "S0"
    if os == ESTABLISHED and rs == ESTABLISHED:
        return "S1"
    return "OTH"


def parse_tcp_options(raw: bytes) -> TcpOptions:
    """Parse raw TCP options (RFC 9293 3.1, RFC 7323, RFC 2018); never raises."""
    mss = wscale = tsval = tsecr = None
    sack_ok = False
    blocks: list[tuple[int, int]] = []
    layout: list[str] = []
    pos, end = 0, len(raw)
    while pos < end:
        kind = raw[pos]
        if kind == 0:
            layout.append("E")
            break
        if kind == 1:
            layout.append("N")
            pos += 1
            continue
        if pos + 1 >= end:
            break
        length = raw[pos + 1]
        if length < 2 or pos + length > end:
            layout.append("?")
            break
        value = raw[pos + 2 : pos + length]
        if kind == 2 and length == 4:
            mss = struct.unpack("!H", value)[0]
            layout.append("M")
        elif kind == 3 and length == 3:
            wscale = value[0]
            layout.append("W")
        elif kind == 4 and length == 2:
            sack_ok = True
            layout.append("S")
        elif kind == 5 and (length - 2) % 8 == 0:
            blocks.extend(struct.unpack("!II", value[i : i + 8]) for i in range(0, len(value), 8))
            layout.append("K")
        elif kind == 8 and length == 10:
            tsval, tsecr = struct.unpack("!II", value)
            layout.append("T")
        else:
            layout.append(str(kind))
        pos += length
    return TcpOptions(
        mss=mss,
        wscale=wscale,
        sack_permitted=sack_ok,
        sack_blocks=tuple(blocks),
        tsval=tsval,
        tsecr=tsecr,
        layout=",".join(layout),
    )
