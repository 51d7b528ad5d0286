"""The core's judge (core/src/compare/judge.rs) held to judge.py: the same reason,
outcome, culprit, evidence, sentence, hints, assumptions and coverage checks for every
hand-made case of tests/test_judge.py, every pair of every fixture (with the origin
capture and from the edge alone), a generated pair of every fate, and those fixtures
under any recorded start, end and holes hypothesis gives them. Also the quoting the
rewrite hints use, held to Python's repr, and its table to the interpreter's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapdiff import _core
from pcapdiff.conns import read_connections
from pcapdiff.coverage import Coverage, Recorded
from pcapdiff.explain import REASONS
from pcapdiff.model import CaptureSummary, Connection, IcmpError, Pair

from . import test_judge
from .conftest import ROOT
from .coverage_reference import build_coverage, gather_facts
from .judge_reference import Case, judge
from .match_reference import icmp_for, icmp_index, match
from .test_coverage_core import Capture, captures, recorded_like
from .test_match_core import FIXTURE_PAIRS
from .test_stream_core import judged_row

sys.path.insert(0, str(ROOT / "scripts"))
import gen_printable  # type: ignore[import-not-found]
from synth_pair import make_pair  # type: ignore[import-not-found]

NS = 1_000_000_000
CORE = _core.Judge(REASONS)


def python_verdict(case: Case, files: list[str]) -> tuple[Any, ...]:
    case.edge_cite = CaptureSummary(path="", files=files).cite
    v = judge(case)
    return (*judged_row(v), [(c.covered, c.due_until_ns) for c in case.checks])


def core_verdict(case: Case, files: list[str]) -> tuple[Any, ...]:
    p = case.pair
    return tuple(
        CORE.judge(
            p.edge,
            p.origin,
            p.matched_by,
            p.confidence,
            case.coverage,
            case.clock_known,
            list(case.edge_icmp),
            list(case.origin_icmp),
            files,
        )
    )


def assert_same(case: Case, files: list[str] | None = None) -> str:
    """Both judges of a fresh copy of the case (judging adds to its checks)."""

    def fresh() -> Case:
        return Case(
            case.pair,
            case.coverage,
            case.clock_known,
            edge_icmp=case.edge_icmp,
            origin_icmp=case.origin_icmp,
        )

    got = core_verdict(fresh(), files or [])
    assert got == python_verdict(fresh(), files or [])
    return str(got[0])


@pytest.mark.parametrize("given", test_judge.CASES, ids=lambda g: g.name)
def test_every_hand_made_case_is_judged_alike(given: test_judge.Given) -> None:
    case = test_judge.case_of(given)
    assert assert_same(case) == given.reason  # the case says what it is for
    for weak in ("weak", "probable"):
        assert_same(Case(case.pair._replace(confidence=weak), case.coverage))
    assert_same(Case(case.pair, case.coverage, clock_known=False))


def fixture_cases(
    edge: list[Connection],
    origin: list[Connection],
    edge_recorded: Recorded,
    origin_recorded: Recorded | None,
    edge_icmp: list[IcmpError],
    origin_icmp: list[IcmpError],
) -> list[Case]:
    """Every pair of a whole-capture compare (finish's way), as cases."""
    pairs, clock, _ = match(edge, origin)
    offset_ns, spread_ns = round(clock.seconds * NS), round(clock.spread_s * NS)
    coverage: Coverage = build_coverage(
        edge_recorded,
        origin_recorded,
        gather_facts(edge, origin, pairs),
        offset_ns=offset_ns,
        offset_spread_ns=spread_ns,
    )
    e_index, o_index = icmp_index(edge_icmp), icmp_index(origin_icmp)
    known = clock.source != "none"
    return [
        Case(
            p if origin_recorded is not None else Pair(p.edge, None, 0.0, ""),
            coverage,
            known,
            edge_icmp=icmp_for(p.edge, e_index),
            origin_icmp=icmp_for(p.origin, o_index) if p.origin and origin_recorded else (),
        )
        for p in pairs
    ]


def both(pair: Path) -> tuple[Capture, Capture, list[IcmpError], list[IcmpError]]:
    edge, origin = captures(pair)
    return edge, origin, icmp_of(pair, "edge"), icmp_of(pair, "origin")


def icmp_of(pair: Path, role: str) -> list[IcmpError]:
    path = next(p for p in sorted(pair.glob(f"{role}.*")) if p.suffix != ".json")
    return read_connections(path)[1].icmp_errors


@pytest.mark.parametrize("pair", FIXTURE_PAIRS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_fixture_pair_is_judged_alike(pair: Path) -> None:
    edge, origin, edge_icmp, origin_icmp = both(pair)
    for origin_recorded in (origin.recorded, None):
        cases = fixture_cases(
            edge.conns, origin.conns, edge.recorded, origin_recorded, edge_icmp, origin_icmp
        )
        for case in cases:
            assert_same(case)
            assert_same(case, ["ring.pcap0", "ring.pcap1"])


def test_the_fixtures_reach_most_reasons() -> None:
    """Not a vacuous agreement: the fixtures' pairs reach reasons of every family."""
    reached: set[str] = set()
    for pair in FIXTURE_PAIRS:
        edge, origin, edge_icmp, origin_icmp = both(pair)
        for origin_recorded in (origin.recorded, None):
            for case in fixture_cases(
                edge.conns, origin.conns, edge.recorded, origin_recorded, edge_icmp, origin_icmp
            ):
                reached.add(assert_same(case))
    assert len(reached) >= 30, sorted(reached)
    assert {"answered", "syn_dropped_in_path", "reset_injected_after_request"} <= reached


def test_a_generated_pair_of_every_fate_is_judged_alike(tmp_path: Path) -> None:
    make_pair(tmp_path, connections=600, seed=5)
    edge, origin = Capture(tmp_path / "edge.pcap"), Capture(tmp_path / "origin.pcap")
    cases = fixture_cases(edge.conns, origin.conns, edge.recorded, origin.recorded, [], [])
    reasons = {assert_same(case) for case in cases}
    assert len(reasons) >= 10, reasons


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(FIXTURE_PAIRS))
def test_any_recorded_windows_are_judged_alike(data: st.DataObject, pair: Path) -> None:
    edge, origin, edge_icmp, origin_icmp = both(pair)
    edge_recorded = data.draw(recorded_like(edge.recorded))
    origin_recorded = data.draw(recorded_like(origin.recorded))
    for case in fixture_cases(
        edge.conns, origin.conns, edge_recorded, origin_recorded, edge_icmp, origin_icmp
    ):
        assert_same(case)


@given(st.text())
def test_text_is_quoted_as_pythons_repr(text: str) -> None:
    assert _core.py_repr(text) == repr(text)


@given(st.sampled_from(["'", '"', "\\", "\t", "\x7f", "\xa0", "\u200b", "\U0001f600", "é"]))
def test_quotes_and_escapes_are_as_reprs(text: str) -> None:
    assert _core.py_repr(text * 2 + "x") == repr(text * 2 + "x")


def test_the_printable_table_is_this_interpreters() -> None:
    table = ROOT / "core" / "src" / "compare" / "printable.rs"
    assert table.read_text() == gen_printable.source(), "run scripts/gen_printable.py"
