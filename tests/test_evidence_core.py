"""The core's lines of evidence and injection hints (core/src/compare/evidence.rs) held
to judge.py's: every record of the fixture pairs and of the corpus, with its frames
cited as one file and as a ring's; RSTs hypothesis makes with every TTL, IP ID,
sequence and timing against the SYN-ACK; the ICMP errors the captures hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapdiff import _core
from pcapdiff.conns import read_connections
from pcapdiff.model import (
    FILE_BITS,
    CaptureSummary,
    Connection,
    Endpoint,
    Evidence,
    Exchange,
    IcmpError,
    PacketRef,
    Reset,
    Response,
    Side,
    TcpOptions,
)

from . import judge_reference as judge
from .conftest import ROOT
from .test_match_core import FIXTURE_PAIRS, T0, connection, edge_record

RING = ["ring.pcap0", "ring.pcap1"]
CLIENT, SERVER = Endpoint("198.51.100.7", 40000), Endpoint("203.0.113.10", 80)


def as_tuple(ev: Evidence) -> tuple[Any, ...]:
    return (ev.capture.value, ev.frame, ev.ts_ns, ev.what, ev.due)


def python_evidence(c: Connection, files: list[str], icmp: list[IcmpError]) -> dict[str, Any]:
    """What judge.py says of the record, in the core's probe's terms."""
    side, cite = Side.ORIGIN, CaptureSummary(path="", files=files).cite
    out: dict[str, Any] = {}
    if c.syns:
        out["syn"] = as_tuple(judge._syn(c, side, "edge sent SYN"))
    out["request"] = as_tuple(judge._request(c, side, "sent"))
    out["response"] = as_tuple(judge._response(c, side, "got {response}, in full"))
    out["resets"] = [as_tuple(judge._rst(r, side, "RST")) for r in c.resets]
    out["alerts"] = [as_tuple(judge._alert(a, side, "origin")) for a in c.tls_alerts]
    out["icmp"] = [as_tuple(judge._icmp(e, side, i + 1)) for i, e in enumerate(icmp)]
    out["describe"] = judge._describe(c.response)
    out["progress"] = judge._progress(c.exchange)
    out["progress_at_rst"] = judge._progress(c.exchange_at_rst)
    out["hints"] = list(judge.injection_hints(c, cite))
    return out


def assert_same(
    c: Connection, files: list[str] | None = None, icmp: list[IcmpError] | None = None
) -> None:
    files, icmp = files or [], icmp or []
    assert _core.evidence_of(c, files, icmp) == python_evidence(c, files, icmp)


def captures() -> list[Path]:
    return sorted(
        p
        for d in FIXTURE_PAIRS
        for p in d.iterdir()
        if p.stem in ("edge", "origin") and p.suffix != ".json"
    )


@pytest.mark.parametrize("capture", captures(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fixture_record_is_cited_alike(capture: Path) -> None:
    conns, summary = read_connections(capture)
    for c in conns:
        assert_same(c, icmp=summary.icmp_errors)
        moved = c._replace(
            resets=tuple(r._replace(frame=r.frame | 1 << FILE_BITS) for r in c.resets)
        )
        assert_same(moved, RING)  # the RSTs in the ring's second file


def test_the_fixtures_hold_what_the_probe_compares() -> None:
    """Not a vacuous agreement: hints, ICMP errors, exchanges and alerts all occur."""
    said: dict[str, int] = {"hints": 0, "icmp": 0, "alerts": 0, "progress": 0}
    for capture in captures():
        conns, summary = read_connections(capture)
        for c in conns:
            found = _core.evidence_of(c, [], summary.icmp_errors)
            said["hints"] += len(found["hints"])
            said["icmp"] += len(found["icmp"])
            said["alerts"] += len(found["alerts"])
            said["progress"] += found["progress"].startswith("after")
    assert min(said.values()) > 0, said


@st.composite
def reset_storm(draw: Any) -> Connection:
    """A record whose SYN-ACK and server RSTs differ in TTL, IP ID, sequence and time."""
    base: Connection = draw(edge_record(1))
    synack = PacketRef(2, T0 + 1_000_000, draw(st.sampled_from((54, 64, 128))), draw(
        st.sampled_from((-1, 0, 100, 60000))), 0)  # fmt: skip
    resets = tuple(
        Reset(
            10 + i,
            T0 + draw(st.integers(0, 400)) * 1_000_000,
            draw(st.sampled_from(("server", "server", "client"))),
            "after_request",
            draw(st.sampled_from((53, 54, 55, 57, 64, 128, 250))),
            draw(st.sampled_from((-1, 0, 101, 5000, 64000))),
            draw(st.sampled_from((1, 1, 7, 0xFFFFFFFF))),
        )
        for i in range(draw(st.integers(0, 12)))
    )
    response = draw(
        st.sampled_from(
            (
                None,
                Response("http", draw(st.integers(5, 30)), 200, "OK", ts_ns=T0 + 90_000_000),
                Response("http", 7, 502, "", ts_ns=T0),
                Response("tls", 7, tls_version="TLS 1.3", ts_ns=T0),
                Response("tls", 7, ts_ns=T0),
                Response("other", 7, first_bytes="00", ts_ns=T0),
            )
        )
    )
    exchange = draw(
        st.sampled_from(
            (
                None,
                Exchange(1, 0, 0, None, "", None, None),
                Exchange(3, 1, 0, None, "", None, None),
                Exchange(1, 0, 1448, 52317, "", 7, T0),
                Exchange(1, 0, 1_234_567, None, "", 7, T0),
            )
        )
    )
    omitted = draw(st.sampled_from(((), (("syns", 3),), (("resets", 999984),))))
    return base._replace(
        synacks=(synack,), resets=resets, response=response, exchange=exchange, omitted=omitted
    )


@settings(max_examples=400, deadline=None)
@given(reset_storm(), st.sampled_from(([], RING)))
def test_any_rsts_are_hinted_alike(c: Connection, files: list[str]) -> None:
    assert_same(c, files)


def test_a_storm_of_rsts_is_bounded_and_names_its_frames() -> None:
    storm = connection(1, CLIENT, SERVER, 5, T0, (PacketRef(1, T0, 64, 7, 0),), (
        PacketRef(2, T0, 54, 100, 0),), TcpOptions(), None)  # fmt: skip
    rsts = tuple(
        Reset(10 + i, T0 + i, "server", "after_request", 200 - i, 101, i) for i in range(40)
    )
    hints = _core.evidence_of(storm._replace(resets=rsts), [], [])["hints"]
    assert len(hints) == judge.MAX_HINTS
    assert hints == list(judge.injection_hints(storm._replace(resets=rsts)))
