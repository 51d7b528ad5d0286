"""judge: every rule from records (no pcaps), and every sentence of the catalogue reachable.

Each case builds an edge connection, its origin twin (or none) and the two capture
windows by hand, and states the reason, outcome and culprit the judge must give.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from pcapdiff.coverage import Coverage, Delays, Window
from pcapdiff.explain import REASONS
from pcapdiff.model import (
    Connection,
    Direction,
    Endpoint,
    Exchange,
    IcmpError,
    Outcome,
    PacketRef,
    Pair,
    Request,
    Reset,
    Response,
    Side,
    TcpOptions,
    TlsAlert,
)

from .judge_reference import Case, judge

MS = 1_000_000
S = 1000 * MS
T0 = 1_700_000_000 * S
EDGE = Endpoint("198.51.100.7", 40000)
SERVER = Endpoint("203.0.113.10", 80)
GET = Request("http", 4, "GET", "/a.jpg", "HTTP/1.1", "www.example.com", ts_ns=T0 + 3 * MS)
HELLO = Request("tls", 4, version="TLS 1.2", host="www.example.com", ts_ns=T0 + 3 * MS)
OK_200 = Response("http", 6, 200, "OK", ts_ns=T0 + 50 * MS)


def ref(frame: int, at_ms: float, ttl: int = 64) -> PacketRef:
    return PacketRef(frame, T0 + round(at_ms * MS), ttl, 1, 1000)


def rst(frame: int, at_ms: float, sender: str, ttl: int = 54) -> Reset:
    return Reset(frame, T0 + round(at_ms * MS), sender, "after_request", ttl, 7, 2000)


def sent(payload: int = 0, last_ms: float | None = None, fin_ms: float | None = None) -> Direction:
    return Direction(
        3,
        payload,
        0,
        (9,) if fin_ms is not None else (),
        None if last_ms is None else T0 + round(last_ms * MS),
        None if fin_ms is None else T0 + round(fin_ms * MS),
    )


def conn(**kw: Any) -> Connection:
    """A connection with a SYN at 0 ms; keyword arguments override any field."""
    fields: dict[str, Any] = {
        "id": 1,
        "client": EDGE,
        "server": SERVER,
        "client_isn": 1000,
        "server_isn": 5000,
        "first_frame": 1,
        "last_frame": 10,
        "first_ts_ns": T0,
        "last_ts_ns": T0 + 100 * MS,
        "conn_state": "SF",
        "history": "ShADadFf",
        "syns": (ref(1, 0),),
        "synacks": (ref(2, 1, ttl=54),),
        "handshake_frame": 3,
        "resets": (),
        "syn_options": TcpOptions(mss=1460, tsval=77, layout="M,S,T,N,W"),
        "synack_options": TcpOptions(mss=1400, layout="M,S,W"),
        "client_sent": sent(),
        "server_sent": sent(),
        "request": None,
        "response": None,
        "tls_alerts": (),
        "gaps": 0,
        "ended_by": "fin",
    }
    fields.update(kw)
    return Connection(**fields)


def asked(**kw: Any) -> Connection:
    """The edge sent GET at 3 ms."""
    return conn(**{"request": GET, "client_sent": sent(100, last_ms=3), **kw})


def answered(**kw: Any) -> Connection:
    return asked(**{"response": OK_200, "server_sent": sent(500, last_ms=50), **kw})


def tls_done(
    requests: int, responses: int, fin_ms: float | None = None, resets: tuple[Reset, ...] = ()
) -> Connection:
    """An HTTPS connection whose handshake completed; its application data as said."""
    exchange = Exchange(
        requests,
        responses,
        0,
        None,
        "",
        14 if responses else None,
        T0 + 40 * MS if responses else None,
    )
    at_rst = exchange if resets else None
    return conn(
        server=Endpoint("203.0.113.10", 443),
        request=HELLO,
        response=Response("tls", 5, tls_version="TLS 1.3", ts_ns=T0 + 5 * MS),
        client_sent=sent(600, 30, fin_ms=fin_ms),
        server_sent=sent(3000 + 300 * responses, 40),
        exchange=exchange,
        exchange_at_rst=at_rst,
        resets=resets,
    )


def window(
    start_ms: float = -1000,
    end_ms: float | None = 60_000,
    assumed: bool = False,
    hole_ms: tuple[float, float] | None = None,
) -> Window:
    end = None if end_ms is None else T0 + round(end_ms * MS)
    holes = () if hole_ms is None else ((T0 + round(hole_ms[0] * MS), T0 + round(hole_ms[1] * MS)),)
    return Window(T0 + round(start_ms * MS), end, "sidecar", "sidecar", end, assumed, holes)


class Given(NamedTuple):
    name: str
    edge: Connection
    origin: Connection | None
    reason: str
    outcome: str
    culprit: str
    have_origin: bool = True
    edge_window: Window = window()
    origin_window: Window = window()
    confidence: str = "certain"
    edge_icmp: tuple[IcmpError, ...] = ()
    origin_icmp: tuple[IcmpError, ...] = ()


def icmp(kind: str, sender: str, *, to_origin: bool = True, mtu: int | None = None) -> IcmpError:
    """An ICMP error quoting the edge's SYN (to_origin) or the origin's packet back."""
    if to_origin:
        return IcmpError(
            3, T0 + 2 * MS, sender, kind, mtu, EDGE.addr, EDGE.port, SERVER.addr, 80, 1000
        )
    return IcmpError(
        8, T0 + 60 * MS, sender, kind, mtu, SERVER.addr, 80, EDGE.addr, EDGE.port, 5001
    )


def case_of(g: Given) -> Case:
    coverage = Coverage(
        g.edge_window,
        g.origin_window if g.have_origin else None,
        Delays(10 * MS, 10 * MS, 3),
        30 * MS,
        0,
    )
    pair = Pair(g.edge, g.origin, 20.0, "same 4-tuple" if g.origin else "", g.confidence)
    return Case(pair, coverage, edge_icmp=g.edge_icmp, origin_icmp=g.origin_icmp)


CASES = [
    # --- coverage ---------------------------------------------------------------------
    Given(
        "origin capture starts after the SYN",
        conn(synacks=(), syns=(ref(1, 0), ref(5, 1000))),
        None,
        "origin_not_running",
        "inconclusive",
        "unknown",
        origin_window=window(start_ms=500),
    ),
    Given(
        "origin capture ended before the request could arrive",
        asked(resets=(rst(7, 40, "server"),)),
        conn(),
        "origin_capture_ended",
        "inconclusive",
        "unknown",
        origin_window=window(end_ms=20),
    ),
    Given(
        "edge capture ended before a SYN-ACK could arrive",
        conn(synacks=()),
        conn(synacks=()),
        "edge_capture_ended",
        "inconclusive",
        "unknown",
        edge_window=window(end_ms=5),
    ),
    Given(
        "a missing file of the origin's ring held the time the SYN was due",
        conn(synacks=(), syns=(ref(1, 0), ref(5, 1000))),
        None,
        "origin_file_missing",
        "inconclusive",
        "unknown",
        origin_window=window(hole_ms=(-50, 2000)),
    ),
    Given(
        "a missing file of the edge's ring held the time the SYN-ACK was due",
        conn(synacks=()),
        conn(synacks=()),
        "edge_file_missing",
        "inconclusive",
        "unknown",
        edge_window=window(hole_ms=(1, 500)),
    ),
    Given(
        "edge still waiting when its capture ended",
        asked(),
        asked(),
        "edge_still_waiting",
        "inconclusive",
        "unknown",
    ),
    Given(
        "the response left the origin just before the edge gave up",
        asked(client_sent=sent(100, last_ms=3, fin_ms=15_000)),
        asked(
            response=Response("http", 7, 200, "OK", ts_ns=T0 + 14_995 * MS),
            server_sent=sent(500, last_ms=14_995),
        ),
        "response_in_flight",
        "inconclusive",
        "unknown",
    ),
    Given(
        "a failure on a weak pair blames no one",
        conn(synacks=(), syns=(ref(1, 0), ref(5, 1000))),
        conn(synacks=(), syns=(ref(1, 0),)),
        "weak_pair",
        "inconclusive",
        "unknown",
        confidence="weak",
    ),
    # --- 525 --------------------------------------------------------------------------
    Given(
        "ClientHello never reached the origin, a RST came back",
        conn(
            request=HELLO,
            client_sent=sent(200, last_ms=3),
            resets=(rst(6, 10, "server", ttl=250),),
            server=Endpoint("203.0.113.10", 443),
        ),
        conn(),
        "tls_path_intercepted",
        "tls_handshake_failed",
        "path",
    ),
    Given(
        "the edge refused the origin's certificate",
        conn(
            request=HELLO,
            response=Response("tls", 5, tls_version="TLS 1.2", ts_ns=T0 + 5 * MS),
            tls_alerts=(TlsAlert(7, T0 + 8 * MS, "client", "fatal unknown_ca"),),
            client_sent=sent(300, last_ms=8, fin_ms=8),
            server_sent=sent(2000, last_ms=5, fin_ms=9),
        ),
        conn(
            request=HELLO,
            response=Response("tls", 5, tls_version="TLS 1.2", ts_ns=T0 + 5 * MS),
            tls_alerts=(TlsAlert(7, T0 + 8 * MS, "client", "fatal unknown_ca"),),
            client_sent=sent(300, last_ms=8),
            server_sent=sent(2000, last_ms=5, fin_ms=9),
        ),
        "tls_edge_refused_certificate",
        "tls_handshake_failed",
        "origin",
    ),
    *(
        Given(
            f"origin alert {alert}",
            conn(
                request=HELLO,
                client_sent=sent(200, last_ms=3),
                tls_alerts=(TlsAlert(6, T0 + 5 * MS, "server", f"fatal {alert}"),),
                response=Response("tls", 6, alert=f"fatal {alert}", ts_ns=T0 + 5 * MS),
                server_sent=sent(7, last_ms=5, fin_ms=6),
            ),
            conn(
                request=HELLO,
                client_sent=sent(200, last_ms=3),
                tls_alerts=(TlsAlert(6, T0 + 5 * MS, "server", f"fatal {alert}"),),
                server_sent=sent(7, last_ms=5, fin_ms=6),
            ),
            reason,
            "tls_handshake_failed",
            "origin",
        )
        for alert, reason in (
            ("protocol_version", "tls_origin_protocol_version"),
            ("handshake_failure", "tls_origin_no_common_parameters"),
            ("unrecognized_name", "tls_origin_unrecognized_name"),
            ("access_denied", "tls_origin_refused"),
        )
    ),
    Given(
        "the origin closed during the handshake",
        conn(request=HELLO, client_sent=sent(200, last_ms=3), server_sent=sent(0, 6, fin_ms=6)),
        conn(request=HELLO, client_sent=sent(200, last_ms=3), server_sent=sent(0, 6, fin_ms=6)),
        "tls_origin_closed",
        "tls_handshake_failed",
        "origin",
    ),
    Given(
        "the origin went on, the edge saw the handshake end",
        conn(request=HELLO, client_sent=sent(200, 3), resets=(rst(6, 10, "server", ttl=250),)),
        conn(
            request=HELLO,
            client_sent=sent(200, 3),
            response=Response("tls", 5, tls_version="TLS 1.2", ts_ns=T0 + 5 * MS),
            server_sent=sent(3000, 5),
        ),
        "tls_path_ended",
        "tls_handshake_failed",
        "path",
    ),
    # --- 521 --------------------------------------------------------------------------
    Given(
        "the origin refused the SYN",
        conn(synacks=(), resets=(rst(2, 1, "server"),)),
        conn(synacks=(), resets=(rst(2, 1, "server"),)),
        "origin_refused",
        "rst_on_connect",
        "origin",
    ),
    Given(
        "a RST in the origin's name; the origin saw the SYN and sent none",
        conn(synacks=(), resets=(rst(2, 1, "server", ttl=61),)),
        conn(synacks=()),
        "path_rejected",
        "rst_on_connect",
        "path",
    ),
    Given(
        "the origin reset after the handshake, before any request",
        conn(resets=(rst(4, 2, "server"),)),
        conn(resets=(rst(4, 2, "server"),)),
        "origin_reset_before_request",
        "rst_on_connect",
        "origin",
    ),
    Given(
        "a RST after the handshake that the origin never sent",
        conn(resets=(rst(4, 2, "server", ttl=250),)),
        conn(),
        "path_reset_before_request",
        "rst_on_connect",
        "path",
    ),
    # --- 522 --------------------------------------------------------------------------
    Given(
        "SYNs never reached the origin",
        conn(synacks=(), syns=(ref(1, 0), ref(5, 1000))),
        None,
        "syn_dropped_in_path",
        "syn_not_received",
        "path",
    ),
    Given(
        "SYNs arrived, never answered",
        conn(synacks=(), syns=(ref(1, 0), ref(5, 1000))),
        conn(synacks=(), syns=(ref(1, 5), ref(5, 1005))),
        "syn_not_answered",
        "syn_not_answered",
        "origin",
    ),
    Given(
        "the SYN-ACK was lost on the way back",
        conn(synacks=()),
        conn(),
        "synack_lost",
        "synack_not_received",
        "path",
    ),
    Given(
        "the origin's RST was lost on the way back",
        conn(synacks=()),
        conn(synacks=(), resets=(rst(2, 6, "server"),)),
        "refusal_lost",
        "synack_not_received",
        "path",
    ),
    Given(
        "a router answered the SYN with ICMP host unreachable",
        conn(synacks=()),
        None,
        "syn_unreachable",
        "syn_not_received",
        "path",
        edge_icmp=(icmp("host unreachable", "203.0.113.1"),),
    ),
    Given(
        "the edge alone: the router's ICMP still locates it",
        conn(synacks=()),
        None,
        "syn_unreachable",
        "syn_not_received",
        "path",
        have_origin=False,
        edge_icmp=(icmp("host unreachable", "203.0.113.1"),),
    ),
    Given(
        "the origin host rejected the SYN with ICMP",
        conn(synacks=()),
        conn(synacks=()),
        "origin_refused_by_icmp",
        "rst_on_connect",
        "origin",
        edge_icmp=(icmp("communication administratively prohibited", "203.0.113.10"),),
    ),
    # --- 520 --------------------------------------------------------------------------
    Given(
        "the origin reset after the request",
        asked(resets=(rst(6, 20, "server"),)),
        asked(resets=(rst(6, 20, "server"),)),
        "origin_reset_after_request",
        "rst_after_request",
        "origin",
    ),
    Given(
        "a RST after the request the origin never sent; the request arrived",
        asked(resets=(rst(6, 20, "server", ttl=250),)),
        asked(),
        "reset_injected_after_request",
        "rst_after_request",
        "path",
    ),
    # --- hijack -----------------------------------------------------------------------
    Given(
        "an answer the origin never sent",
        answered(),
        conn(),
        "answer_not_from_origin",
        "request_not_seen",
        "path",
    ),
    # --- 524 --------------------------------------------------------------------------
    Given(
        "the origin got the request and said nothing until the edge gave up",
        asked(client_sent=sent(100, 3, fin_ms=15_000)),
        asked(),
        "origin_silent",
        "no_response",
        "origin",
    ),
    Given(
        "the origin answered after the edge gave up",
        asked(client_sent=sent(100, 3, fin_ms=15_000)),
        asked(
            response=Response("http", 7, 200, "OK", ts_ns=T0 + 16_000 * MS),
            server_sent=sent(500, 16_000),
        ),
        "origin_answered_late",
        "no_response",
        "origin",
    ),
    Given(
        "the response never reached the edge",
        asked(client_sent=sent(100, 3, fin_ms=15_000)),
        answered(),
        "response_lost",
        "no_response",
        "path",
    ),
    Given(
        "the response was too big for the path, and the origin was told so",
        asked(client_sent=sent(100, 3, fin_ms=15_000)),
        answered(),
        "response_blackholed",
        "no_response",
        "path",
        origin_icmp=(icmp("fragmentation needed", "203.0.113.1", to_origin=False, mtu=1400),),
    ),
    Given(
        "the request never reached the origin",
        asked(client_sent=sent(100, 3, fin_ms=15_000)),
        conn(),
        "request_lost",
        "no_response",
        "path",
    ),
    Given(
        "a RST forged in the edge's name at the origin",
        asked(client_sent=sent(100, 3, fin_ms=15_000)),
        asked(resets=(rst(8, 10, "client", ttl=250),)),
        "reset_injected_toward_origin",
        "no_response",
        "path",
    ),
    Given(
        "a RST after part of the response",
        answered(
            resets=(rst(9, 60, "server"),),
            exchange_at_rst=Exchange(1, 0, 1448, 52317, ""),
        ),
        answered(resets=(rst(9, 60, "server"),), exchange_at_rst=Exchange(1, 0, 1448, 52317, "")),
        "origin_reset_after_request",
        "rst_after_request",
        "origin",
    ),
    Given(
        "a RST before the answer to the second request on a kept-alive connection",
        answered(resets=(rst(19, 900, "server"),), exchange_at_rst=Exchange(2, 1, 0, None, "")),
        answered(resets=(rst(19, 900, "server"),), exchange_at_rst=Exchange(2, 1, 0, None, "")),
        "origin_reset_after_request",
        "rst_after_request",
        "origin",
    ),
    # --- 520: an answer the CDN cannot pass on ---------------------------------------
    Given(
        "the origin answered with something that is not HTTP",
        answered(
            response=Response("other", 6, first_bytes="5353482d", ts_ns=T0 + 50 * MS),
            exchange=Exchange(1, 0, 0, None, "invalid: the answer is not an HTTP/1.x status line"),
        ),
        answered(
            response=Response("other", 6, first_bytes="5353482d", ts_ns=T0 + 50 * MS),
            exchange=Exchange(1, 0, 0, None, "invalid: the answer is not an HTTP/1.x status line"),
        ),
        "origin_invalid_response",
        "invalid_response",
        "origin",
    ),
    Given(
        "the origin closed before the body was complete",
        answered(server_sent=sent(1448, 50, fin_ms=60), exchange=Exchange(1, 0, 1448, 52317)),
        answered(server_sent=sent(1448, 50, fin_ms=60), exchange=Exchange(1, 0, 1448, 52317)),
        "origin_truncated_response",
        "invalid_response",
        "origin",
    ),
    Given(
        "the edge got a broken answer the origin sent whole",
        answered(exchange=Exchange(1, 0, 0, None, "invalid: a malformed HTTP status line")),
        answered(exchange=Exchange(1, 1, 0, None, "")),
        "path_invalid_response",
        "invalid_response",
        "path",
    ),
    Given(
        "edge alone: not HTTP",
        answered(exchange=Exchange(1, 0, 0, None, "invalid: a malformed HTTP status line")),
        None,
        "edge_only_invalid_response",
        "invalid_response",
        "unknown",
        have_origin=False,
    ),
    # --- HTTPS after the handshake ----------------------------------------------------
    Given(
        "HTTPS: the handshake done, the origin silent after the request",
        tls_done(requests=1, responses=0, fin_ms=15_000),
        tls_done(requests=1, responses=0),
        "origin_silent",
        "no_response",
        "origin",
    ),
    Given(
        "HTTPS: the origin resets after reading the request",
        tls_done(requests=1, responses=0, resets=(rst(12, 20, "server"),)),
        tls_done(requests=1, responses=0, resets=(rst(12, 20, "server"),)),
        "origin_reset_after_request",
        "rst_after_request",
        "origin",
    ),
    Given(
        "the answer still arriving when the edge capture ended",
        answered(exchange=Exchange(1, 0, 1448, 52317, "")),
        answered(exchange=Exchange(1, 1, 0, None, "")),
        "edge_capture_ended_mid_response",
        "inconclusive",
        "unknown",
    ),
    Given(
        "the origin stalled mid-body and the edge gave up",
        answered(client_sent=sent(100, 3, fin_ms=15_000), exchange=Exchange(1, 0, 1448, 52317)),
        answered(exchange=Exchange(1, 0, 1448, 52317, "")),
        "origin_stalled",
        "no_response",
        "origin",
    ),
    Given(
        "the origin sent more of its answer than reached the edge",
        answered(
            client_sent=sent(100, 3, fin_ms=2_000),
            server_sent=sent(42, 50),
            exchange=Exchange(1, 0, 42, 50042, ""),
        ),
        answered(server_sent=sent(17419, 1500), exchange=Exchange(1, 0, 17419, 50042, "")),
        "response_lost",
        "no_response",
        "path",
    ),
    Given(
        "the second request of a kept-alive connection never answered",
        answered(client_sent=sent(200, 900, fin_ms=16_000), exchange=Exchange(2, 1, 0, None, "")),
        answered(exchange=Exchange(2, 1, 0, None, "")),
        "origin_stalled",
        "no_response",
        "origin",
    ),
    # --- ok ---------------------------------------------------------------------------
    Given(
        "a RST after the complete response is no failure",
        answered(resets=(rst(9, 60, "server"),), exchange_at_rst=Exchange(1, 1, 0, None, "")),
        answered(resets=(rst(9, 60, "server"),), exchange_at_rst=Exchange(1, 1, 0, None, "")),
        "answered",
        "ok",
        "none",
    ),
    Given(
        "HTTPS answered",
        tls_done(requests=1, responses=1, fin_ms=60),
        tls_done(requests=1, responses=1),
        "answered",
        "ok",
        "none",
    ),
    Given(
        "HTTPS: a handshake and no request",
        tls_done(requests=0, responses=0, fin_ms=60),
        tls_done(requests=0, responses=0),
        "no_request",
        "ok",
        "none",
    ),
    Given(
        "answered and closed",
        answered(client_sent=sent(100, 3, fin_ms=60)),
        answered(),
        "answered",
        "ok",
        "none",
    ),
    Given("answered, still open", answered(), answered(), "answered_still_open", "ok", "none"),
    Given(
        "no request, closed",
        conn(client_sent=sent(0, 50, fin_ms=50)),
        conn(client_sent=sent(0, 50, fin_ms=50)),
        "no_request",
        "ok",
        "none",
    ),
    Given("no request, still open", conn(), conn(), "idle_at_capture_end", "ok", "none"),
    # --- the edge alone ---------------------------------------------------------------
    Given(
        "edge alone: no SYN-ACK",
        conn(synacks=()),
        None,
        "edge_only_no_synack",
        "no_synack",
        "unknown",
        have_origin=False,
    ),
    Given(
        "edge alone: refused",
        conn(synacks=(), resets=(rst(2, 1, "server"),)),
        None,
        "edge_only_refused",
        "rst_on_connect",
        "unknown",
        have_origin=False,
    ),
    Given(
        "edge alone: reset before the request",
        conn(resets=(rst(4, 2, "server"),)),
        None,
        "edge_only_reset_before_request",
        "rst_on_connect",
        "unknown",
        have_origin=False,
    ),
    Given(
        "edge alone: reset after the request",
        asked(resets=(rst(6, 20, "server"),)),
        None,
        "edge_only_reset_after_request",
        "rst_after_request",
        "unknown",
        have_origin=False,
    ),
    Given(
        "edge alone: no response",
        asked(client_sent=sent(100, 3, fin_ms=15_000)),
        None,
        "edge_only_no_response",
        "no_response",
        "unknown",
        have_origin=False,
    ),
    Given(
        "edge alone: TLS failed",
        conn(request=HELLO, client_sent=sent(200, 3), resets=(rst(6, 10, "server"),)),
        None,
        "edge_only_tls_failed",
        "tls_handshake_failed",
        "unknown",
        have_origin=False,
    ),
    Given(
        "edge alone: the edge refused the certificate",
        conn(
            request=HELLO,
            client_sent=sent(300, 8),
            tls_alerts=(TlsAlert(7, T0 + 8 * MS, "client", "fatal bad_certificate"),),
        ),
        None,
        "edge_only_tls_edge_refused_certificate",
        "tls_handshake_failed",
        "unknown",
        have_origin=False,
    ),
]


@pytest.mark.parametrize("given", CASES, ids=lambda g: g.name)
def test_rule(given: Given) -> None:
    verdict = judge(case_of(given))
    assert (verdict.reason, verdict.outcome.value, verdict.culprit.value) == (
        given.reason,
        given.outcome,
        given.culprit,
    ), verdict.explanation
    assert verdict.explanation
    assert "{" not in verdict.explanation, "a fact was not filled in"
    assert any(ev.capture is Side.EDGE for ev in verdict.evidence)
    if not given.have_origin:
        assert all(ev.capture is Side.EDGE for ev in verdict.evidence)
    for ev in verdict.evidence:
        if ev.frame is not None:
            assert ev.ts_ns is not None, f"evidence without a time: {ev}"
        else:
            assert ev.due is not None, f"an absence without the time it was due: {ev}"


def test_icmp_errors_are_cited_with_the_router() -> None:
    given = next(g for g in CASES if g.reason == "response_blackholed")
    verdict = judge(case_of(given))
    cited = [ev for ev in verdict.evidence if ev.what.startswith("ICMP")]
    assert [ev.capture for ev in cited] == [Side.ORIGIN]
    assert "fragmentation needed (MTU 1400) from 203.0.113.1" in cited[0].what
    assert "MTU 1400" in verdict.explanation


def test_every_reason_is_reachable() -> None:
    assert {g.reason for g in CASES} == set(REASONS)


def test_every_outcome_has_a_reason() -> None:
    assert {r.outcome for r in REASONS.values()} == set(Outcome)


def test_an_assumed_end_is_said() -> None:
    """The origin capture recorded no end: the verdict holds, and says what it assumes."""
    given = CASES[[g.reason for g in CASES].index("syn_dropped_in_path")]
    assumed = given._replace(
        origin_window=window(end_ms=5000, assumed=True)._replace(last_packet_ns=T0 - 10 * MS)
    )
    verdict = judge(case_of(assumed))
    assert (verdict.outcome, verdict.culprit.value) == (Outcome.SYN_NOT_RECEIVED, "path")
    assert verdict.assumes
    assert "recorded no end" in verdict.assumes[0]
    assert "Assumes" in verdict.explanation
    plain = judge(case_of(given))
    assert plain.assumes == ()


def test_an_ok_verdict_on_a_weak_pair_says_what_it_rests_on() -> None:
    given = Given("weak ok", answered(), answered(), "answered", "ok", "none", confidence="weak")
    verdict = judge(case_of(given))
    assert verdict.outcome is Outcome.OK
    assert any("rests only on" in a for a in verdict.assumes)


def test_hints_are_said_once_and_bounded() -> None:
    flood = tuple(rst(10 + i, 20 + i, "server", ttl=250) for i in range(1000))
    verdict = judge(case_of(Given("flood", asked(resets=flood), None, "", "", "", False)))
    assert len(verdict.hints) == len(set(verdict.hints)) <= 8


def test_alike_resets_make_one_hint_naming_their_frames() -> None:
    """Five RSTs with the same wrong TTL were five hints differing in one number."""
    five = tuple(rst(10 + i, 20 + i, "server", ttl=250) for i in range(5))
    verdict = judge(case_of(Given("five", asked(resets=five), None, "", "", "", False)))
    ttl_hints = [h for h in verdict.hints if "TTL 250" in h]
    assert ttl_hints == [
        "RSTs frames 10, 11, 12, 13, 14 have TTL 250, the server's SYN-ACK frame 2 had 54: "
        "likely injected by a device in the path"
    ]
    seven = tuple(rst(10 + i, 20 + i, "server", ttl=250) for i in range(7))
    verdict = judge(case_of(Given("seven", asked(resets=seven), None, "", "", "", False)))
    assert next(h for h in verdict.hints if "TTL 250" in h).startswith(
        "RSTs frames 10, 11, 12, 13, 14, .. (7 in all) have TTL 250"
    )
