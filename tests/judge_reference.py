"""judge.py as it was before the core's (core/src/compare/judge.rs): the reference
tests/test_judge_core.py holds the core to, and the stream reference's.

Stage 5, judge: ``Case`` (a pair and the captures' coverage) -> ``Verdict``.

A pure decision table (DESIGN.md, "Outcomes"): ``RULES`` are tried in precedence
order and the first that answers wins; each is one small function per outcome
family that returns a verdict or nothing. Every verdict cites the packets that
decide it, from both captures where there are two (an absence is cited too, with the
time the packet was due), and its sentence comes from the catalogue in ``explain``.

No verdict rests on the absence of a packet that a capture could not have seen
(``coverage``): such a connection is ``inconclusive`` and says why; one that rests
on a capture's assumed end says so in ``assumes``. With the edge capture alone the
culprit is ``unknown`` unless that capture proves it; RSTs whose TTL or IP ID do not
fit the server's SYN-ACK are reported as hints (Weaver, Sommer, Paxson, NDSS 2009).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from pcapdiff.coverage import Coverage, Window, duration
from pcapdiff.explain import REASONS, explain
from pcapdiff.model import (
    FILE_BITS,
    Connection,
    Culprit,
    Evidence,
    Exchange,
    IcmpError,
    Outcome,
    Pair,
    Request,
    Reset,
    Response,
    Side,
    TlsAlert,
    Verdict,
)

from .coverage_reference import DELAY_MARGIN_NS

EDGE, ORIGIN = Side.EDGE, Side.ORIGIN
TTL_SLACK = 2  # routes wobble by a hop or two; an injector is usually further off
MAX_ICMP_CITED = 3  # per capture: the first few say where; more say nothing new
MAX_HINTS = 8  # a flood of RSTs must not become a flood of sentences


class Check(NamedTuple):
    """Would a capture have seen a packet due in [due_from, due_until] (edge clock)?"""

    covered: bool
    capture: Side
    what: str  # "the SYN", "the origin's answer"
    due_from_ns: int
    due_until_ns: int
    window: Window
    assumption: str  # non-empty: covered only if the capture ran past its last packet


@dataclass(slots=True)
class Case:
    """One edge connection attempt, its origin twin, and when each capture ran."""

    pair: Pair
    coverage: Coverage
    clock_known: bool = True  # False: no pair estimated the offset, assumed zero
    checks: list[Check] = field(default_factory=list)  # the coverage a verdict rests on
    # ICMP errors each capture holds about this connection's packets
    edge_icmp: tuple[IcmpError, ...] = ()
    origin_icmp: tuple[IcmpError, ...] = ()
    # how the edge capture names a frame (several files: "FILE#N"), for hints
    edge_cite: Callable[[int], int | str] = int

    @property
    def edge(self) -> Connection:
        return self.pair.edge

    @property
    def origin(self) -> Connection | None:
        return self.pair.origin

    @property
    def have_origin(self) -> bool:
        return self.coverage.origin is not None

    def to_origin_clock(self, edge_ns: int) -> int:
        return edge_ns + self.coverage.offset_ns

    def to_edge_clock(self, origin_ns: int) -> int:
        return origin_ns - self.coverage.offset_ns

    # --- coverage: could the other capture have seen it? -----------------------------

    def _check(self, side: Side, what: str, due_from: int, due_until: int) -> Check:
        window = self.coverage.edge if side is EDGE else self.coverage.origin
        assert window is not None
        covered = window.covers(due_from, due_until)
        assumption = ""
        if covered and window.assumed_for(due_until):
            other = "origin" if side is EDGE else "edge"
            assumption = (
                f"that the {side.value} capture, which recorded no end, was still running "
                f"when {what} was due: it is taken to have run as long as the {other} "
                f"capture (--{side.value}-window START,END says when it ran)"
            )
        check = Check(covered, side, what, due_from, due_until, window, assumption)
        self.checks.append(check)
        return check

    def origin_sees(self, sent_at_edge_ns: int, what: str) -> Check:
        """Would the origin capture hold a packet the edge sent at this time?"""
        return self._check(
            ORIGIN, what, sent_at_edge_ns, sent_at_edge_ns + self.coverage.delays.forward_ns
        )

    def origin_saw_sending(self, arrived_at_edge_ns: int, what: str) -> Check:
        """Would the origin capture show the origin sending what reached the edge then?
        Not before the edge's SYN was sent: nothing answers a connection before it."""
        earliest = max(
            arrived_at_edge_ns - self.coverage.delays.reverse_ns, self.edge.syns[0].ts_ns
        )
        return self._check(ORIGIN, what, min(earliest, arrived_at_edge_ns), arrived_at_edge_ns)

    def origin_ran(self, from_ns: int, until_ns: int, what: str) -> Check:
        return self._check(ORIGIN, what, from_ns, until_ns)

    def edge_sees(self, sent_at_origin_ns: int, what: str) -> Check:
        """Would the edge capture hold a packet the origin sent at this (origin) time?"""
        sent = self.to_edge_clock(sent_at_origin_ns)
        return self._check(EDGE, what, sent, sent + self.coverage.delays.reverse_ns)

    def edge_ran(self, from_ns: int, until_ns: int, what: str) -> Check:
        return self._check(EDGE, what, from_ns, until_ns)

    # --- verdicts ----------------------------------------------------------------------

    def verdict(
        self, reason: str, evidence: list[Evidence], facts: dict[str, str] | None = None
    ) -> Verdict:
        spec = REASONS[reason]
        assumes = tuple(dict.fromkeys(c.assumption for c in self.checks if c.assumption))
        if not self.clock_known and self.have_origin and self.checks:
            assumes += (
                "that the two hosts' clocks agree: no pair of connections could estimate "
                "the offset (--clock-offset sets it)",
            )
        text = explain(reason, {"port": str(self.edge.server.port), **(facts or {})})
        if assumes:
            text += " Assumes " + "; and ".join(assumes) + "."
        evidence = list(evidence)
        cited = {(ev.capture, ev.frame) for ev in evidence}
        for side, errors in ((EDGE, self.edge_icmp), (ORIGIN, self.origin_icmp)):
            alike: dict[tuple[str, str, int | None], list[IcmpError]] = {}
            for err in errors:
                alike.setdefault((err.sender, err.kind, err.mtu), []).append(err)
            for same in list(alike.values())[:MAX_ICMP_CITED]:
                if (side, same[0].frame) not in cited:
                    evidence.append(_icmp(same[0], side, len(same)))
        hints = injection_hints(self.edge, self.edge_cite)
        for rewrite in (
            rewritten_request(self.edge, self.origin),
            rewritten_response(self.edge, self.origin),
        ):
            if rewrite is not None:
                evidence.append(rewrite[0])
                hints += (rewrite[1],)
        return Verdict(
            self.pair,
            spec.outcome,
            spec.culprit,
            tuple(evidence),
            text,
            hints,
            reason,
            assumes,
        )

    def not_covered(self, check: Check, evidence: list[Evidence]) -> Verdict:
        """Inconclusive: the deciding packet fell outside what a capture saw."""
        w = check.window
        hole = w.hole_in(check.due_from_ns, check.due_until_ns)
        if hole is not None:
            reason = f"{check.capture.value}_file_missing"
        elif check.capture is EDGE:
            reason = "edge_capture_ended"
        elif w.start_ns is None or w.start_ns > check.due_from_ns:
            reason = "origin_not_running"
        else:
            reason = "origin_capture_ended"
        to_side = self.to_origin_clock if check.capture is ORIGIN else (lambda t: t)
        due = (to_side(check.due_from_ns), to_side(check.due_until_ns))
        if hole is not None:
            when = f"no file of the capture holds the {duration(hole[1] - hole[0])} around then"
        elif w.start_ns is None or w.end_ns is None:
            when = "the capture holds nothing that says when it ran"
        elif w.start_ns > check.due_from_ns:
            when = f"the capture started {duration(w.start_ns - check.due_from_ns)} too late"
        elif w.end_ns < check.due_from_ns:
            when = f"the capture had ended {duration(check.due_from_ns - w.end_ns)} before"
        else:
            when = f"the capture ended {duration(check.due_until_ns - w.end_ns)} too soon"
        evidence = [
            *evidence,
            Evidence(check.capture, None, None, f"{check.what} was due here: not covered", due),
        ]
        self.checks.clear()  # an inconclusive verdict assumes nothing
        return self.verdict(reason, evidence, {"what": check.what, "when": when})

    def absent(self, check: Check, what: str) -> Evidence:
        """The cited absence of a packet, with the time it was due (that capture's clock)."""
        if check.capture is ORIGIN:
            due = (
                self.to_origin_clock(check.due_from_ns),
                self.to_origin_clock(check.due_until_ns),
            )
        else:
            due = (check.due_from_ns, check.due_until_ns)
        return Evidence(check.capture, None, None, what, due)


# --- evidence ----------------------------------------------------------------------------


def _syn(conn: Connection, side: Side, what: str) -> Evidence:
    s = conn.syns[0]
    sent = conn.count("syns")
    retries = f" (+{sent - 1} retransmits)" if sent > 1 else ""
    return Evidence(side, s.frame, s.ts_ns, what + retries)


def _request_text(r: Request | None) -> str:
    if r is not None and r.kind == "http":
        return f": {r.method} {r.host}{r.target}"
    if r is not None and r.kind == "tls":
        return f": TLS ClientHello SNI {r.host or '-'}"
    return ""


def _request(conn: Connection, side: Side, what: str) -> Evidence:
    r = conn.request
    frame = r.frame if r is not None else None
    ts = r.ts_ns if r is not None else None
    return Evidence(side, frame, ts, what + _request_text(r))


def _response(conn: Connection, side: Side, what: str) -> Evidence:
    r = conn.response
    return Evidence(
        side,
        r.frame if r is not None else None,
        r.ts_ns if r is not None else conn.server_sent.last_ts_ns,
        what.format(response=_describe(r)),
    )


def _rst(r: Reset, side: Side, what: str) -> Evidence:
    return Evidence(side, r.frame, r.ts_ns, f"{what} (TTL {r.ttl})")


def _alert(a: TlsAlert, side: Side, who: str) -> Evidence:
    return Evidence(side, a.frame, a.ts_ns, f"{who} sent TLS alert {a.alert}")


def _icmp(err: IcmpError, side: Side, times: int = 1) -> Evidence:
    mtu = f" (MTU {err.mtu})" if err.mtu else ""
    again = f", {times} times" if times > 1 else ""
    return Evidence(
        side,
        err.frame,
        err.ts_ns,
        f"ICMP {err.kind}{mtu} from {err.sender} about {err.quoted_src}:{err.quoted_sport} "
        f"-> {err.quoted_dst}:{err.quoted_dport}{again}",
    )


def _describe(r: Response | None) -> str:
    if r is None:
        return "server data"
    if r.kind == "http":
        return f"response {r.status} {r.reason}".strip()
    if r.kind == "tls":
        return f"ServerHello {r.tls_version}".strip()
    return "server data"


def _server_resets(conn: Connection | None) -> list[Reset]:
    return [r for r in conn.resets if r.sender == "server"] if conn is not None else []


def _client_resets(conn: Connection | None) -> list[Reset]:
    return [r for r in conn.resets if r.sender == "client"] if conn is not None else []


def _is_tls(conn: Connection) -> bool:
    return conn.request is not None and conn.request.kind == "tls"


def _framed(conn: Connection) -> bool:
    """Its messages' framing is known (HTTP/1.x or TLS records, no hole in them)."""
    return conn.exchange is not None and not conn.exchange.problem


def _asked(conn: Connection) -> bool:
    """The client sent a request: HTTP bytes, or TLS application data after the handshake."""
    if _is_tls(conn) and _framed(conn):
        assert conn.exchange is not None
        return conn.exchange.requests > 0
    return conn.client_sent.payload_bytes > 0


def _got_answer(conn: Connection) -> bool:
    """The server answered: HTTP bytes, or TLS application data (tickets excepted)."""
    if _is_tls(conn) and _framed(conn):
        assert conn.exchange is not None
        return conn.exchange.responses > 0
    return conn.server_sent.payload_bytes > 0


def _fully_answered(conn: Connection) -> bool:
    """Every request got its whole answer (by its framing; without framing: any data)."""
    x = conn.exchange
    if x is None or x.problem:
        return _got_answer(conn)
    return x.responses >= x.requests and not x.response_bytes


def _answer_ts(conn: Connection) -> int | None:
    x = conn.exchange
    if _is_tls(conn) and x is not None and x.answer_ts_ns is not None:
        return x.answer_ts_ns
    if conn.response is not None and conn.response.ts_ns is not None:
        return conn.response.ts_ns
    return conn.server_sent.last_ts_ns


def _progress(x: Exchange | None) -> str:
    """How far the answer had come: "after 1,448 of 52,317 response bytes"."""
    if x is None:
        return "before the response"
    if x.response_bytes:
        if x.response_expected:
            return f"after {x.response_bytes:,} of {x.response_expected:,} response bytes"
        return f"after {x.response_bytes:,} response bytes"
    if x.responses == 0:
        return "before any response"
    return f"before the response to request {x.responses + 1} of {x.requests}"


def _request_ts(conn: Connection) -> int:
    """When the client's first data was captured (its request), else its handshake."""
    if conn.request is not None and conn.request.ts_ns is not None:
        return conn.request.ts_ns
    return (conn.synacks or conn.syns)[-1].ts_ns


def _gave_up(conn: Connection, after_ns: int) -> int | None:
    """When the client gave up on the connection: its first FIN or RST after ``after_ns``."""
    times = [r.ts_ns for r in _client_resets(conn) if r.ts_ns >= after_ns]
    fin = conn.client_sent.fin_ts_ns
    if fin is not None and fin >= after_ns:
        times.append(fin)
    return min(times) if times else None


def _request_fate(case: Case) -> tuple[str, list[Evidence]]:
    """Whether the request reached the origin, as a clause and its evidence."""
    o = case.origin
    if o is not None and o.client_sent.payload_bytes > 0:
        return (
            "the request did reach the origin",
            [_request(o, ORIGIN, "origin received the request")],
        )
    check = case.origin_sees(_request_ts(case.edge), "the request")
    if not check.covered:
        return (
            "whether the request reached the origin is not known: its capture did not run then",
            [],
        )
    return "the request never reached the origin", [
        case.absent(check, "the request never reached the origin")
    ]


# --- hints ---------------------------------------------------------------------------


def rewritten_request(edge: Connection, origin: Connection | None) -> tuple[Evidence, str] | None:
    """The request the origin received is not the one the edge sent (method, Host or
    path changed on the way): a transparent proxy or load balancer in the path. An
    evidence line for the origin's request and a hint; `pcapdiff flows EDGE ORIGIN`
    shows every header."""
    if origin is None or edge.request is None or origin.request is None:
        return None
    sent, got = edge.request, origin.request
    if sent.kind != "http" or got.kind != "http":
        return None
    changed = [
        f"{name} {a!r} -> {b!r}"
        for name, a, b in (
            ("method", sent.method, got.method),
            ("Host", sent.host, got.host),
            ("path", sent.target, got.target),
        )
        if a != b
    ]
    if not changed:
        return None
    what = (
        f"origin received the request modified in transit ({', '.join(changed)}): "
        f"{got.method} {got.host}{got.target}"
    )
    hint = (
        f"the request was rewritten between the edge and the origin ({', '.join(changed)}): "
        "a transparent proxy or load balancer in the path; `pcapdiff flows EDGE ORIGIN` "
        "shows every header"
    )
    return Evidence(ORIGIN, got.frame, got.ts_ns, what), hint


def rewritten_response(edge: Connection, origin: Connection | None) -> tuple[Evidence, str] | None:
    """The answer the edge received is not the one the origin sent (its status line
    changed on the way): something in the path rewrote it, a hijack that edits rather
    than replaces. Evidence at the edge's frame and a hint."""
    if origin is None or edge.response is None or origin.response is None:
        return None
    sent, got = origin.response, edge.response
    if sent.kind != "http" or got.kind != "http":
        return None
    if (sent.status, sent.reason) == (got.status, got.reason):
        return None
    change = f"status {sent.status} {sent.reason!r} -> {got.status} {got.reason!r}"
    what = f"edge received the response modified in transit ({change})"
    hint = (
        f"the response was rewritten between the origin and the edge ({change}): "
        "something in the path edits the origin's answers; `pcapdiff flows EDGE ORIGIN` "
        "shows every header"
    )
    return Evidence(EDGE, got.frame, got.ts_ns, what), hint


def injection_hints(conn: Connection, cite: Callable[[int], int | str] = int) -> tuple[str, ...]:
    """RSTs 'from the server' that do not look like the server's own packets; each
    sentence once, at most MAX_HINTS. ``cite`` names frames of a capture of several
    files (``CaptureSummary.cite``)."""
    hints: list[str] = []
    rsts = _server_resets(conn)
    if conn.synacks and rsts:
        synack = conn.synacks[0]
        # One sentence per kind of mismatch: five RSTs with the same TTL are one hint
        # naming five frames, not five hints that differ only in the frame number.
        alike: dict[tuple[str, int], list[Reset]] = {}
        for r in rsts:
            if abs(r.ttl - synack.ttl) > TTL_SLACK:
                alike.setdefault(("far", r.ttl), []).append(r)
            elif r.ttl != synack.ttl:
                alike.setdefault(("near", r.ttl), []).append(r)
            elif r.ip_id > 0 and synack.ip_id > 0 and (r.ip_id - synack.ip_id) % 65536 > 4096:
                alike.setdefault(("ip_id", 0), []).append(r)
        for (kind, ttl), group in alike.items():
            frames = _frames(group, cite)
            if kind == "ip_id":
                ids = ", ".join(str(r.ip_id) for r in group[:MAX_FRAMES_NAMED])
                hints.append(
                    f"{frames} {'has' if len(group) == 1 else 'have'} IP ID {ids}, far from "
                    f"the SYN-ACK's {synack.ip_id} (frame {cite(synack.frame)}): possibly "
                    "injected"
                )
                continue
            why = (
                "likely injected by a device in the path"
                if kind == "far"
                else "possibly sent by a device close to the server (or the route changed)"
            )
            hints.append(
                f"{frames} {'has' if len(group) == 1 else 'have'} TTL {ttl}, the server's "
                f"SYN-ACK frame {cite(synack.frame)} had {synack.ttl}: {why}"
            )
    if rsts and conn.response is not None and _before(rsts[0], conn.response):
        hints.append(
            f"the server's response (frame {cite(conn.response.frame)}) came after its RST "
            f"(frame {cite(rsts[0].frame)}): the RST was not the server's; likely injected, "
            "racing the real answer"
        )
    for a, b in itertools.pairwise(rsts):
        if b.ts_ns - a.ts_ns < 100_000_000 and a.seq != b.seq:
            hints.append(
                f"back-to-back RSTs (frames {cite(a.frame)}, {cite(b.frame)}) with jumping "
                f"sequence numbers {a.seq} -> {b.seq}: a typical injector"
            )
            break
    return tuple(dict.fromkeys(hints))[:MAX_HINTS]


MAX_FRAMES_NAMED = 5


def _frames(resets: list[Reset], cite: Callable[[int], int | str]) -> str:
    """'RST frame 12', 'RSTs frames 12, 14, 16', 'RSTs frames 12, 14, .. (9 in all)'."""
    if len(resets) == 1:
        return f"RST frame {cite(resets[0].frame)}"
    named = ", ".join(str(cite(r.frame)) for r in resets[:MAX_FRAMES_NAMED])
    more = f", .. ({len(resets)} in all)" if len(resets) > MAX_FRAMES_NAMED else ""
    return f"RSTs frames {named}{more}"


def _before(a: Response | Reset, b: Response | Reset) -> bool:
    """Was A captured before B? Frame order in one file; across files (a capture
    read from several), the timestamps."""
    if a.frame >> FILE_BITS == b.frame >> FILE_BITS or a.ts_ns is None or b.ts_ns is None:
        return a.frame < b.frame
    return a.ts_ns < b.ts_ns


# --- the rules, in precedence order --------------------------------------------------

Rule = Callable[[Case], "Verdict | None"]


def _origin_not_covering_syn(case: Case) -> Verdict | None:
    """An unpaired attempt the origin capture could not have seen: nothing to say."""
    if not case.have_origin or case.origin is not None:
        return None
    check = case.origin_sees(case.edge.syns[0].ts_ns, "the SYN")
    if check.covered:
        return None
    return case.not_covered(check, [_syn(case.edge, EDGE, "edge sent SYN")])


def _tls_failed(case: Case) -> Verdict | None:
    """525: the ClientHello was sent and the handshake ended without a ServerHello, or
    with a fatal alert (RSTs after an alert are its consequence)."""
    e, o = case.edge, case.origin
    if e.request is None or e.request.kind != "tls" or not _handshake_failed(e):
        return None
    ev = [_request(e, EDGE, "edge sent ClientHello")]
    ev += [_alert(a, EDGE, a.sender) for a in e.tls_alerts]
    ev += [_rst(r, EDGE, "RST from server") for r in _server_resets(e)[:1]]
    fatal = [a for a in e.tls_alerts if a.alert.startswith("fatal")]
    edge_refused = bool(fatal) and fatal[0].sender == "client"
    facts = {"alert": fatal[0].alert if fatal else ""}
    if not case.have_origin:
        reason = (
            "edge_only_tls_edge_refused_certificate" if edge_refused else "edge_only_tls_failed"
        )
        return case.verdict(reason, ev, facts)
    if o is None or o.request is None or o.request.kind != "tls":
        check = case.origin_sees(_request_ts(e), "the ClientHello")
        if not check.covered:
            return case.not_covered(check, ev)
        ev.append(case.absent(check, "no ClientHello in the origin capture"))
        return case.verdict("tls_path_intercepted", ev)
    ev.append(_request(o, ORIGIN, "origin received ClientHello"))
    origin_alerts = [a for a in o.tls_alerts if a.sender == "server"]
    ev += [_alert(a, ORIGIN, "origin") for a in origin_alerts]
    if edge_refused and not origin_alerts:
        # The origin sent its ServerHello and certificate, and the edge itself refused
        # them (unknown_ca, bad_certificate, certificate_expired, ...): the origin's TLS
        # set-up is at fault, not the path.
        if o.response is not None and o.response.kind == "tls":
            ev.append(_response(o, ORIGIN, "origin sent its {response}"))
        return case.verdict("tls_edge_refused_certificate", ev, facts)
    if origin_alerts:
        alert = origin_alerts[0].alert
        offered = e.request.version or "an unknown version"
        return case.verdict(_tls_alert_reason(alert), ev, {"alert": alert, "offered": offered})
    if _server_resets(o) or o.server_sent.fin_frames:
        ev += [_rst(r, ORIGIN, "origin sent RST") for r in _server_resets(o)[:1]]
        return case.verdict("tls_origin_closed", ev)
    failed_at = max(
        [a.ts_ns for a in e.tls_alerts] + [r.ts_ns for r in _server_resets(e)] + [_request_ts(e)]
    )
    check = case.origin_saw_sending(failed_at, "the origin's end of the handshake")
    if not check.covered:
        return case.not_covered(check, ev)
    return case.verdict("tls_path_ended", ev)


def _tls_alert_reason(alert: str) -> str:
    """The catalogue entry for an origin's alert ("fatal protocol_version", ...)."""
    if alert.endswith("protocol_version"):
        return "tls_origin_protocol_version"
    if alert.endswith(("handshake_failure", "insufficient_security")):
        return "tls_origin_no_common_parameters"
    if alert.endswith("unrecognized_name"):
        return "tls_origin_unrecognized_name"
    return "tls_origin_refused"


def _handshake_failed(e: Connection) -> bool:
    if any(a.alert.startswith("fatal") for a in e.tls_alerts):
        return True
    no_hello = e.response is None or e.response.kind != "tls" or bool(e.response.alert)
    ended = bool(_server_resets(e) or e.server_sent.fin_frames)
    return no_hello and ended


def _rst_answers_syn(case: Case) -> Verdict | None:
    """521: the SYN was answered with a RST."""
    e, o = case.edge, case.origin
    edge_rsts = _server_resets(e)
    if e.synacks or not edge_rsts:
        return None
    ev = [_syn(e, EDGE, "edge sent SYN"), _rst(edge_rsts[0], EDGE, "RST answered the SYN")]
    if not case.have_origin:
        return case.verdict("edge_only_refused", ev)
    origin_rsts = _server_resets(o)
    if origin_rsts:
        ev.append(_rst(origin_rsts[0], ORIGIN, "origin sent the RST"))
        return case.verdict("origin_refused", ev)
    if o is None:
        ev.append(
            case.absent(
                case.origin_sees(e.syns[0].ts_ns, "the SYN"), "the SYN never reached the origin"
            )
        )
        return case.verdict("path_rejected", ev)
    check = case.origin_saw_sending(edge_rsts[0].ts_ns, "the origin's RST")
    if not check.covered:
        return case.not_covered(check, ev)
    ev.append(_syn(o, ORIGIN, "origin saw the SYN but sent no RST"))
    return case.verdict("path_rejected", ev)


def _no_synack(case: Case) -> Verdict | None:
    """522: no answer to the SYN (the edge alone: no_synack)."""
    e, o = case.edge, case.origin
    if e.synacks or _server_resets(e):
        return None
    ev = [_syn(e, EDGE, "edge sent SYN, no answer")]
    refusal = next(
        (
            err
            for err in case.edge_icmp
            if (err.quoted_src, err.quoted_sport) == e.client and err.quoted_seq == e.client_isn
        ),
        None,
    )
    if refusal is not None:  # an ICMP error about the SYN says where it ended
        ev.append(_icmp(refusal, EDGE))
        facts = {"router": refusal.sender, "kind": refusal.kind}
        if refusal.sender != e.server.addr:
            return case.verdict("syn_unreachable", ev, facts)
        if not case.have_origin:
            return case.verdict("edge_only_refused", ev)
        if o is not None:
            ev.append(_syn(o, ORIGIN, "origin received the SYN"))
            return case.verdict("origin_refused_by_icmp", ev, facts)
        return case.verdict("path_rejected", ev)
    first = e.syns[0].ts_ns
    due = case.edge_ran(first, first + case.coverage.round_trip_ns, "an answer to the SYN")
    if not due.covered:
        return case.not_covered(due, ev)
    if not case.have_origin:
        return case.verdict("edge_only_no_synack", ev)
    if o is None:
        check = case.origin_sees(first, "the SYN")
        ev.append(case.absent(check, "no SYN from this connection at the origin"))
        return case.verdict("syn_dropped_in_path", ev)
    ev.append(_syn(o, ORIGIN, "origin received the SYN"))
    if o.synacks:
        synack = o.synacks[0]
        check = case.edge_sees(synack.ts_ns, "the origin's SYN-ACK")
        if not check.covered:
            return case.not_covered(check, ev)
        ev.append(Evidence(ORIGIN, synack.frame, synack.ts_ns, "origin sent SYN-ACK"))
        ev.append(case.absent(check, "the SYN-ACK never reached the edge"))
        return case.verdict("synack_lost", ev)
    if _server_resets(o):
        rst = _server_resets(o)[0]
        check = case.edge_sees(rst.ts_ns, "the origin's RST")
        if not check.covered:
            return case.not_covered(check, ev)
        ev.append(_rst(rst, ORIGIN, "origin sent RST"))
        ev.append(case.absent(check, "the RST never reached the edge"))
        return case.verdict("refusal_lost", ev)
    # A listening kernel answers a SYN at once: the capture must have run a little past
    # the first SYN it saw (retransmits that came later only add to the proof).
    first_syn = case.to_edge_clock(o.syns[0].ts_ns)
    check = case.origin_ran(first_syn, first_syn + DELAY_MARGIN_NS, "the origin's SYN-ACK")
    if not check.covered:
        return case.not_covered(check, ev)
    ev.append(case.absent(check, "origin sent no SYN-ACK"))
    return case.verdict("syn_not_answered", ev)


def _reset_before_request(case: Case) -> Verdict | None:
    """521: the handshake completed, then a server RST before any request."""
    e, o = case.edge, case.origin
    rsts = _server_resets(e)
    if _asked(e) or not rsts:
        return None
    ev = [
        _syn(e, EDGE, "handshake completed"),
        _rst(rsts[0], EDGE, "RST from server before any request"),
    ]
    if not case.have_origin:
        return case.verdict("edge_only_reset_before_request", ev)
    if _server_resets(o):
        ev.append(_rst(_server_resets(o)[0], ORIGIN, "origin sent the RST"))
        return case.verdict("origin_reset_before_request", ev)
    check = case.origin_saw_sending(rsts[0].ts_ns, "the origin's RST")
    if not check.covered:
        return case.not_covered(check, ev)
    ev.append(case.absent(check, "origin sent no RST"))
    return case.verdict("path_reset_before_request", ev)


def _no_request(case: Case) -> Verdict | None:
    e = case.edge
    if _asked(e):
        return None
    closed = bool(e.client_sent.fin_frames or e.server_sent.fin_frames or e.resets)
    return case.verdict(
        "no_request" if closed else "idle_at_capture_end", [_syn(e, EDGE, "handshake completed")]
    )


def _reset_before_response(case: Case) -> Verdict | None:
    """520: a server RST after the request and before the response: the edge's TCP
    drops a late response (and answers it with a RST of its own)."""
    e, o = case.edge, case.origin
    rsts = _server_resets(e)
    if not rsts:
        return None
    x = e.exchange_at_rst
    if x is not None and not x.problem:
        if x.requests and x.responses >= x.requests:
            return None  # every request was answered in full: the RST ends a done exchange
    elif e.response is not None and _before(e.response, rsts[0]):
        return None  # no framing to go by: the answer had begun, take it as answered
    progress = _progress(x if x is not None and not x.problem else None)
    ev = [
        _request(e, EDGE, "edge sent the request"),
        _rst(rsts[0], EDGE, f"RST from server after the request, {progress}"),
    ]
    if e.response is not None:
        ev.append(_response(e, EDGE, "{response} came after the RST, too late"))
    if e.synacks:
        rst, synack = rsts[0], e.synacks[0]
        ev.append(
            Evidence(
                EDGE,
                synack.frame,
                synack.ts_ns,
                f"the origin's SYN-ACK had TTL {synack.ttl}, IP ID {synack.ip_id}; "
                f"the RST TTL {rst.ttl}, IP ID {rst.ip_id}",
            )
        )
    facts = {"progress": progress}
    if not case.have_origin:
        return case.verdict("edge_only_reset_after_request", ev, facts)
    if _server_resets(o):
        ev.append(_rst(_server_resets(o)[0], ORIGIN, "origin sent the RST"))
        return case.verdict("origin_reset_after_request", ev, facts)
    check = case.origin_saw_sending(rsts[0].ts_ns, "the origin's RST")
    if not check.covered:
        return case.not_covered(check, ev)
    fate, fate_ev = _request_fate(case)
    ev += fate_ev
    ev.append(case.absent(check, "origin sent no RST"))
    if o is not None and o.response is not None:
        ev.append(_response(o, ORIGIN, "origin sent {response}"))
    return case.verdict("reset_injected_after_request", ev, {"request_fate": fate})


def _invalid_response(case: Case) -> Verdict | None:
    """520: an answer that is not HTTP on an HTTP pull, or one the server's close cut
    short of its Content-Length or chunked end."""
    e, o = case.edge, case.origin
    kind, problem = _answer_problem(e)
    if not kind:
        return None
    ev = [
        _request(e, EDGE, "edge sent the request"),
        _response(e, EDGE, f"edge got {{response}}: {problem}"),
    ]
    facts = {"problem": problem, "progress": _progress(e.exchange)}
    if not case.have_origin:
        return case.verdict("edge_only_invalid_response", ev, facts)
    origin_kind, origin_problem = _answer_problem(o) if o is not None else ("", "")
    if origin_kind:
        assert o is not None
        ev.append(_response(o, ORIGIN, f"origin sent {{response}}: {origin_problem}"))
        reason = (
            "origin_truncated_response" if origin_kind == "truncated" else "origin_invalid_response"
        )
        return case.verdict(
            reason, ev, {"problem": origin_problem, "progress": _progress(o.exchange)}
        )
    check = case.origin_saw_sending(_answer_ts(e) or _request_ts(e), "the origin's answer")
    if not check.covered:
        return case.not_covered(check, ev)
    if o is not None and o.response is not None:
        ev.append(_response(o, ORIGIN, "origin sent {response}"))
    return case.verdict("path_invalid_response", ev, facts)


def _answer_problem(conn: Connection) -> tuple[str, str]:
    """("invalid" or "truncated", what is wrong) with the server's answer, from its
    framing; ("", "") when nothing is."""
    x = conn.exchange
    http = conn.request is not None and conn.request.kind == "http"
    if x is None or not http or not conn.server_sent.payload_bytes:
        return "", ""
    if x.problem.startswith("invalid"):
        return "invalid", x.problem.removeprefix("invalid: ")
    if (
        not x.problem
        and x.response_bytes
        and conn.server_sent.fin_frames
        and not _server_resets(conn)
    ):
        return "truncated", "cut short by the server's close, " + _progress(x)
    return "", ""


def _answer_not_from_origin(case: Case) -> Verdict | None:
    """An answer the edge got that the origin never sent (an HTTP hijack)."""
    e, o = case.edge, case.origin
    if not case.have_origin or not _got_answer(e):
        return None
    if o is not None and _got_answer(o):
        return None
    answered_at = _answer_ts(e) or _request_ts(e)
    ev = [_request(e, EDGE, "edge sent the request"), _response(e, EDGE, "edge got {response}")]
    check = case.origin_saw_sending(answered_at, "the origin's answer")
    if not check.covered:
        return case.not_covered(check, ev)
    fate, fate_ev = _request_fate(case)
    ev += fate_ev
    ev.append(case.absent(check, "the origin sent no answer"))
    return case.verdict("answer_not_from_origin", ev, {"request_fate": fate})


def _no_answer(case: Case) -> Verdict | None:
    """524: the request got no answer before the edge gave up (inside the capture)."""
    e, o = case.edge, case.origin
    if _got_answer(e):
        return None
    asked = _request_ts(e)
    ev = [_request(e, EDGE, "edge sent the request, no response came")]
    gave_up = _gave_up(e, asked)
    if gave_up is None:
        end = case.coverage.edge.end_ns
        gap = duration(end - asked) if end is not None else "an unknown time"
        return case.verdict("edge_still_waiting", ev, {"gap": gap})
    ev.append(_edge_gave_up(e, gave_up))
    facts = {"gap": duration(gave_up - asked)}
    if not case.have_origin:
        return case.verdict("edge_only_no_response", ev, facts)
    if o is None or not _asked(o):
        check = case.origin_sees(asked, "the request")
        if not check.covered:
            return case.not_covered(check, ev)
        ev.append(case.absent(check, "the request never reached the origin"))
        return case.verdict("request_lost", ev)
    ev.append(_request(o, ORIGIN, "origin received the request"))
    injected = [r for r in _client_resets(o) if not _client_resets(e)]
    if injected:
        ev.append(_rst(injected[0], ORIGIN, "origin got a RST the edge never sent"))
        return case.verdict("reset_injected_toward_origin", ev)
    if _got_answer(o):
        sent = _answer_ts(o)
        assert sent is not None
        ev.append(_response(o, ORIGIN, "origin sent {response}"))
        sent_edge = case.to_edge_clock(sent)
        delay = case.coverage.delays.reverse_ns
        if sent_edge >= gave_up:
            return case.verdict("origin_answered_late", ev, {"gap": duration(sent_edge - gave_up)})
        if gave_up < sent_edge + delay:
            return case.verdict(
                "response_in_flight",
                ev,
                {"gap": duration(gave_up - sent_edge), "delay": duration(delay)},
            )
        check = case.edge_sees(sent, "the origin's response")
        if not check.covered:
            return case.not_covered(check, ev)
        ev.append(case.absent(check, "the response never reached the edge"))
        too_big = _too_big(case, o)
        if too_big is not None:
            return case.verdict("response_blackholed", ev, too_big)
        return case.verdict("response_lost", ev)
    check = case.origin_ran(asked, gave_up, "the origin's response")
    if not check.covered:
        return case.not_covered(check, ev)
    ev.append(case.absent(check, "origin sent no response"))
    return case.verdict("origin_silent", ev, facts)


def _answer_incomplete(case: Case) -> Verdict | None:
    """Part of the answer came (or only the answer to an earlier request of a kept-alive
    connection), and the rest never did: 524 when the edge gave up, else the capture
    ended too early to say."""
    e, o = case.edge, case.origin
    if _fully_answered(e):
        return None
    asked = _request_ts(e)
    progress = _progress(e.exchange)
    ev = [
        _request(e, EDGE, "edge sent the request"),
        _response(e, EDGE, f"{{response}}, {progress}"),
    ]
    gave_up = _gave_up(e, asked)
    if gave_up is None:
        return case.verdict("edge_capture_ended_mid_response", ev, {"progress": progress})
    ev.append(_edge_gave_up(e, gave_up))
    facts = {"progress": progress, "gap": duration(gave_up - asked)}
    if not case.have_origin:
        return case.verdict("edge_only_no_response", ev, facts)
    if o is not None and _got_answer(o) and (_fully_answered(o) or _sent_more(o, e)):
        sent = o.server_sent.last_ts_ns
        assert sent is not None
        full = "in full" if _fully_answered(o) else "more of it than arrived"
        ev.append(_response(o, ORIGIN, f"origin sent {{response}}, {full}"))
        check = case.edge_sees(sent, "the rest of the origin's answer")
        if not check.covered:
            return case.not_covered(check, ev)
        ev.append(case.absent(check, "the rest of the answer never reached the edge"))
        too_big = _too_big(case, o)
        if too_big is not None:
            return case.verdict("response_blackholed", ev, too_big)
        return case.verdict("response_lost", ev)
    check = case.origin_ran(asked, gave_up, "the rest of the origin's answer")
    if not check.covered:
        return case.not_covered(check, ev)
    if o is not None and o.response is not None:
        ev.append(_response(o, ORIGIN, "origin sent {response}, " + _progress(o.exchange)))
    return case.verdict("origin_stalled", ev, facts)


def _too_big(case: Case, o: Connection) -> dict[str, str] | None:
    """A router told the origin its packets to the edge were too big: facts, or None."""
    for err in case.origin_icmp:
        if err.mtu and err.quoted_src == o.server.addr:
            return {"router": err.sender, "mtu": str(err.mtu)}
    return None


def _sent_more(o: Connection, e: Connection) -> bool:
    """The origin sent more of its answer than reached the edge (retransmissions aside)."""
    sent = o.server_sent.payload_bytes - o.server_sent.retransmitted_bytes
    got = e.server_sent.payload_bytes - e.server_sent.retransmitted_bytes
    return sent > got


def _edge_gave_up(e: Connection, at_ns: int) -> Evidence:
    rst = next((r for r in _client_resets(e) if r.ts_ns == at_ns), None)
    if rst is not None:
        return _rst(rst, EDGE, "the edge gave up: RST")
    frame = e.client_sent.fin_frames[0] if e.client_sent.fin_frames else None
    return Evidence(EDGE, frame, at_ns, "the edge gave up: FIN")


def _answered(case: Case) -> Verdict:
    e, o = case.edge, case.origin
    ev = [_request(e, EDGE, "edge sent the request")]
    if e.response is not None:
        ev.append(_response(e, EDGE, "{response}"))
    if o is not None:
        ev.append(_request(o, ORIGIN, "origin received the request"))
        if o.response is not None:
            ev.append(_response(o, ORIGIN, "origin sent {response}"))
    closed = bool(e.client_sent.fin_frames or e.server_sent.fin_frames or e.resets)
    return case.verdict("answered" if closed else "answered_still_open", ev)


RULES: tuple[Rule, ...] = (
    _origin_not_covering_syn,
    _tls_failed,
    _rst_answers_syn,
    _no_synack,
    _reset_before_request,
    _no_request,
    _reset_before_response,
    _answer_not_from_origin,
    _invalid_response,
    _no_answer,
    _answer_incomplete,
    _answered,
)


def judge(case: Case) -> Verdict:
    """Decide what happened to one edge connection attempt, and whose fault it is."""
    verdict = next(v for rule in RULES if (v := rule(case)) is not None)
    return _on_weak_pair(case, verdict)


def _on_weak_pair(case: Case, verdict: Verdict) -> Verdict:
    """A weak pair blames no one; an ok verdict on one says what it rests on."""
    if case.pair.confidence != "weak":
        return verdict
    if verdict.culprit in (Culprit.ORIGIN, Culprit.PATH):
        case.checks.clear()
        return case.verdict(
            "weak_pair", list(verdict.evidence), {"matched_by": case.pair.matched_by}
        )
    if verdict.outcome is Outcome.OK:
        note = f"that the pairing, which rests only on {case.pair.matched_by}, is right"
        return verdict._replace(
            assumes=(*verdict.assumes, note),
            explanation=verdict.explanation + f" Assumes {note}.",
        )
    return verdict


__all__ = ["RULES", "Case", "Check", "injection_hints", "judge"]
