"""Every crafted fixture's `conns` JSON against tests/golden/ (pytest --update-golden)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pcapdiff import scan_connections
from pcapdiff.render.conns_json import write_conns_json

from .conftest import FIXTURES, ROOT, Golden

SCENARIOS = sorted(p for p in FIXTURES.iterdir() if p.is_file())


def conns_json(path: Path) -> dict:
    scan = scan_connections(path.relative_to(ROOT) if path.is_absolute() else path)
    out = io.StringIO()
    write_conns_json(sorted(scan, key=lambda c: c.first_frame), scan.summary, out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_scenario(scenario: Path, golden: Golden, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    golden.check(scenario.name, conns_json(scenario))
