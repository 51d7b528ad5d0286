"""match.py's pairing as it was before the core's (core/src/compare/matching.rs): the
reference tests/test_match_core.py holds the core to, and the stream reference's.

Stage 4, match: edge connections + origin connections -> ``Pair`` records. Never pairs
by 5-tuple alone, and never by time alone (DESIGN.md, "NAT and rewriting"): a candidate
needs an identity feature (the same client ISN, the same SYN TSval, the same request,
the same client port or 4-tuple); time proximity, after the clock offset, only ranks
candidates. The offset comes from pairs that are certain without looking at time.
Ambiguity is resolved globally: all candidate pairs, best score first, each connection
used once.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import NamedTuple

from pcapdiff.match import OriginSpec
from pcapdiff.model import ClockOffset, Connection, IcmpError, PacketRef, Pair

NS = 1_000_000_000
WINDOW_NS = 30 * NS  # how far apart (after the offset) twin SYNs may be
IDENTITY = (
    "same 4-tuple",
    "same client ISN",
    "same SYN TSval",
    "same request",
    "same request line",
)
STRONG = ("same 4-tuple", "same client ISN", "same SYN TSval")
# A pair that rests on the request alone is probable only when the clock offset was
# estimated (or given) and the two SYNs are this close after it; otherwise it is weak.
PROBABLE_REQUEST_DT_NS = 1 * NS
# Server ports that are origin pulls whatever their traffic shows (HTTP, HTTPS).
ORIGIN_PULL_PORTS = frozenset({80, 443})


def syn_ts(conn: Connection) -> int:
    """When the connection attempt started: its first SYN (or first packet)."""
    return conn.syns[0].ts_ns if conn.syns else conn.first_ts_ns


def _tsval(conn: Connection) -> int | None:
    return conn.syn_options.tsval if conn.syn_options is not None else None


def _request_key(conn: Connection) -> tuple[str, ...] | None:
    """The client's first message: HTTP request line and Host, TLS SNI, or for any
    other protocol its first bytes."""
    r = conn.request
    if r is None:
        return None
    if r.kind == "other":
        return (r.kind, r.first_bytes) if len(r.first_bytes) >= 16 else None
    return (r.kind, r.method, r.target, r.host)


def _request_line_key(conn: Connection) -> tuple[str, str] | None:
    """An HTTP request's method and target without its Host: what pairs a request
    that a proxy in the path passed on with Host rewritten (a weak pair on its own)."""
    r = conn.request
    if r is None or r.kind != "http":
        return None
    return (r.method, r.target)


def same_transmission(edge: Sequence[PacketRef], origin: Sequence[PacketRef]) -> bool:
    """Are the first SYNs (or SYN-ACKs) the two captures hold the same packet? Only if
    both saw as many, and, over IPv4, with the same IP ID: each retransmission gets
    its own, and NAT leaves it be. (A capture that started late holds a retransmission
    as its first; taking it for the first costs seconds of offset.)"""
    if not edge or len(edge) != len(origin):
        return False
    a, b = edge[0], origin[0]
    return a.ip_id < 0 or b.ip_id < 0 or a.ip_id == b.ip_id


def delay_samples(
    pairs: Iterable[tuple[Connection, Connection]],
) -> tuple[list[int], list[int]]:
    """Per pair, the origin's SYN time minus the edge's, and the edge's SYN-ACK time
    minus the origin's: one-way delays plus or minus the clock offset. Only the same
    packet seen at both ends counts (``same_transmission``)."""
    forward: list[int] = []
    reverse: list[int] = []
    for edge, origin in pairs:
        if same_transmission(edge.syns, origin.syns):
            forward.append(origin.syns[0].ts_ns - edge.syns[0].ts_ns)
        if same_transmission(edge.synacks, origin.synacks):
            reverse.append(edge.synacks[0].ts_ns - origin.synacks[0].ts_ns)
    return forward, reverse


def estimate_offset(confident: Iterable[tuple[Connection, Connection]]) -> ClockOffset:
    """Origin clock minus edge clock from the minimum one-way delay each way:
    offset = (d_fwd - d_rev) / 2, good to about (d_fwd + d_rev) / 2.

    Only handshakes both captures saw whole count: when one saw fewer SYNs (or
    SYN-ACKs) than the other, its first may be a retransmission of the other's first
    (a capture started late, a SYN lost on the way), which would be off by seconds."""
    pairs = list(confident)
    fwd, rev = delay_samples(pairs)
    return offset_from(min(fwd, default=None), min(rev, default=None), len(pairs))


def offset_from(d_fwd: int | None, d_rev: int | None, pairs: int) -> ClockOffset:
    """The offset from the smallest delay sample each way (None: no sample)."""
    if d_fwd is None:
        return ClockOffset(0.0, 0.0, 0, "none")
    if d_rev is None:  # no answer ever came back: assume a symmetric path of unknown delay
        return ClockOffset(d_fwd / NS, 0.0, pairs, "estimated (one way only)")
    return ClockOffset((d_fwd - d_rev) / 2 / NS, abs(d_fwd + d_rev) / 2 / NS, pairs, "estimated")


M32 = 0xFFFFFFFF
# A firewall that rewrites every client ISN by one constant shows the same delta on
# this many pairs (32 bits: no chance agreement) before the delta counts as an identity.
MIN_DELTA_PAIRS = 3


def _isn_of(edge: Connection, isn_delta: int) -> int | None:
    """The client ISN the origin sees for this edge connection, given the rewrite."""
    return None if edge.client_isn is None else (edge.client_isn + isn_delta) & M32


def _score(
    edge: Connection, origin: Connection, offset_ns: int, isn_delta: int = 0
) -> tuple[float, list[str]]:
    reasons: list[str] = []
    score = 0.0
    if edge.client == origin.client and edge.server == origin.server:
        score += 10
        reasons.append("same 4-tuple")
    if edge.client_isn is not None and _isn_of(edge, isn_delta) == origin.client_isn:
        score += 8
        reasons.append("same client ISN")
        if isn_delta:
            reasons.append(f"ISN rewritten by +{isn_delta:#010x} in the path")
    tsval = _tsval(edge)
    if tsval is not None and tsval == _tsval(origin):
        score += 8
        reasons.append("same SYN TSval")
    key = _request_key(edge)
    if key is not None and key == _request_key(origin):
        score += 4
        reasons.append("same request")
    elif (line := _request_line_key(edge)) is not None and line == _request_line_key(origin):
        score += 2
        reasons += ["same request line", "Host differs"]
    if edge.client.port == origin.client.port:
        score += 2
        reasons.append("same client port")
    layout_e = edge.syn_options.layout if edge.syn_options else ""
    layout_o = origin.syn_options.layout if origin.syn_options else ""
    if layout_e and layout_e == layout_o:
        score += 1
        reasons.append("same SYN options")
    if edge.server.port == origin.server.port:
        score += 1
    dt = abs(syn_ts(origin) - offset_ns - syn_ts(edge))
    score += 3 * max(0.0, 1 - dt / WINDOW_NS)
    return score, reasons


class TimeIndex:
    """Origin connections by a feature, each feature's list sorted by SYN time: the
    candidates for an edge connection are looked up by bisection inside a time window,
    so a feature shared by thousands (a popular request) costs only what the window
    holds, never the whole capture."""

    def __init__(self) -> None:
        self._lists: dict[Hashable, list[tuple[int, int, Connection]]] = defaultdict(list)

    def add(self, key: Hashable, order: int, conn: Connection) -> None:
        self._lists[key].append((syn_ts(conn), order, conn))

    def freeze(self) -> None:
        for entries in self._lists.values():
            entries.sort(key=lambda entry: (entry[0], entry[1]))

    def all(self, key: Hashable) -> list[Connection]:
        """Every connection with the feature: only for features rare enough to be an
        identity (a pool larger than MAX_IDENTITY_POOL is not one)."""
        entries = self._lists.get(key, [])
        return [] if len(entries) > MAX_IDENTITY_POOL else [c for _, _, c in entries]

    def near(self, key: Hashable, at_ns: int, window_ns: int, limit: int) -> list[Connection]:
        """Connections with the feature whose SYN is within ``window_ns`` of ``at_ns``,
        the ``limit`` nearest."""
        entries = self._lists.get(key)
        if not entries:
            return []
        lo = bisect.bisect_left(entries, (at_ns - window_ns, -1))
        hi = bisect.bisect_right(entries, (at_ns + window_ns, 1 << 62))
        found = entries[lo:hi]
        if len(found) > limit:
            found = sorted(found, key=lambda entry: abs(entry[0] - at_ns))[:limit]
        return [c for _, _, c in found]


# An identity feature (ISN, TSval, 4-tuple) shared by more connections than this is not
# an identity: a stack that sends TSval 0, a tuple reused all day.
MAX_IDENTITY_POOL = 64
# Candidates scored per edge connection and feature, the nearest in time: bounds the
# work whatever the traffic (issue: 20,000 connections with one request).
MAX_CANDIDATES = 16
# Once the offset is known, the request ranks only twins this close after it (plus the
# estimate's spread): its own window, not the whole capture's.
REQUEST_WINDOW_NS = 2 * NS


def match(
    edge_conns: Sequence[Connection],
    origin_conns: Sequence[Connection],
    *,
    clock_offset_s: float | None = None,
    clock: ClockOffset | None = None,
    isn_delta: int | None = None,
) -> tuple[list[Pair], ClockOffset, list[Connection]]:
    """Pair every edge connection attempt with its origin twin (or None); also return
    the clock offset and the origin connections nothing paired with.

    Candidates come from exact-match indexes of the identity features first (client
    ISN, SYN TSval, 4-tuple); the request, which many connections share, is asked only
    when none of them finds one, inside a window around the offset-corrected SYN time.
    Each lookup scores at most MAX_CANDIDATES: the cost grows with connections, not
    with how often a request repeats. ``clock``: an offset already estimated (by a
    compare that paired the rest as it read), used as it is.

    A firewall that adds one constant to every client ISN (behind source NAT, without
    TCP timestamps, nothing else strong is left) shows as the same delta on the pairs
    found by request and time; then the rewritten ISN is an identity, and the pairing
    is done again with it (``isn_delta``; None: learn it)."""
    delta = isn_delta or 0
    attempts = [c for c in edge_conns if c.syns]
    by_isn, by_tsval, by_tuple, by_request = TimeIndex(), TimeIndex(), TimeIndex(), TimeIndex()
    by_line = TimeIndex()
    for i, o in enumerate(origin_conns):
        if o.client_isn is not None:
            by_isn.add(o.client_isn, i, o)
        if (t := _tsval(o)) is not None:
            by_tsval.add(t, i, o)
        by_tuple.add((o.client.addr, o.client.port, o.server.addr, o.server.port), i, o)
        if (k := _request_key(o)) is not None:
            by_request.add(k, i, o)
        if (line := _request_line_key(o)) is not None:
            by_line.add(line, i, o)
    for index in (by_isn, by_tsval, by_tuple, by_request, by_line):
        index.freeze()

    confident = _certain_pairs(attempts, by_isn, by_tsval, by_tuple, delta)
    clock_in = clock
    if clock is not None:
        pass
    elif clock_offset_s is not None:
        clock = ClockOffset(clock_offset_s, 0.0, 0, "given")
    else:
        clock = estimate_offset(_unique(confident))
    offset_ns = round(clock.seconds * NS)
    clock_known = clock.source != "none"
    request_window = REQUEST_WINDOW_NS + round(clock.spread_s * NS) if clock_known else WINDOW_NS

    candidates: list[tuple[float, int, int, str]] = []
    origin_index = {id(o): i for i, o in enumerate(origin_conns)}
    for ei, e in enumerate(attempts):
        at = syn_ts(e) + offset_ns  # where its twin's SYN would be, on the origin's clock
        tuple_key = (e.client.addr, e.client.port, e.server.addr, e.server.port)
        pools = [
            by_isn.near(_isn_of(e, delta), at, WINDOW_NS, MAX_CANDIDATES)
            if e.client_isn is not None
            else [],
            by_tsval.near(_tsval(e), at, WINDOW_NS, MAX_CANDIDATES)
            if _tsval(e) is not None
            else [],
            by_tuple.near(tuple_key, at, WINDOW_NS, MAX_CANDIDATES),
        ]
        if not any(pools) and (key := _request_key(e)) is not None:
            pools.append(by_request.near(key, at, request_window, MAX_CANDIDATES))
        if not any(pools) and (line := _request_line_key(e)) is not None:
            # the last resort: the same request line, Host rewritten on the way
            pools.append(by_line.near(line, at, request_window, MAX_CANDIDATES))
        seen: set[int] = set()
        for pool in pools:
            for o in pool:
                oi = origin_index[id(o)]
                if oi in seen:
                    continue
                seen.add(oi)
                score, reasons = _score(e, o, offset_ns, delta)
                if not any(r in IDENTITY for r in reasons):
                    continue  # a shared client port and good timing are not enough
                candidates.append((score, ei, oi, ", ".join(reasons)))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    taken_edge: dict[int, tuple[int, float, str]] = {}
    taken_origin: set[int] = set()
    for score, ei, oi, why in candidates:
        if ei in taken_edge or oi in taken_origin:
            continue
        taken_edge[ei] = (oi, score, why)
        taken_origin.add(oi)
    certain = {(id(e), id(o)) for e, o in confident}
    pairs = []
    for ei, e in enumerate(attempts):
        if ei in taken_edge:
            oi, score, why = taken_edge[ei]
            o = origin_conns[oi]
            dt = abs(syn_ts(o) - offset_ns - syn_ts(e))
            pairs.append(Pair(e, o, score, why, _confidence(e, o, why, certain, clock_known, dt)))
        else:
            pairs.append(Pair(e, None, 0.0, ""))
    unpaired = [o for i, o in enumerate(origin_conns) if i not in taken_origin]
    if isn_delta is None and (learned := rewrite_delta(pairs)):
        return match(
            edge_conns,
            origin_conns,
            clock_offset_s=clock_offset_s,
            clock=clock_in,
            isn_delta=learned,
        )
    return pairs, clock, unpaired


def rewrite_delta(pairs: Iterable[Pair]) -> int:
    """The constant a firewall adds to client ISNs, if the pairs show one: at least
    MIN_DELTA_PAIRS pairs, and most of those whose ISNs differ, share one delta."""
    deltas = Counter(
        (p.origin.client_isn - p.edge.client_isn) & M32
        for p in pairs
        if p.origin is not None
        and p.edge.client_isn is not None
        and p.origin.client_isn is not None
        and p.origin.client_isn != p.edge.client_isn
    )
    if not deltas:
        return 0
    delta, count = deltas.most_common(1)[0]
    return delta if count >= MIN_DELTA_PAIRS and 2 * count > sum(deltas.values()) else 0


def _confidence(
    e: Connection,
    o: Connection,
    why: str,
    certain: set[tuple[int, int]],
    clock_known: bool,
    dt_ns: int,
) -> str:
    """certain / probable / weak (see ``Pair.confidence``)."""
    if (id(e), id(o)) in certain:
        return "certain"
    if any(feature in why for feature in STRONG):
        return "probable"
    if clock_known and dt_ns <= PROBABLE_REQUEST_DT_NS:
        return "probable"
    return "weak"


def _strong(e: Connection, o: Connection, isn_delta: int = 0) -> int:
    """How many of the 4-tuple, the client ISN and the SYN TSval two connections share."""
    return sum(
        (
            e.client == o.client and e.server == o.server,
            e.client_isn is not None and _isn_of(e, isn_delta) == o.client_isn,
            _tsval(e) is not None and _tsval(e) == _tsval(o),
        )
    )


def _certain_pairs(
    attempts: Sequence[Connection],
    by_isn: TimeIndex,
    by_tsval: TimeIndex,
    by_tuple: TimeIndex,
    isn_delta: int = 0,
) -> list[tuple[Connection, Connection]]:
    """Pairs that are certain whatever the clocks say: two of the same 4-tuple, the
    same client ISN and the same SYN TSval (any one of them can be rewritten), or the
    same ISN and the same request. Time cannot narrow these lookups (the offset is not
    known yet), so a feature too common to be an identity is left out."""
    out = []
    for e in attempts:
        tsval = _tsval(e)
        twins: dict[int, Connection] = {}
        for pool in (
            by_isn.all(_isn_of(e, isn_delta)) if e.client_isn is not None else [],
            by_tsval.all(tsval) if tsval is not None else [],
            by_tuple.all((e.client.addr, e.client.port, e.server.addr, e.server.port)),
        ):
            for twin in pool:
                twins[id(twin)] = twin
        out += [(e, twin) for twin in twins.values() if certain_pair(e, twin, isn_delta)]
    return out


def certain_pair(e: Connection, o: Connection, isn_delta: int = 0) -> bool:
    """Two of the 4-tuple, the client ISN and the SYN TSval agree; or the ISN and the
    request do: behind SNAT with no TCP timestamps (Windows clients) the ISN is the
    only strong feature left, and 32 bits alone collide by chance among tens of
    thousands of connections."""
    if _strong(e, o, isn_delta) >= 2:
        return True
    key = _request_key(e)
    return key is not None and _isn_of(e, isn_delta) == o.client_isn and key == _request_key(o)


def _unique(pairs: list[tuple[Connection, Connection]]) -> list[tuple[Connection, Connection]]:
    """Drop edge or origin connections that appear in more than one certain pair."""
    edges: dict[int, int] = defaultdict(int)
    origins: dict[int, int] = defaultdict(int)
    for e, o in pairs:
        edges[id(e)] += 1
        origins[id(o)] += 1
    return [(e, o) for e, o in pairs if edges[id(e)] == 1 and origins[id(o)] == 1]


# An ICMP error comes within a round trip of the packet it quotes; allow for slow
# routers and rate-limited ICMP.
ICMP_AFTER_NS = 10 * NS
IcmpKey = tuple[str, int, str, int]


def icmp_index(errors: Iterable[IcmpError]) -> dict[IcmpKey, list[IcmpError]]:
    """ICMP errors by the 4-tuple of the packet they quote (sender first)."""
    index: dict[IcmpKey, list[IcmpError]] = defaultdict(list)
    add_icmp(index, errors)
    return index


def add_icmp(index: dict[IcmpKey, list[IcmpError]], errors: Iterable[IcmpError]) -> None:
    """Add errors to an ``icmp_index`` (a defaultdict(list))."""
    for err in errors:
        index[(err.quoted_src, err.quoted_sport, err.quoted_dst, err.quoted_dport)].append(err)


def icmp_for(conn: Connection, index: dict[IcmpKey, list[IcmpError]]) -> tuple[IcmpError, ...]:
    """The errors that quote this connection's packets, either way, while it lived."""
    if not index:
        return ()  # most captures hold none
    c, s = conn.client, conn.server
    found = index.get((c.addr, c.port, s.addr, s.port), []) + index.get(
        (s.addr, s.port, c.addr, c.port), []
    )
    return tuple(
        err for err in found if conn.first_ts_ns <= err.ts_ns <= conn.last_ts_ns + ICMP_AFTER_NS
    )


def origin_servers(origin_conns: Iterable[Connection]) -> set[tuple[str, int]]:
    """The server endpoints the origin capture shows being connected to."""
    return {(c.server.addr, c.server.port) for c in origin_conns if c.syns or c.synacks}


def speaks_http_or_tls(conn: Connection) -> bool:
    """Did either end of the connection speak HTTP or TLS?"""
    return (conn.request is not None and conn.request.kind in ("http", "tls")) or (
        conn.response is not None and conn.response.kind in ("http", "tls")
    )


def chosen_by(conn: Connection, origins: Sequence[OriginSpec], ports: Sequence[int]) -> bool:
    """Is the edge connection one that --origin/--port name?"""
    return (not origins or any(s.admits(conn) for s in origins)) and (
        not ports or conn.server.port in ports
    )


def origin_pull_ports(*captures: Iterable[Connection]) -> set[int]:
    """Server ports that carry origin pulls: 80 and 443, and any port on which a
    connection (in either capture) spoke HTTP or TLS."""
    ports = set(ORIGIN_PULL_PORTS)
    for conns in captures:
        for c in conns:
            if speaks_http_or_tls(c):
                ports.add(c.server.port)
    return ports


class Selection(NamedTuple):
    """The origin-pull attempts to judge, and the edge's other connections."""

    pulls: list[Pair]
    others: list[Pair]  # counted apart, never judged as a 52x


def select(
    pairs: Sequence[Pair],
    *,
    served: set[tuple[str, int]],
    pull_ports: set[int],
    origins: Sequence[OriginSpec] = (),
    ports: Sequence[int] = (),
    paired_elsewhere: set[tuple[str, int]] | None = None,
) -> Selection:
    """The origin-pull attempts among all the edge's pairs.

    With --origin/--port: the connections to those. Otherwise a connection is an
    origin pull when its server port is one (``pull_ports``) and, with an origin
    capture, its server is an endpoint the origin capture serves or a VIP at least one
    of whose connections paired (here, or in ``paired_elsewhere``: the server
    endpoints of pairs already judged). Everything else (ssh, a database port, monitoring) is
    another connection: counted, not judged.
    """
    if origins or ports:
        chosen = [chosen_by(p.edge, origins, ports) for p in pairs]
    else:
        paired_endpoints = {(p.edge.server.addr, p.edge.server.port) for p in pairs if p.origin}
        keep = served | paired_endpoints | (paired_elsewhere or set())
        chosen = [
            p.edge.server.port in pull_ports
            and (not served or (p.edge.server.addr, p.edge.server.port) in keep)
            for p in pairs
        ]
    return Selection(
        [p for p, c in zip(pairs, chosen, strict=True) if c],
        [p for p, c in zip(pairs, chosen, strict=True) if not c],
    )


__all__ = [
    "Selection",
    "delay_samples",
    "estimate_offset",
    "icmp_for",
    "icmp_index",
    "match",
    "origin_pull_ports",
    "origin_servers",
    "same_transmission",
    "select",
    "syn_ts",
]
