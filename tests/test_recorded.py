"""Captures recorded from the live lab (scripts/record_fixtures.py), judged again here:
real-kernel regression cases that run without namespaces or root."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcapdiff import compare
from pcapdiff.testing import find_cases, run_case

from .conftest import ROOT

RECORDED = ROOT / "fixtures" / "pcaps" / "recorded"
CASES = find_cases(RECORDED)


def test_every_lab_scenario_is_recorded() -> None:
    from pcapdiff.lab import SCENARIOS

    assert {c.name for c in CASES} == {s.name for s in SCENARIOS}


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_recorded_case(case: Path) -> None:
    run_case(case)


def test_the_edge_alone_suspects_the_forged_rst() -> None:
    """Without the origin capture the culprit stays unknown, but the hints say why the
    RST is suspect: one hop off the SYN-ACK's TTL, and the real answer came after it."""
    (verdict,) = compare(RECORDED / "reset_injected_after_request" / "edge.pcap").verdicts
    assert verdict.outcome.value == "rst_after_request"
    assert verdict.culprit.value == "unknown"
    assert any("TTL 64" in h and "had 63" in h and "possibly" in h for h in verdict.hints)
    assert any("came after its RST" in h and "likely injected" in h for h in verdict.hints)


def test_the_edge_alone_does_not_suspect_the_origins_own_rst() -> None:
    (verdict,) = compare(RECORDED / "origin_resets_after_request" / "edge.pcap").verdicts
    assert verdict.outcome.value == "rst_after_request"
    assert verdict.hints == ()
