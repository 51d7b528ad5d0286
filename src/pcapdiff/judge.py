"""Stage 5, judge: ``Pair`` -> ``Verdict``. A pure decision table (DESIGN.md, "Outcomes").

Branches are tried in order and the first that fits wins. Every verdict cites the
packets that decide it, from both captures where there are two (an absence is cited
as evidence too), and says in one line what happened and what to check next.
With the edge capture alone the culprit is ``unknown`` unless that capture proves it;
RSTs whose TTL or IP ID do not fit the server's SYN-ACK are reported as hints
(Weaver, Sommer, Paxson, NDSS 2009), with the numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from .model import Connection, Culprit, Evidence, Outcome, Pair, Reset, Side, Verdict

EDGE, ORIGIN = Side.EDGE, Side.ORIGIN

# With the edge capture alone: what the symptom means and how to find the culprit.
EDGE_ONLY = {
    Outcome.SYN_NOT_RECEIVED: "The SYNs got no answer. Capture on the origin at the same time "
    "to tell a path drop from an origin firewall.",
    Outcome.RST_ON_CONNECT: "The SYN was answered with a RST: the port is closed at the origin "
    "or a firewall rejects the CDN. An origin capture tells which.",
    Outcome.RST_AFTER_REQUEST: "A RST came after the request. An origin capture tells whether "
    "the origin sent it or it was injected on the way.",
    Outcome.NO_RESPONSE: "No response before the edge gave up. An origin capture tells whether "
    "the origin was slow or its answer got lost.",
    Outcome.TLS_HANDSHAKE_FAILED: "The TLS handshake failed. Check the origin's certificate and "
    "TLS versions; an origin capture tells whether the ClientHello arrived.",
}
TTL_SLACK = 2  # routes wobble by a hop or two; an injector is usually further off


def _server_resets(conn: Connection) -> list[Reset]:
    return [r for r in conn.resets if r.sender == "server"]


def _client_resets(conn: Connection) -> list[Reset]:
    return [r for r in conn.resets if r.sender == "client"]


def _syn(conn: Connection, side: Side, what: str) -> Evidence:
    s = conn.syns[0]
    retries = f" (+{len(conn.syns) - 1} retransmits)" if len(conn.syns) > 1 else ""
    return Evidence(side, s.frame, s.ts_ns, what + retries)


def _request(conn: Connection, side: Side, what: str) -> Evidence:
    r = conn.request
    frame = r.frame if r is not None else None
    text = ""
    if r is not None and r.kind == "http":
        text = f": {r.method} {r.host}{r.target}"
    elif r is not None and r.kind == "tls":
        text = f": TLS ClientHello SNI {r.host or '-'}"
    return Evidence(side, frame, None, what + text)


def _rst(r: Reset, side: Side, what: str) -> Evidence:
    return Evidence(side, r.frame, r.ts_ns, f"{what} (TTL {r.ttl})")


def _absent(side: Side, what: str) -> Evidence:
    return Evidence(side, None, None, what)


def injection_hints(conn: Connection) -> tuple[str, ...]:
    """RSTs 'from the server' that do not look like the server's own packets."""
    hints = []
    rsts = _server_resets(conn)
    if conn.synacks and rsts:
        synack = conn.synacks[0]
        for r in rsts:
            if abs(r.ttl - synack.ttl) > TTL_SLACK:
                hints.append(
                    f"RST frame {r.frame} has TTL {r.ttl}, the server's SYN-ACK frame "
                    f"{synack.frame} had {synack.ttl}: likely injected by a device in the path"
                )
            elif r.ttl != synack.ttl:
                hints.append(
                    f"RST frame {r.frame} has TTL {r.ttl}, the server's SYN-ACK frame "
                    f"{synack.frame} had {synack.ttl}: possibly sent by a device close to "
                    "the server (or the route changed)"
                )
            elif r.ip_id > 0 and synack.ip_id > 0 and (r.ip_id - synack.ip_id) % 65536 > 4096:
                hints.append(
                    f"RST frame {r.frame} has IP ID {r.ip_id}, far from the SYN-ACK's "
                    f"{synack.ip_id} (frame {synack.frame}): possibly injected"
                )
    if rsts and conn.response is not None and conn.response.frame > rsts[0].frame:
        hints.append(
            f"the server's response (frame {conn.response.frame}) came after its RST "
            f"(frame {rsts[0].frame}): the RST was not the server's; likely injected, "
            "racing the real answer"
        )
    for a, b in itertools.pairwise(rsts):
        if b.ts_ns - a.ts_ns < 100_000_000 and a.seq != b.seq:
            hints.append(
                f"back-to-back RSTs (frames {a.frame}, {b.frame}) with jumping sequence "
                f"numbers {a.seq} -> {b.seq}: a typical injector"
            )
    return tuple(hints)


def judge(
    pair: Pair, *, have_origin: bool, origin_window: tuple[int, int] | None = None
) -> Verdict:
    """Decide what happened to one edge connection attempt, and whose fault it is.

    ``origin_window``: the time the origin capture covers, in edge clock (ns).
    """
    e, o = pair.edge, pair.origin
    hints = injection_hints(e)

    def verdict(
        outcome: Outcome, culprit: Culprit, evidence: list[Evidence], explanation: str
    ) -> Verdict:
        if not have_origin:  # say only what the edge capture shows
            evidence = [ev for ev in evidence if ev.capture is EDGE]
            if culprit is not Culprit.NONE:
                culprit = Culprit.UNKNOWN
                explanation = EDGE_ONLY.get(outcome, explanation)
        return Verdict(pair, outcome, culprit, tuple(evidence), explanation, hints)

    start = e.syns[0].ts_ns
    if (
        have_origin
        and o is None
        and origin_window is not None
        and not (origin_window[0] <= start <= origin_window[1])
    ):
        return verdict(
            Outcome.INCONCLUSIVE,
            Culprit.UNKNOWN,
            [_syn(e, EDGE, "SYN outside the time the origin capture covers")],
            "The origin capture did not run when this connection was attempted; "
            "capture on both hosts at the same time and compare again.",
        )

    server_rsts = _server_resets(e)
    sent_request = e.client_sent.payload_bytes > 0
    got_data = e.server_sent.payload_bytes > 0

    # 525: the TLS handshake failed. RSTs after an alert are its consequence.
    if e.request is not None and e.request.kind == "tls" and _tls_failed(e):
        ev = [_request(e, EDGE, "edge sent ClientHello")]
        ev += [Evidence(EDGE, f, None, f"{who} sent TLS alert {a}") for f, who, a in e.tls_alerts]
        ev += [_rst(r, EDGE, "RST from server") for r in server_rsts[:1]]
        if o is None or o.request is None or o.request.kind != "tls":
            ev.append(_absent(ORIGIN, "no ClientHello in the origin capture"))
            return verdict(
                Outcome.TLS_HANDSHAKE_FAILED,
                Culprit.PATH,
                ev,
                "The ClientHello never reached the origin but the edge got an "
                "answer: a device in the path (TLS inspection, SNI filter) ended "
                "the handshake. Show the carrier both captures.",
            )
        ev.append(_request(o, ORIGIN, "origin received ClientHello"))
        origin_alerts = [(f, a) for f, who, a in o.tls_alerts if who == "server"]
        ev += [Evidence(ORIGIN, f, None, f"origin sent TLS alert {a}") for f, a in origin_alerts]
        if origin_alerts or _server_resets(o) or o.server_sent.fin_frames:
            return verdict(
                Outcome.TLS_HANDSHAKE_FAILED,
                Culprit.ORIGIN,
                ev,
                _origin_refused_tls(origin_alerts[0][1] if origin_alerts else "", e),
            )
        edge_alerts = [a for _, who, a in e.tls_alerts if who == "client"]
        if o.response is not None and o.response.kind == "tls" and edge_alerts:
            # The origin answered with its ServerHello and certificate, and the edge
            # itself refused them (unknown_ca, bad_certificate, certificate_expired, ...):
            # the origin's TLS set-up is at fault, not the path.
            ev.append(
                Evidence(
                    ORIGIN,
                    o.response.frame,
                    None,
                    f"origin sent its ServerHello {o.response.tls_version}".strip(),
                )
            )
            return verdict(
                Outcome.TLS_HANDSHAKE_FAILED,
                Culprit.ORIGIN,
                ev,
                f"The edge refused the origin's certificate or TLS parameters "
                f"({edge_alerts[0]}): check the origin's certificate chain, its names (SNI) "
                "and expiry, and the TLS versions it offers.",
            )
        return verdict(
            Outcome.TLS_HANDSHAKE_FAILED,
            Culprit.PATH,
            ev,
            "The origin carried on with the handshake, but the edge saw it fail: "
            "something in the path changed or ended it.",
        )

    # 521: the SYN was answered with a RST.
    if not e.synacks and server_rsts:
        ev = [_syn(e, EDGE, "edge sent SYN"), _rst(server_rsts[0], EDGE, "RST answered the SYN")]
        origin_rsts = _server_resets(o) if o is not None else []
        if origin_rsts:
            ev.append(_rst(origin_rsts[0], ORIGIN, "origin sent the RST"))
            return verdict(
                Outcome.RST_ON_CONNECT,
                Culprit.ORIGIN,
                ev,
                f"Nothing listens on port {e.server.port} at the origin, or its "
                "firewall rejects the CDN: check the listening socket (ss -ltn) "
                "and the firewall's whitelist of CDN node addresses.",
            )
        ev.append(
            _syn(o, ORIGIN, "origin saw the SYN but sent no RST")
            if o is not None
            else _absent(ORIGIN, "the SYN never reached the origin")
        )
        return verdict(
            Outcome.RST_ON_CONNECT,
            Culprit.PATH,
            ev,
            "The RST did not come from the origin: a firewall in the path rejects "
            "the connection. Show the carrier or upstream firewall both captures.",
        )

    # 522: no answer to the SYN.
    if not e.synacks:
        ev = [_syn(e, EDGE, "edge sent SYN, no answer")]
        if not have_origin:
            return verdict(
                Outcome.SYN_NOT_RECEIVED,
                Culprit.UNKNOWN,
                ev,
                "The SYNs got no answer. Capture on the origin at the same time to "
                "tell a path drop from an origin firewall.",
            )
        if o is None:
            ev.append(_absent(ORIGIN, "no SYN from this connection at the origin"))
            return verdict(
                Outcome.SYN_NOT_RECEIVED,
                Culprit.PATH,
                ev,
                "The SYNs never reached the origin: an ISP or upstream firewall "
                "drops them. Give the carrier both captures.",
            )
        ev.append(_syn(o, ORIGIN, "origin received the SYN"))
        if o.synacks:
            ev.append(
                Evidence(ORIGIN, o.synacks[0].frame, o.synacks[0].ts_ns, "origin sent SYN-ACK")
            )
            return verdict(
                Outcome.SYNACK_NOT_RECEIVED,
                Culprit.PATH,
                ev,
                "The origin answered but the SYN-ACK never reached the edge: check "
                "the return path (asymmetric routing, a firewall on the way back).",
            )
        if _server_resets(o):
            ev.append(_rst(_server_resets(o)[0], ORIGIN, "origin sent RST"))
            return verdict(
                Outcome.SYNACK_NOT_RECEIVED,
                Culprit.PATH,
                ev,
                "The origin refused with a RST that never reached the edge: the "
                "port is closed at the origin, and the return path drops packets.",
            )
        ev.append(_absent(ORIGIN, "origin sent no SYN-ACK"))
        return verdict(
            Outcome.SYN_NOT_ANSWERED,
            Culprit.ORIGIN,
            ev,
            "The SYNs arrived but the origin never answered: a host firewall after "
            "the capture point (iptables DROP), a full accept backlog, or a hung "
            "service. Check the firewall's whitelist of CDN addresses first.",
        )

    if not sent_request:
        if server_rsts:
            ev = [_rst(server_rsts[0], EDGE, "RST from server before any request")]
            return _reset_verdict(verdict, e, o, Outcome.RST_ON_CONNECT, ev)
        return verdict(
            Outcome.OK,
            Culprit.NONE,
            [_syn(e, EDGE, "handshake completed")],
            "The connection was opened and closed without a request.",
        )

    # From here the edge sent a request.
    if have_origin and (o is None or o.client_sent.payload_bytes == 0):
        ev = [_request(e, EDGE, "edge sent the request")]
        if e.response is not None:
            ev.append(
                Evidence(
                    EDGE,
                    e.response.frame,
                    None,
                    f"edge got {_describe_response(e)} anyway",
                )
            )
        elif server_rsts:
            ev.append(_rst(server_rsts[0], EDGE, "edge got a RST"))
        ev.append(
            _absent(ORIGIN, "no connection from the edge at the origin")
            if o is None
            else _absent(ORIGIN, "origin saw the handshake but no request")
        )
        return verdict(
            Outcome.REQUEST_NOT_SEEN,
            Culprit.PATH,
            ev,
            "The request never reached the origin"
            + (
                " yet the edge got an answer: something in the path answers for the "
                "origin (transparent proxy, HTTP hijack)."
                if got_data
                else " and the edge got a RST in the origin's name: something in the "
                "path blocks it (firewall, IPS, censor)."
                if server_rsts
                else ": something in the path swallows it."
            )
            + " Give the carrier both captures.",
        )

    # A RST before the response ends the connection: the edge's TCP drops the late
    # response (and answers it with a RST of its own).
    if server_rsts and (e.response is None or server_rsts[0].frame < e.response.frame):
        ev = [
            _request(e, EDGE, "edge sent the request"),
            _rst(server_rsts[0], EDGE, "RST from server after the request"),
        ]
        if e.response is not None:
            ev.append(
                Evidence(
                    EDGE,
                    e.response.frame,
                    None,
                    f"{_describe_response(e)} came after the RST, too late",
                )
            )
        return _reset_verdict(verdict, e, o, Outcome.RST_AFTER_REQUEST, ev)

    if not got_data:
        ev = [_request(e, EDGE, "edge sent the request, no response came")]
        if o is not None:
            ev.append(_request(o, ORIGIN, "origin received the request"))
            injected = [r for r in _client_resets(o) if not _client_resets(e)]
            if injected:
                ev.append(_rst(injected[0], ORIGIN, "origin got a RST the edge never sent"))
                return verdict(
                    Outcome.NO_RESPONSE,
                    Culprit.PATH,
                    ev,
                    "A RST forged in the edge's name ended the connection at the "
                    "origin: a device in the path injects RSTs. Give the carrier "
                    "both captures.",
                )
            if o.server_sent.payload_bytes > 0:
                frame = o.response.frame if o.response is not None else None
                ev.append(Evidence(ORIGIN, frame, None, "origin sent a response"))
                return verdict(
                    Outcome.NO_RESPONSE,
                    Culprit.PATH,
                    ev,
                    "The origin answered but the response never reached the edge: "
                    "check the return path (MTU/fragmentation, a firewall).",
                )
            ev.append(_absent(ORIGIN, "origin sent no response"))
        return verdict(
            Outcome.NO_RESPONSE,
            Culprit.ORIGIN,
            ev,
            "The origin took the request but did not answer before the edge gave "
            "up: check the origin's processing time for this URL against the "
            "CDN's read timeout.",
        )

    ev = [_request(e, EDGE, "edge sent the request")]
    if e.response is not None:
        ev.append(Evidence(EDGE, e.response.frame, None, _describe_response(e)))
    if o is not None:
        ev.append(_request(o, ORIGIN, "origin received the request"))
        if o.response is not None:
            ev.append(
                Evidence(ORIGIN, o.response.frame, None, "origin sent " + _describe_response(o))
            )
    return verdict(Outcome.OK, Culprit.NONE, ev, "Request answered.")


def _tls_failed(e: Connection) -> bool:
    if any(a.startswith("fatal") for _, _, a in e.tls_alerts):
        return True
    no_hello = e.response is None or e.response.kind != "tls" or bool(e.response.alert)
    ended = bool(_server_resets(e) or e.server_sent.fin_frames)
    return no_hello and ended


def _origin_refused_tls(alert: str, e: Connection) -> str:
    """The next step, from the origin's alert ("fatal protocol_version", ...)."""
    offered = e.request.version if e.request is not None else ""
    if alert.endswith("protocol_version"):
        return (
            f"The origin refused the TLS versions the CDN offered ({alert}; ClientHello "
            f"up to {offered or 'an unknown version'}): allow on the origin a version the CDN's "
            "origin pull supports (TLS 1.2), or raise the CDN's maximum."
        )
    if alert.endswith(("handshake_failure", "insufficient_security")):
        return (
            f"The origin ended the handshake with a generic failure ({alert}), most often "
            "no cipher suite or signature algorithm in common: compare the ciphers the "
            "origin allows with the ClientHello, then its certificate for the SNI name."
        )
    if alert.endswith("unrecognized_name"):
        return (
            f"The origin has no certificate for the SNI name the CDN sent ({alert}): "
            "configure the site's name on the origin, or the CDN's origin host header."
        )
    return (
        "The origin refused the TLS handshake"
        + (f" ({alert})" if alert else "")
        + ": check its certificate (SNI, chain, expiry), the TLS versions and ciphers it "
        "allows, against what the CDN offers."
    )


def _describe_response(e: Connection) -> str:
    r = e.response
    if r is None:
        return "server data"
    if r.kind == "http":
        return f"response {r.status} {r.reason}".strip()
    if r.kind == "tls":
        return f"ServerHello {r.tls_version}".strip()
    return "server data"


_MakeVerdict = Callable[[Outcome, Culprit, list[Evidence], str], Verdict]


def _reset_verdict(
    verdict: _MakeVerdict, e: Connection, o: Connection | None, outcome: Outcome, ev: list[Evidence]
) -> Verdict:
    """A RST the edge got from 'the server': the origin's only if the origin sent it."""
    origin_rsts = _server_resets(o) if o is not None else []
    if e.synacks and _server_resets(e):
        rst, synack = _server_resets(e)[0], e.synacks[0]
        ev.append(
            Evidence(
                EDGE,
                synack.frame,
                synack.ts_ns,
                f"the origin's SYN-ACK had TTL {synack.ttl}, IP ID {synack.ip_id}; "
                f"the RST TTL {rst.ttl}, IP ID {rst.ip_id}",
            )
        )
    if origin_rsts:
        ev.append(_rst(origin_rsts[0], ORIGIN, "origin sent the RST"))
        return verdict(
            outcome,
            Culprit.ORIGIN,
            ev,
            "The origin reset the connection after the request: check its error "
            "log at that time (crash, worker killed, request rejected, keep-alive "
            "reused after close).",
        )
    if o is not None:
        ev.append(_absent(ORIGIN, "origin sent no RST"))
        if o.response is not None:
            ev.append(
                Evidence(ORIGIN, o.response.frame, None, "origin sent " + _describe_response(o))
            )
    return verdict(
        outcome,
        Culprit.PATH,
        ev,
        "The origin sent no RST: it was injected in the path (firewall, IPS, "
        "censor). Give the carrier both captures.",
    )
