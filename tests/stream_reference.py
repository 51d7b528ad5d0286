"""stream.py as it was before the core's (core/src/compare/stream.rs): the reference
tests/test_stream_core.py holds the core to.

Stages 4-6 as the captures are read: pair, settle coverage, judge, record by record.

Input: each capture's connection records as its tracker releases them (the edge read
in this process, a big origin capture by a child process, ``workers``), with each
capture's time so far. Output: verdicts, each as soon as nothing still to be read can
change it, then the rest once both captures have ended.

A verdict is final early when:
- its pair is *certain* (two of 4-tuple, client ISN and SYN TSval, or the ISN and the
  request: identities no clock is needed for), formed when the second record arrives,
  with no other waiting record that would be as certain a twin;
- the clock offset is known: given, or estimated once WARM_UP_PAIRS certain pairs are
  in (and refined by every later one);
- its server port is known to carry origin pulls (or --origin/--port chose it);
- every coverage check it rests on lies inside what both captures have already shown
  running, SETTLE_NS before their latest packet (late ICMP errors included), and it is
  neither inconclusive nor resting on an assumption.
Everything else waits for the end: attempts with no certain twin, verdicts that rest on
a capture's end, ports not yet known. They go through the whole-capture rules of
``match``, ``coverage`` and ``judge`` with the final offset, as when nothing is
released early. Memory then follows the records that wait, not the capture.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import NamedTuple

from pcapdiff.coverage import Coverage, Recorded, Window
from pcapdiff.match import OriginSpec
from pcapdiff.model import (
    ClockOffset,
    Connection,
    IcmpError,
    Outcome,
    Pair,
    Side,
    Verdict,
)
from pcapdiff.quality import capture_vote, point_of
from pcapdiff.track import IDLE_SWEEP_INTERVAL_NS, IDLE_TIMEOUT_NS

from .coverage_reference import CoverageFacts, build_coverage
from .judge_reference import Case, judge
from .match_reference import (
    MAX_IDENTITY_POOL,
    ORIGIN_PULL_PORTS,
    WINDOW_NS,
    _score,
    _tsval,
    add_icmp,
    certain_pair,
    chosen_by,
    delay_samples,
    icmp_for,
    match,
    offset_from,
    select,
    speaks_http_or_tls,
    syn_ts,
)

NS = 1_000_000_000
WARM_UP_PAIRS = 64  # certain pairs before the offset is trusted for early verdicts
SETTLE_NS = 10 * NS
_NEVER = -(1 << 62)  # what a capture shows running ends this long before its latest packet
IcmpIndex = dict[tuple[str, int, str, int], list[IcmpError]]


class StreamEnd(NamedTuple):
    """What the end of a streamed compare knows that its verdicts do not say."""

    clock: ClockOffset
    coverage: Coverage
    unpaired_origin: list[Connection]
    others: Counter[int]
    judged: int
    assumed: int
    swapped_by_ttl: bool  # the TTLs say the captures were given the wrong way round
    streamed: bool  # some verdicts were released before the end


class _Side:
    """One capture's records that wait for a twin, indexed by identity and by the
    second of their SYN, and in the order they give up waiting (their last packet).
    Each record has a token while it waits; the expiry heap holds tokens, not records,
    so a record paired meanwhile is freed at once."""

    def __init__(self) -> None:
        self.waiting: dict[int, Connection] = {}  # token -> record
        self.tokens: dict[int, int] = {}  # id(record) -> token, while it waits
        self.by_key: dict[Hashable, dict[int, Connection]] = defaultdict(dict)
        self.by_second: dict[int, dict[int, Connection]] = defaultdict(dict)
        self.expiry: list[tuple[int, int]] = []  # (last packet, token)
        self.next_token = 0
        self.votes: Counter[str] = Counter()
        self.icmp: IcmpIndex = defaultdict(list)
        self.clock_ns: int | None = None  # its latest packet so far

    def keys(self, conn: Connection) -> list[Hashable]:
        keys: list[Hashable] = []
        if conn.client_isn is not None:
            keys.append(("isn", conn.client_isn))
        if (tsval := _tsval(conn)) is not None:
            keys.append(("tsval", tsval))
        return keys

    def wait(self, conn: Connection) -> None:
        token = self.next_token = self.next_token + 1
        self.waiting[token] = conn
        self.tokens[id(conn)] = token
        for key in self.keys(conn):
            self.by_key[key][token] = conn
        self.by_second[syn_ts(conn) // NS][token] = conn
        heapq.heappush(self.expiry, (conn.last_ts_ns, token))
        if len(self.expiry) > 2 * len(self.waiting) + 4096:  # mostly records paired since
            self.expiry = [entry for entry in self.expiry if entry[1] in self.waiting]
            heapq.heapify(self.expiry)

    def holds(self, conn: Connection) -> bool:
        return id(conn) in self.tokens

    def take(self, conn: Connection) -> None:
        token = self.tokens.pop(id(conn))
        del self.waiting[token]
        for key in self.keys(conn):
            bucket = self.by_key[key]
            del bucket[token]
            if not bucket:
                del self.by_key[key]
        second = syn_ts(conn) // NS
        del self.by_second[second][token]
        if not self.by_second[second]:
            del self.by_second[second]

    def expired(self, until_ns: int) -> list[Connection]:
        """Take the waiting records whose last packet is at or before UNTIL."""
        out = []
        while self.expiry and self.expiry[0][0] <= until_ns:
            _, token = heapq.heappop(self.expiry)
            conn = self.waiting.get(token)
            if conn is not None:
                self.take(conn)
                out.append(conn)
        return out

    def near(self, at_ns: int, window_ns: int) -> list[Connection]:
        """Waiting records whose SYN (this side's clock) is within the window of AT."""
        out: list[Connection] = []
        for second in range((at_ns - window_ns) // NS, (at_ns + window_ns) // NS + 1):
            out += self.by_second.get(second, {}).values()
        return out

    def certain_twins(self, conn: Connection) -> list[Connection]:
        """Waiting records that would pair with CONN with certainty."""
        found: dict[int, Connection] = {}
        for key in self.keys(conn):
            bucket = self.by_key.get(key, {})
            if len(bucket) <= MAX_IDENTITY_POOL:  # a key that common is not an identity
                found.update(bucket)
        return [c for c in found.values() if certain_pair(conn, c)]


class StreamingCompare:
    """Feed it both captures' records (``add_edge``/``add_origin``, and each capture's
    time with ``clock``); it calls ``emit`` with each verdict once final, and
    ``finish`` judges the rest."""

    def __init__(
        self,
        emit: Callable[[Verdict], None],
        *,
        specs: Sequence[OriginSpec] = (),
        ports: Sequence[int] = (),
        pull_ports: Iterable[int] = (),
        clock_offset_s: float | None = None,
        edge_start: Recorded | None = None,
        origin_start: Recorded | None = None,
        release: bool = True,
        roles_known: bool = False,
        edge_cite: Callable[[int], int | str] = int,
        idle_timeout_ns: int = IDLE_TIMEOUT_NS,
        several_files: bool = False,
    ) -> None:
        self.several_files = several_files  # frame numbers are per file: order by time
        self.emit = emit
        self.specs, self.ports = list(specs), list(ports)
        self.pull_ports = set(ORIGIN_PULL_PORTS) | set(pull_ports)
        self.given = clock_offset_s
        self.edge_start, self.origin_start = edge_start, origin_start
        self.release = release  # False: hold everything to the end (the reference run)
        self.roles_known = roles_known  # the sidecars say which capture is which
        self.edge_cite = edge_cite
        self.edge, self.origin = _Side(), _Side()
        self.facts = CoverageFacts()
        # the same, the roles exchanged; kept only until the first verdict is released
        # (finish swaps the roles only before)
        self.swapped_facts = CoverageFacts()
        self.served: set[tuple[str, int]] = set()
        self.paired_endpoints: set[tuple[str, int]] = set()
        self.certain: list[Pair] = []  # before the offset is known
        self.held: list[Pair] = []  # pairs whose verdict only the end settles
        # origin records no edge twin can come for: candidates a while, then reported
        self.expire_ns = idle_timeout_ns + IDLE_SWEEP_INTERVAL_NS + SETTLE_NS
        self.alone: dict[int, Connection] = {}  # token -> record
        self.alone_tokens: dict[int, int] = {}  # id(record) -> token
        self.alone_by_second: dict[int, dict[int, Connection]] = defaultdict(dict)
        self.alone_order: list[tuple[int, int]] = []  # (until, token)
        self.origin_only: list[Connection] = []
        # certain pairs to judge again once both captures are read up to a time
        self.later: list[tuple[int, int, Pair]] = []
        self.edge_others: list[Connection] = []  # not attempts: only their port counts
        self.forward: list[int] = []
        self.reverse: list[int] = []
        self.certain_count = 0
        self.offset: ClockOffset | None = (
            None if clock_offset_s is None else ClockOffset(clock_offset_s, 0.0, 0, "given")
        )
        self.others: Counter[int] = Counter()
        self.judged = self.assumed = 0
        self.queued = 0
        self.released = False
        self.streaming = release

    # --- input ------------------------------------------------------------------------

    def start(self, side: Side, recorded: Recorded) -> None:
        """When a capture started (its sidecar, or its first packet), its own clock."""
        if side is Side.EDGE:
            self.edge_start = recorded
        else:
            self.origin_start = recorded

    def clock(self, side: Side, clock_ns: int | None, icmp: Iterable[IcmpError] = ()) -> None:
        """A capture's latest packet so far, and the ICMP errors read since last time."""
        own = self.edge if side is Side.EDGE else self.origin
        own.clock_ns = clock_ns
        add_icmp(own.icmp, icmp)
        self._retry()

    def lead_ns(self) -> int:
        """How far the edge capture has been read past the origin's (0 until known)."""
        if self.offset is None or self.edge.clock_ns is None or self.origin.clock_ns is None:
            return 0
        return self.edge.clock_ns - (self.origin.clock_ns - round(self.offset.seconds * NS))

    def _retry(self) -> None:
        """Judge again the pairs that waited for the captures to be read this far, and
        give up on twins that can no longer come."""
        shown = self._shown_ns()
        while self.later and self.later[0][0] <= shown:
            _, _, pair = heapq.heappop(self.later)
            self._try(pair)
        if self.released and self.streaming:
            self._expire(shown)

    def _expire(self, shown: int) -> None:
        """A record's twin comes at the latest when the other capture's tracker lets the
        twin go idle (its packets are the same), EXPIRE_NS after the record's last packet.
        Past that, a waiting origin record has no edge twin (it is the origin's alone),
        and a waiting edge attempt is paired as ``match`` would, among the origin records
        near its SYN (by request and time), or judged unpaired."""
        assert self.offset is not None
        offset_ns = round(self.offset.seconds * NS)
        for o in self.origin.expired(shown + offset_ns - self.expire_ns):
            self.queued += 1
            self.alone[self.queued] = o
            self.alone_tokens[id(o)] = self.queued
            self.alone_by_second[syn_ts(o) // NS][self.queued] = o
            until = syn_ts(o) - offset_ns + WINDOW_NS + self.expire_ns
            heapq.heappush(self.alone_order, (until, self.queued))
        for e in self.edge.expired(shown - self.expire_ns):
            self._unpaired_edge(e, offset_ns)
        # the origin's own records stay candidates while an edge attempt near them may
        # expire, then are reported as such
        while self.alone_order and self.alone_order[0][0] <= shown:
            _, token = heapq.heappop(self.alone_order)
            if (alone := self.alone.get(token)) is not None:
                self._drop_alone(alone)
                self.origin_only.append(alone)

    def _unpaired_edge(self, e: Connection, offset_ns: int) -> None:
        at = syn_ts(e) + offset_ns
        candidates = self.origin.near(at, WINDOW_NS) + [
            o
            for second in range((at - WINDOW_NS) // NS, (at + WINDOW_NS) // NS + 1)
            for o in self.alone_by_second.get(second, {}).values()
        ]
        assert self.offset is not None
        (pair,), _, _ = match([e], candidates, clock=self.offset)
        o = pair.origin
        if o is not None:
            if self.origin.holds(o):
                self.origin.take(o)
            else:
                self._drop_alone(o)
            self.paired_endpoints.add((e.server.addr, e.server.port))
            if pair.confidence != "weak":
                self.facts.add_trusted(pair)
        self._try(pair)

    def _drop_alone(self, o: Connection) -> None:
        token = self.alone_tokens.pop(id(o))
        del self.alone[token]
        second = self.alone_by_second[syn_ts(o) // NS]
        del second[token]
        if not second:
            del self.alone_by_second[syn_ts(o) // NS]

    def _shown_ns(self) -> int:
        """Up to when (edge clock) both captures are known to have run."""
        if self.edge.clock_ns is None or self.origin.clock_ns is None or self.offset is None:
            return _NEVER
        return min(self.edge.clock_ns, self.origin.clock_ns - round(self.offset.seconds * NS))

    def add_edge(self, conn: Connection) -> None:
        self.facts.add_edge(conn)
        if not self.released:  # once verdicts are out the roles stay: no swap to prepare
            self.swapped_facts.add_origin(conn)
        self._note(conn, self.edge)
        if not conn.syns:
            return  # not an attempt: only what it shows of ports and hosts counts
        self._arrive(conn, self.edge, self.origin, edge_first=True)

    def add_origin(self, conn: Connection) -> None:
        self.facts.add_origin(conn)
        if not self.released:
            self.swapped_facts.add_edge(conn)
        self._note(conn, self.origin)
        if conn.syns or conn.synacks:
            self.served.add((conn.server.addr, conn.server.port))
        self._arrive(conn, self.origin, self.edge, edge_first=False)

    def _note(self, conn: Connection, side: _Side) -> None:
        if speaks_http_or_tls(conn):
            self.pull_ports.add(conn.server.port)
        if vote := capture_vote(conn):
            side.votes[vote] += 1

    def _arrive(self, conn: Connection, own: _Side, other: _Side, *, edge_first: bool) -> None:
        twins = other.certain_twins(conn)
        if len(twins) != 1 or len(own.certain_twins(twins[0])) > 0:
            own.wait(conn)  # no twin yet, or more than one: the end decides
            return
        twin = twins[0]
        other.take(twin)
        e, o = (conn, twin) if edge_first else (twin, conn)
        self._paired(Pair(e, o, 0.0, _why(e, o), "certain"))

    def _paired(self, pair: Pair) -> None:
        e, o = pair.edge, pair.origin
        assert o is not None
        self.facts.add_trusted(pair)
        if not self.released:
            self.swapped_facts.add_trusted(Pair(o, e, 0.0, pair.matched_by, "certain"))
        self.paired_endpoints.add((e.server.addr, e.server.port))
        forward, reverse = delay_samples([(e, o)])
        self.forward = _lowest(self.forward + forward)
        self.reverse = _lowest(self.reverse + reverse)
        self.certain_count += 1
        if self.given is None:
            self.offset = _estimate_from(self.forward, self.reverse, self.certain_count)
        if not self.released and not self._may_release():
            self.certain.append(pair)
            return
        if not self.released:
            self.released = True
            waiting, self.certain = self.certain, []
            for p in waiting:
                self._try(p)
        self._try(pair)

    def _may_release(self) -> bool:
        """Early verdicts only with a trusted offset and the captures the right way round."""
        if not self.streaming or self.offset is None or self.offset.source == "none":
            return False
        if self.given is None and self.certain_count < WARM_UP_PAIRS:
            return False
        if not self.roles_known and (
            point_of(self.edge.votes) == "server" and point_of(self.origin.votes) == "client"
        ):
            self.streaming = False  # judged at the end, swapped back as compare does
            return False
        return True

    # --- early verdicts ------------------------------------------------------------

    def _try(self, pair: Pair) -> None:
        """Judge a pair now if nothing still to be read can change its verdict."""
        assert self.offset is not None
        e, o = pair.edge, pair.origin
        if self.specs or self.ports:
            if not chosen_by(e, self.specs, self.ports):
                self.others[e.server.port] += 1
                return
        elif e.server.port not in self.pull_ports:
            self.held.append(pair)  # its port may still turn out to carry origin pulls
            return
        elif o is None and self.served:
            endpoint = (e.server.addr, e.server.port)
            if endpoint not in self.served and endpoint not in self.paired_endpoints:
                # an endpoint the origin capture has not served until long after this
                # attempt: another origin's connection, counted, not judged
                self.others[e.server.port] += 1
                return
        offset_ns = round(self.offset.seconds * NS)
        edge_clock, origin_clock = self.edge.clock_ns, self.origin.clock_ns
        # its records' last packets, and ICMP errors about them, must be in
        last = e.last_ts_ns if o is None else max(e.last_ts_ns, o.last_ts_ns - offset_ns)
        ready_at = last + SETTLE_NS
        shown = self._shown_ns()  # judging moves no clock: one reading serves below
        if edge_clock is None or origin_clock is None or ready_at > shown:
            self._later(ready_at, pair)
            return
        coverage = Coverage(
            _running(self.edge_start, edge_clock, 0),
            _running(self.origin_start, origin_clock, offset_ns),
            self.facts.delays(offset_ns),
            self.facts.round_trip_bound(),
            offset_ns,
        )
        case = Case(
            pair,
            coverage,
            True,
            edge_icmp=icmp_for(e, self.edge.icmp),
            origin_icmp=icmp_for(o, self.origin.icmp) if o is not None else (),
            edge_cite=self.edge_cite,
        )
        verdict = judge(case)
        settled_at = max((c.due_until_ns + SETTLE_NS for c in case.checks), default=ready_at)
        settled = all(c.covered for c in case.checks) and settled_at <= shown
        if verdict.outcome is Outcome.INCONCLUSIVE or verdict.assumes or not settled:
            if settled_at > shown:
                self._later(settled_at, pair)  # what it rests on is not read yet
            else:
                self.held.append(pair)  # it rests on a capture's start, or its end
            return
        if o is not None and pair.confidence == "certain":
            # scored only now, with the offset it is judged with: nothing in judging reads
            # the score, and a pair that waits is scored again when judged (finish too)
            verdict = verdict._replace(pair=pair._replace(score=_score(e, o, offset_ns)[0]))
        self._emit(verdict)

    def _later(self, at_ns: int, pair: Pair) -> None:
        self.queued += 1
        heapq.heappush(self.later, (at_ns, self.queued, pair))

    def _emit(self, verdict: Verdict) -> None:
        self.judged += 1
        self.assumed += bool(verdict.assumes)
        self.emit(verdict)

    # --- the end ---------------------------------------------------------------------

    def _order(self, conn: Connection) -> tuple[int, int]:
        """Capture order: by frame; across several files, by time."""
        return (conn.first_ts_ns if self.several_files else 0, conn.first_frame)

    def swapped_by_ttl(self) -> bool:
        """Do the TTLs say the first capture was taken on the origin, the second on the edge?"""
        return (point_of(self.edge.votes), point_of(self.origin.votes)) == ("server", "client")

    def finish(
        self,
        edge: Recorded,
        origin: Recorded | None,
        *,
        swap: bool,
    ) -> StreamEnd:
        """Both captures have ended: judge what waited, with the final offset and
        windows. ``swap``: the records were given the wrong way round (only before
        any verdict was released)."""
        assert not (swap and self.released)
        held = self.certain + self.held + [p for _, _, p in self.later]
        self.later = []
        alone = self.origin_only + list(self.alone.values())
        edge_rest = sorted(self.edge.waiting.values(), key=self._order)
        origin_rest = sorted(self.origin.waiting.values(), key=self._order)
        forward, reverse, facts = self.forward, self.reverse, self.facts
        if swap:
            held = [Pair(p.origin, p.edge, 0.0, p.matched_by, "certain") for p in held]  # type: ignore[arg-type]
            assert not alone  # nothing expires before the roles are settled
            edge_rest, origin_rest = origin_rest, edge_rest
            facts = self.swapped_facts
            samples = delay_samples((p.edge, p.origin) for p in held)  # type: ignore[misc]
            forward, reverse = _lowest(samples[0]), _lowest(samples[1])
            self.served = {(c.server.addr, c.server.port) for c in origin_rest}
        clock = (
            ClockOffset(self.given, 0.0, 0, "given")
            if self.given is not None
            else _estimate_from(forward, reverse, self.certain_count)
        )
        # no certain pair gave an offset: the rest may (a rewrite of ISNs learned there)
        rest_pairs, clock, unpaired = match(
            edge_rest, origin_rest, clock=None if clock.source == "none" else clock
        )
        offset_ns = round(clock.seconds * NS)
        held = [
            p._replace(score=_score(p.edge, p.origin, offset_ns)[0])
            if p.origin is not None and p.confidence == "certain"
            else p
            for p in held
        ]
        for p in rest_pairs:
            if p.origin is not None and p.confidence != "weak":
                facts.add_trusted(p)
        pairs = sorted(held + rest_pairs, key=lambda p: self._order(p.edge))
        selection = select(
            pairs,
            served=self.served,
            pull_ports=self.pull_ports,
            origins=self.specs,
            ports=self.ports,
            paired_elsewhere=self.paired_endpoints,
        )
        for p in selection.others:
            self.others[p.edge.server.port] += 1
        coverage = build_coverage(
            edge,
            origin,
            facts,
            offset_ns=offset_ns,
            offset_spread_ns=round(clock.spread_s * NS),
        )
        edge_icmp, origin_icmp = (self.origin, self.edge) if swap else (self.edge, self.origin)
        for p in selection.pulls:
            self._emit(
                judge(
                    Case(
                        p,
                        coverage,
                        clock.source != "none",
                        edge_icmp=icmp_for(p.edge, edge_icmp.icmp),
                        origin_icmp=icmp_for(p.origin, origin_icmp.icmp) if p.origin else (),
                        edge_cite=self.edge_cite,
                    )
                )
            )
        swapped_by_ttl = self.swapped_by_ttl()
        return StreamEnd(
            clock,
            coverage,
            sorted(alone + unpaired, key=self._order),
            self.others,
            self.judged,
            self.assumed,
            swapped_by_ttl,
            self.released,
        )


def _why(e: Connection, o: Connection) -> str:
    return ", ".join(_score(e, o, 0)[1])


def _lowest(values: list[int]) -> list[int]:
    return [min(values)] if values else []


def _estimate_from(forward: list[int], reverse: list[int], pairs: int) -> ClockOffset:
    return offset_from(min(forward, default=None), min(reverse, default=None), pairs)


def _running(start: Recorded | None, clock_ns: int, offset_ns: int) -> Window:
    """What a capture has shown so far, on the edge's clock: from its start to its
    latest packet (a given or recorded end where there is one)."""
    own_start = start.start_ns if start is not None else None
    end = clock_ns
    if start is not None and start.end_ns is not None and start.start_source == "given":
        end = start.end_ns
    shift = -offset_ns
    return Window(
        None if own_start is None else own_start + shift,
        end + shift,
        start.start_source if start is not None else "first packet",
        "read so far",
        end + shift,
        False,
    )
