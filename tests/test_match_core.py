"""The core's matcher (core/src/compare/matching.rs) held to match.py, the stage it is
ported from: the same pairs (edge, origin, score, matched_by, confidence), the same
clock offset and the same unpaired origin records, on every fixture pair, a generated
pair with every failure kind, and any set of records hypothesis makes, crowded with
shared features, NAT, ISN rewrites and clock offsets up to an unset clock's.
(The record conversion the test rests on is held to round-trip every field.)"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapdiff import _core
from pcapdiff.conns import read_connections
from pcapdiff.model import (
    ClockOffset,
    Connection,
    Direction,
    Endpoint,
    Exchange,
    PacketRef,
    Request,
    Reset,
    Response,
    TcpOptions,
    TlsAlert,
)

from .conftest import ROOT
from .match_reference import match

sys.path.insert(0, str(ROOT / "scripts"))
from synth_pair import make_pair  # type: ignore[import-not-found]

FIXTURE_PAIRS = sorted(
    d
    for d in (ROOT / "fixtures" / "pcaps").rglob("*")
    if d.is_dir() and any(d.glob("edge.*")) and any(d.glob("origin.*"))
)
S = 1_000_000_000
T0 = 1_700_000_000 * S

Outcome = tuple[list[tuple[int, int | None, float, str, str]], tuple[Any, ...], list[int]]


def python_match(edge: list[Connection], origin: list[Connection], **kw: Any) -> Outcome:
    """match.py's answer, its records named by their index in the lists given."""
    e_index = {id(c): i for i, c in enumerate(edge)}
    o_index = {id(c): i for i, c in enumerate(origin)}
    pairs, clock, unpaired = match(edge, origin, **kw)
    return (
        [
            (
                e_index[id(p.edge)],
                None if p.origin is None else o_index[id(p.origin)],
                p.score,
                p.matched_by,
                p.confidence,
            )
            for p in pairs
        ],
        tuple(clock),
        [o_index[id(o)] for o in unpaired],
    )


def core_match(edge: list[Connection], origin: list[Connection], **kw: Any) -> Outcome:
    if kw.get("clock") is not None:
        kw["clock"] = tuple(kw["clock"])
    pairs, clock, unpaired = _core.match_connections(edge, origin, **kw)
    return list(pairs), tuple(clock), list(unpaired)


def assert_same(edge: list[Connection], origin: list[Connection], **kw: Any) -> None:
    expected = python_match(edge, origin, **kw)
    got = core_match(edge, origin, **kw)
    assert got[1] == expected[1], "clock offsets differ"
    assert got[2] == expected[2], "unpaired origin records differ"
    for mine, theirs in zip(got[0], expected[0], strict=True):
        assert mine == theirs
    # the core's estimate fed back as a given clock: the second pass of a streamed compare
    if expected[1][3] != "none":
        again = {**kw, "clock": ClockOffset(*expected[1])}
        assert core_match(edge, origin, **again) == python_match(edge, origin, **again)


@pytest.mark.parametrize("pair", FIXTURE_PAIRS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_fixture_pair_is_matched_alike(pair: Path) -> None:
    edge, _ = read_connections(sorted(pair.glob("edge.*"))[0])
    origin, _ = read_connections(sorted(pair.glob("origin.*"))[0])
    assert_same(edge, origin)
    assert_same(edge, origin, clock_offset_s=0.0)
    assert_same(origin, edge)  # given the wrong way round, as compare may be


def test_a_generated_pair_of_every_fate_is_matched_alike(tmp_path: Path) -> None:
    make_pair(tmp_path, connections=600, seed=11)
    edge, _ = read_connections(tmp_path / "edge.pcap")
    origin, _ = read_connections(tmp_path / "origin.pcap")
    assert len(edge) > 500
    assert_same(edge, origin)
    found = core_match(edge, origin)
    assert sum(o is not None for _, o, _, _, _ in found[0]) > 400  # not a vacuous agreement


def test_records_survive_the_conversion_field_for_field(tmp_path: Path) -> None:
    conns = []
    for pair in FIXTURE_PAIRS:
        for capture in sorted(pair.glob("edge.*")) + sorted(pair.glob("origin.*")):
            if capture.suffix != ".json":
                conns += read_connections(capture)[0]
    assert len(conns) > 100
    for c in conns:
        assert _core.round_trip(c) == c
    with pytest.raises(ValueError, match='conn_state "XX"'):
        _core.round_trip(conns[0]._replace(conn_state="XX"))
    with pytest.raises(ValueError, match="not an IP address"):
        _core.round_trip(conns[0]._replace(client=Endpoint("edge", 1)))


@given(
    st.integers(-(1 << 126), 1 << 126),
    st.one_of(st.integers(1, 1 << 64), st.sampled_from([2, 3, S, 30 * S])),
)
def test_integer_division_rounds_as_pythons(a: int, b: int) -> None:
    assert _core.true_div(a, b) == a / b


# --- records hypothesis makes -------------------------------------------------------

CLIENTS = ("198.51.100.7", "198.51.100.8", "2001:db8::7")
SERVERS = (
    Endpoint("203.0.113.10", 80),
    Endpoint("203.0.113.10", 443),
    Endpoint("203.0.113.11", 80),
)
ISNS = (1000, 1001, 0xFFFFFFFF, 5)
TSVALS = (None, 0, 77, 78)
LAYOUTS = ("", "M,S,T,N,W", "M,N,W")
REQUESTS = (
    None,
    Request("http", 4, "GET", "/a", "HTTP/1.1", "www.example.com"),
    Request("http", 4, "GET", "/a", "HTTP/1.1", "cdn.example.net"),
    Request("http", 4, "POST", "/b", "HTTP/1.1", "www.example.com"),
    Request("tls", 4, version="TLS 1.2", host="www.example.com"),
    Request("other", 4, first_bytes="00112233445566778899"),
    Request("other", 4, first_bytes="0011"),
)
# origin clock minus edge clock: none, seconds, hours, a host whose clock was never set
OFFSETS_NS = (0, 3_500_000_000, 7200 * S, -(T0 - 86400 * S))
DELTAS = (0, 0, 0x1000, 0xFFFFF000)


@st.composite
def edge_record(draw: Any, n: int) -> Connection:
    at = T0 + draw(st.integers(0, 80)) * S // 2 + draw(st.integers(0, 999))
    syns = tuple(
        PacketRef(n * 10 + i, at + i * S, 64, draw(st.sampled_from((-1, 7, 8))), 0)
        for i in range(draw(st.integers(0, 2)))
    )
    synacks = tuple(
        PacketRef(n * 10 + 5 + i, at + 20_000_000 + i * S, 54, draw(st.sampled_from((-1, 9))), 0)
        for i in range(draw(st.integers(0, 2)) if syns else 0)
    )
    request = draw(st.sampled_from(REQUESTS))
    if request is not None:
        request = request._replace(ts_ns=at + 40_000_000)
    return connection(
        n,
        Endpoint(draw(st.sampled_from(CLIENTS)), draw(st.integers(40000, 40003))),
        draw(st.sampled_from(SERVERS)),
        draw(st.one_of(st.none(), st.sampled_from(ISNS))) if syns else None,
        at,
        syns,
        synacks,
        TcpOptions(tsval=draw(st.sampled_from(TSVALS)), layout=draw(st.sampled_from(LAYOUTS))),
        request,
    )


def connection(
    n: int,
    client: Endpoint,
    server: Endpoint,
    isn: int | None,
    at: int,
    syns: tuple[PacketRef, ...],
    synacks: tuple[PacketRef, ...],
    options: TcpOptions,
    request: Request | None,
) -> Connection:
    sent = Direction(3, 100, 0, (), at + S, None)
    return Connection(
        n, client, server, isn, None, n * 10, n * 10 + 9, at, at + 2 * S, "SF", "ShADadFf",
        syns, synacks, None, (), options, None, sent, sent, request, None, (), 0, "fin",
    )  # fmt: skip


def twin(draw: Any, e: Connection, n: int, offset_ns: int, delta: int) -> Connection:
    """What the origin capture holds of an edge record: moved by the offset and some
    jitter, maybe behind source NAT, its ISN maybe rewritten, its timestamps maybe gone."""
    shift = offset_ns + draw(st.integers(0, 3)) * 1_000_000 * draw(st.sampled_from((1, 1000)))

    def moved(refs: tuple[PacketRef, ...]) -> tuple[PacketRef, ...]:
        kept = refs[draw(st.integers(0, len(refs))) :] if refs and draw(st.booleans()) else refs
        return tuple(r._replace(ts_ns=r.ts_ns + shift) for r in kept)

    client = e.client
    if draw(st.booleans()):  # source NAT
        client = Endpoint("192.0.2.1", draw(st.integers(50000, 50002)))
    isn = None if e.client_isn is None else (e.client_isn + delta) & 0xFFFFFFFF
    options = e.syn_options or TcpOptions()
    if draw(st.booleans()):
        options = options._replace(tsval=None)
    request = e.request
    if request is not None:
        assert request.ts_ns is not None
        request = request._replace(ts_ns=request.ts_ns + shift)
        if request.kind == "http" and draw(st.booleans()):
            request = request._replace(host="origin.internal")
    at = e.first_ts_ns + shift
    return connection(
        n,
        client,
        e.server,
        isn,
        at,
        moved(e.syns),
        moved(e.synacks),
        options,
        request,
    )


@st.composite
def capture_pair(draw: Any) -> tuple[list[Connection], list[Connection], int]:
    edge = [draw(edge_record(n)) for n in range(draw(st.integers(0, 24)))]
    offset_ns = draw(st.sampled_from(OFFSETS_NS))
    delta = draw(st.sampled_from(DELTAS))
    origin = [
        twin(draw, e, 100 + i, offset_ns, delta) for i, e in enumerate(edge) if draw(st.booleans())
    ]
    origin += [draw(edge_record(200 + i)) for i in range(draw(st.integers(0, 4)))]  # others
    order = draw(st.permutations(range(len(origin))))
    return edge, [origin[i] for i in order], offset_ns


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capture_pair(), st.sampled_from(("estimate", "given", "zero")))
def test_any_records_are_matched_alike(
    pair: tuple[list[Connection], list[Connection], int], clock: str
) -> None:
    edge, origin, offset_ns = pair
    if clock == "estimate":
        assert_same(edge, origin)
    elif clock == "given":
        assert_same(edge, origin, clock_offset_s=offset_ns / S)
    else:
        assert_same(edge, origin, clock_offset_s=0.0)


def test_records_with_every_list_survive_the_conversion() -> None:
    """Fields the fixtures' records leave empty: RSTs, alerts, exchanges, omitted."""
    base = connection(
        1, Endpoint("2001:db8::7", 40000), SERVERS[0], 5, T0, (PacketRef(1, T0, 64, -1, 3),),
        (), TcpOptions(1460, 7, True, ((1, 2),), 77, 0, "M,S,T"), REQUESTS[1]._replace(ts_ns=T0),
    )  # fmt: skip
    rich = base._replace(
        resets=(Reset(5, T0 + S, "server", "after_request", 54, 77, 123),),
        response=Response("http", 6, 200, "OK", first_bytes="48", ts_ns=T0 + 2 * S),
        tls_alerts=(TlsAlert(7, T0 + 3 * S, "client", "fatal unknown_ca"),),
        exchange=Exchange(1, 0, 1448, 5000, "", 6, T0 + 2 * S),
        exchange_at_rst=Exchange(1, 0, 0, None, "invalid: not HTTP", None, None),
        omitted=(("resets", 999984),),
        server_isn=0xFFFFFFFF,
        handshake_frame=3,
        gaps=2,
    )
    assert _core.round_trip(rich) == rich
