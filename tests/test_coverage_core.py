"""The core's coverage (core/src/compare/coverage.rs) held to coverage.py: the same
windows, delays, round-trip bound and stop evidence on every fixture pair (its sidecars
read), and on any recorded start, end and holes hypothesis gives those captures; the
words it writes in (durations, addresses) held to Python's own."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapdiff import _core
from pcapdiff.conns import read_connections
from pcapdiff.coverage import Recorded, duration, recorded_window
from pcapdiff.meta import load_sidecar
from pcapdiff.model import Connection

from .conftest import ROOT
from .coverage_reference import build_coverage, gather_facts
from .match_reference import match
from .test_match_core import FIXTURE_PAIRS

NS = 1_000_000_000


class Capture:
    """One capture of a fixture pair: its records and when it ran."""

    def __init__(self, path: Path) -> None:
        self.conns, summary = read_connections(path)
        self.recorded = recorded_window(summary, load_sidecar(path)[0], None)


def captures(pair: Path) -> tuple[Capture, Capture]:
    def one(role: str) -> Path:
        return next(p for p in sorted(pair.glob(f"{role}.*")) if p.suffix != ".json")

    return Capture(one("edge")), Capture(one("origin"))


def assert_same(
    edge: list[Connection],
    origin: list[Connection],
    edge_recorded: Recorded,
    origin_recorded: Recorded | None,
) -> tuple[Any, ...]:
    pairs, clock, _ = match(edge, origin)
    e_index = {id(c): i for i, c in enumerate(edge)}
    o_index = {id(c): i for i, c in enumerate(origin)}
    trusted = [
        (e_index[id(p.edge)], o_index[id(p.origin)])
        for p in pairs
        if p.origin is not None and p.confidence != "weak"
    ]
    offset_ns, spread_ns = round(clock.seconds * NS), round(clock.spread_s * NS)
    expected = build_coverage(
        edge_recorded,
        origin_recorded,
        gather_facts(edge, origin, pairs),
        offset_ns=offset_ns,
        offset_spread_ns=spread_ns,
    )
    got = _core.coverage_of(
        edge_recorded, origin_recorded, edge, origin, trusted, offset_ns, spread_ns
    )
    assert got == tuple(expected)
    return got


@pytest.mark.parametrize("pair", FIXTURE_PAIRS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_fixture_pair_is_covered_alike(pair: Path) -> None:
    edge, origin = captures(pair)
    assert_same(edge.conns, origin.conns, edge.recorded, origin.recorded)
    assert_same(edge.conns, origin.conns, edge.recorded, None)


CUT = ROOT / "fixtures" / "pcaps" / "compare"


@pytest.mark.parametrize(
    ("fixture", "side", "words"),
    [
        ("origin_cut_mid_traffic", 1, "the edge still sent packets on connection"),
        ("edge_cut_mid_traffic", 0, "the edge (TTL 54, TCP options M,S,T,N,W, as on the paired"),
    ],
)
def test_the_evidence_that_a_capture_had_stopped_is_worded_alike(
    fixture: str, side: int, words: str
) -> None:
    edge, origin = captures(CUT / fixture)
    got = assert_same(edge.conns, origin.conns, edge.recorded, origin.recorded)
    assert words in got[side][3]  # the case the fixture holds: not vacuous


def moved(t: int | None, by: int) -> int | None:
    return None if t is None else t + by


@st.composite
def recorded_like(draw: Any, own: Recorded) -> Recorded:
    """The capture's own window with its recorded start and end moved, dropped or
    given, and holes cut into it."""
    start = draw(st.sampled_from((own.start_ns, None, moved(own.start_ns, 5 * NS))))
    last = own.last_packet_ns
    end = draw(st.sampled_from((None, last, moved(last, -2 * NS), moved(last, 60 * NS))))
    holes: tuple[tuple[int, int], ...] = ()
    if start is not None and last is not None and draw(st.booleans()):
        a = draw(st.integers(start, max(start, last)))
        holes = ((a, a + draw(st.integers(1, 10 * NS))),)
    return Recorded(start, end, "sidecar", "sidecar" if end is not None else "", last, holes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(FIXTURE_PAIRS[:16]))
def test_any_recorded_windows_are_covered_alike(data: st.DataObject, pair: Path) -> None:
    edge, origin = captures(pair)
    edge_recorded = data.draw(recorded_like(edge.recorded))
    origin_recorded = data.draw(recorded_like(origin.recorded))
    assert_same(edge.conns, origin.conns, edge_recorded, origin_recorded)


@given(
    st.one_of(
        st.integers(-(10**15), 10**15),
        st.integers(-(10**7), 10**7),
        st.integers(-(10**12), 10**12).map(lambda n: n * 500),  # ties of the rounding
    )
)
def test_durations_are_worded_alike(ns: int) -> None:
    assert _core.duration(ns) == duration(ns)


@given(
    st.one_of(
        st.binary(min_size=4, max_size=4),
        st.binary(min_size=16, max_size=16),
        # zero runs of every length and place, the IPv4-compatible and mapped forms
        st.lists(st.sampled_from((0, 0, 0, 1, 0xFFFF)), min_size=8, max_size=8).map(
            lambda words: b"".join(w.to_bytes(2, "big") for w in words)
        ),
        st.binary(min_size=4, max_size=4).map(lambda v4: bytes(10) + b"\xff\xff" + v4),
        st.binary(min_size=4, max_size=4).map(lambda v4: bytes(12) + v4),
    )
)
def test_addresses_are_written_as_inet_ntop_writes_them(packed: bytes) -> None:
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    assert _core.address_text(packed) == socket.inet_ntop(family, packed)
