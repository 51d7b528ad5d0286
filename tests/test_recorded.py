"""Captures recorded from the live lab (scripts/record_fixtures.py), judged again here:
real-kernel regression cases that run without namespaces or root."""

from __future__ import annotations

from pathlib import Path

import pytest

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
