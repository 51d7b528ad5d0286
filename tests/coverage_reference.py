"""coverage.py's settling of the windows as it was before the core's
(core/src/compare/coverage.rs): the reference tests/test_coverage_core.py holds the
core to, and the judge and stream references'.

A capture with no recorded end is taken to have run as long as the other one, unless
the pair shows it had stopped: the other capture holds packets of paired connections,
or answers with the same host's fingerprint, that it should have seen later.
"""

from __future__ import annotations

from collections.abc import Iterable

from pcapdiff.coverage import NS, Coverage, Delays, Recorded, Window, duration
from pcapdiff.model import Connection, Pair

from .match_reference import delay_samples

# A packet may take longer than any delay measured on the paired handshakes (queues,
# retransmission of the packet itself): this much is added to the largest one.
DELAY_MARGIN_NS = 200_000_000
# The one-way delay bound when no pair measured one: an origin pull slower than this
# one way is a failure in its own right.
UNMEASURED_DELAY_NS = 1 * NS


Fingerprint = tuple[int, str]  # (TTL as captured, TCP option layout)


def _fingerprint(conn: Connection, server: bool) -> Fingerprint | None:
    """(TTL as captured, option layout) of a connection's SYN-ACK or SYN."""
    refs, opts = (conn.synacks, conn.synack_options) if server else (conn.syns, conn.syn_options)
    if not refs:
        return None
    return refs[0].ttl, opts.layout if opts is not None else ""


class _Latest:
    """The latest time a host sent something, and on which connection."""

    __slots__ = ("conn", "sent_ns")

    def __init__(self) -> None:
        self.sent_ns: int | None = None
        self.conn: Connection | None = None

    def offer(self, sent_ns: int | None, conn: Connection) -> None:
        if sent_ns is not None and (self.sent_ns is None or sent_ns > self.sent_ns):
            self.sent_ns, self.conn = sent_ns, conn


class CoverageFacts:
    """What coverage needs from the connections and the trusted pairs, gathered one
    record at a time, so that a compare that streams holds no list of them: the
    largest one-way delays, the largest round trip at the edge, and for each end the
    latest packet it sent (on paired connections, and per host fingerprint)."""

    def __init__(self) -> None:
        self.forward: list[int] = []  # raw, the offset still in them: min and max kept
        self.reverse: list[int] = []
        self.forward_samples = self.reverse_samples = 0
        self.rtt_ns: int | None = None
        self.edge_sent_paired, self.origin_sent_paired = _Latest(), _Latest()
        self.origin_prints: set[Fingerprint] = set()  # SYN-ACKs of paired connections, at the edge
        self.edge_prints: set[Fingerprint] = set()  # SYNs of paired connections, at the origin
        self.server_by_print: dict[Fingerprint, _Latest] = {}  # edge conns, by SYN-ACK print
        self.client_by_print: dict[Fingerprint, _Latest] = {}  # origin conns, by SYN print

    def add_edge(self, conn: Connection) -> None:
        if conn.syns and conn.synacks and conn.syns[0].ts_ns <= conn.synacks[0].ts_ns:
            synack = conn.synacks[0].ts_ns
            rtt = synack - max(s.ts_ns for s in conn.syns if s.ts_ns <= synack)
            self.rtt_ns = rtt if self.rtt_ns is None else max(self.rtt_ns, rtt)
        fp = _fingerprint(conn, server=True)
        if fp is not None:
            self.server_by_print.setdefault(fp, _Latest()).offer(conn.server_sent.last_ts_ns, conn)

    def add_origin(self, conn: Connection) -> None:
        fp = _fingerprint(conn, server=False)
        if fp is not None:
            self.client_by_print.setdefault(fp, _Latest()).offer(conn.client_sent.last_ts_ns, conn)

    def add_trusted(self, pair: Pair) -> None:
        """A pair that is not weak: its delays and its hosts' fingerprints count."""
        e, o = pair.edge, pair.origin
        assert o is not None
        forward, reverse = delay_samples([(e, o)])
        self.forward = _extremes(self.forward + forward)
        self.reverse = _extremes(self.reverse + reverse)
        self.forward_samples += len(forward)
        self.reverse_samples += len(reverse)
        self.edge_sent_paired.offer(e.client_sent.last_ts_ns, e)
        self.origin_sent_paired.offer(o.server_sent.last_ts_ns, o)
        if (fp := _fingerprint(e, server=True)) is not None:
            self.origin_prints.add(fp)
        if (fp := _fingerprint(o, server=False)) is not None:
            self.edge_prints.add(fp)

    def delays(self, offset_ns: int) -> Delays:
        """The largest one-way delay each way on the trusted pairs' handshakes, plus
        DELAY_MARGIN_NS; UNMEASURED_DELAY_NS where no pair shows one."""
        forward = [d - offset_ns for d in self.forward]
        reverse = [d + offset_ns for d in self.reverse]
        fwd = max(0, max(forward)) + DELAY_MARGIN_NS if forward else UNMEASURED_DELAY_NS
        rev = max(0, max(reverse)) + DELAY_MARGIN_NS if reverse else UNMEASURED_DELAY_NS
        return Delays(fwd, rev, max(self.forward_samples, self.reverse_samples))

    def round_trip_bound(self) -> int:
        """The largest SYN -> SYN-ACK time at the edge, plus a margin each way."""
        if self.rtt_ns is None:
            return 2 * UNMEASURED_DELAY_NS
        return self.rtt_ns + 2 * DELAY_MARGIN_NS


def _extremes(values: list[int]) -> list[int]:
    return [min(values), max(values)] if len(values) > 2 else values


def stop_evidence(
    last_packet_ns: int,
    facts: CoverageFacts,
    *,
    stopped_is_origin: bool,
    offset_ns: int,
    slack_ns: int,
) -> str:
    """Why a capture without a recorded end had stopped at its last packet, or "".

    ``last_packet_ns`` and the result are on the edge's clock. The other capture shows
    it: packets sent on a paired connection, or the same host's handshakes (same TTL
    and TCP options as on the paired connections), after that capture's last packet
    (plus ``slack_ns`` for the clock offset's uncertainty): had it still been running,
    it would hold them. Packets with another fingerprint came from something else.
    """
    # Times in the other capture, moved to the edge's clock.
    shift = 0 if stopped_is_origin else offset_ns
    deadline = last_packet_ns + slack_ns
    paired = facts.edge_sent_paired if stopped_is_origin else facts.origin_sent_paired
    if paired.sent_ns is not None and paired.sent_ns - shift > deadline:
        assert paired.conn is not None
        who, stopped = ("the edge", "origin") if stopped_is_origin else ("the origin", "edge")
        conn = paired.conn
        return (
            f"{who} still sent packets on connection {conn.client} -> {conn.server} "
            f"{duration(paired.sent_ns - shift - last_packet_ns)} after the {stopped} "
            "capture's last packet"
        )
    prints = facts.origin_prints if stopped_is_origin else facts.edge_prints
    by_print = facts.server_by_print if stopped_is_origin else facts.client_by_print
    for fp, latest in by_print.items():
        sent = latest.sent_ns
        if fp in prints and sent is not None and sent - shift > deadline:
            assert latest.conn is not None
            who, stopped = ("origin", "origin") if stopped_is_origin else ("edge", "edge")
            return (
                f"the {who} (TTL {fp[0]}, TCP options {fp[1] or '-'}, as on the paired "
                f"connections) still sent packets {duration(sent - shift - last_packet_ns)} "
                f"after the {stopped} capture's last packet, on connection "
                f"{latest.conn.client} -> {latest.conn.server}"
            )
    return ""


def gather_facts(
    edge_conns: Iterable[Connection], origin_conns: Iterable[Connection], pairs: Iterable[Pair]
) -> CoverageFacts:
    """The facts of whole captures held in memory."""
    facts = CoverageFacts()
    for conn in edge_conns:
        facts.add_edge(conn)
    for conn in origin_conns:
        facts.add_origin(conn)
    for pair in pairs:
        if pair.origin is not None and pair.confidence != "weak":
            facts.add_trusted(pair)
    return facts


def build_coverage(
    edge: Recorded,
    origin: Recorded | None,
    facts: CoverageFacts,
    *,
    offset_ns: int,
    offset_spread_ns: int = 0,
) -> Coverage:
    """Both windows on the edge's clock, each end recorded, shown stopped, or assumed."""
    slack_ns = offset_spread_ns + DELAY_MARGIN_NS
    delays = facts.delays(offset_ns)
    rtt = facts.round_trip_bound()
    if origin is None:
        return Coverage(_settle(edge, None, "", 0), None, delays, rtt, 0)
    origin = origin.shifted(-offset_ns)

    def stopped(own: Recorded, is_origin: bool) -> str:
        if own.end_ns is not None or own.last_packet_ns is None:
            return ""  # its end is recorded, or it holds nothing
        return stop_evidence(
            own.last_packet_ns,
            facts,
            stopped_is_origin=is_origin,
            offset_ns=offset_ns,
            slack_ns=slack_ns,
        )

    edge_stop = stopped(edge, False)
    origin_stop = stopped(origin, True)
    edge_window = _settle(edge, origin, edge_stop, delays.reverse_ns)
    origin_window = _settle(origin, edge, origin_stop, delays.forward_ns)
    return Coverage(edge_window, origin_window, delays, rtt, offset_ns)


def _settle(own: Recorded, other: Recorded | None, stopped: str, delay_ns: int) -> Window:
    """A capture's end: recorded; its last packet when the pair shows it had stopped
    (or there is no other capture); else assumed: it ran as long as the other, so it
    saw what the other's end sent its way (``delay_ns``, the one-way bound, later)."""
    if own.end_ns is not None:
        return Window(
            own.start_ns,
            own.end_ns,
            own.start_source,
            own.end_source,
            own.last_packet_ns,
            False,
            own.holes,
        )
    if stopped or other is None:
        source = f"last packet (it had stopped: {stopped})" if stopped else "last packet"
        return Window(
            own.start_ns,
            own.last_packet_ns,
            own.start_source,
            source,
            own.last_packet_ns,
            False,
            own.holes,
        )
    other_end = other.end_ns if other.end_ns is not None else other.last_packet_ns
    ends = [t for t in (own.last_packet_ns, other_end) if t is not None]
    if other_end is not None:
        ends.append(other_end + delay_ns)
    end = max(ends) if ends else None
    start = own.start_ns
    if start is None and other.start_ns is not None:
        start = other.start_ns  # nothing recorded at all: assumed to have run throughout
    assumed = end is not None and (own.last_packet_ns is None or end > own.last_packet_ns)
    return Window(
        start,
        end,
        own.start_source if own.start_ns is not None else "assumed",
        "assumed (no recorded end; as long as the other capture)" if assumed else "last packet",
        own.last_packet_ns,
        assumed,
        own.holes,
    )
