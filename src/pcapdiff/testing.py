"""Regression tests as data: a pytest plugin and an assertion helper.

Any folder of cases, each ``<case>/{edge.pcap[ng][.gz], origin.pcap[ng][.gz],
expected.json}``, becomes one test per case::

    pytest --pcapdiff-cases fixtures/pcaps/compare

``expected.json`` lists what each edge connection attempt must be::

    {"connections": [{"edge_client": "198.51.100.7:40000", "outcome": "ok",
                      "culprit": "none"}, ...]}

A case without an origin capture is judged from the edge alone. The plugin is
registered through the ``pytest11`` entry point, so installing pcapdiff is enough.
For hand-written tests, ``assert_outcomes(compare(edge, origin), expected)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from .compare import compare
from .model import Comparison

Expectation = tuple[str, str, str]  # edge client, outcome, culprit


class OutcomeMismatch(AssertionError):
    """The verdicts differ from the expectations; the message lists each difference."""


def _expected(rows: Iterable[Mapping[str, Any]]) -> list[Expectation]:
    return [(str(r["edge_client"]), str(r["outcome"]), str(r.get("culprit", "none"))) for r in rows]


def assert_outcomes(result: Comparison, expected: Iterable[Mapping[str, Any]]) -> None:
    """Every edge connection attempt has the expected outcome and culprit, and there
    are no others. Attempts on the same client endpoint (port reuse) are compared in
    the order they began."""
    got = sorted(
        (str(v.pair.edge.client), v.outcome.value, v.culprit.value) for v in result.verdicts
    )
    want = sorted(_expected(expected))
    if got == want:
        return
    lines = ["pcapdiff verdicts differ from the expectations (edge client: expected | got)"]
    clients = sorted({g[0] for g in got} | {w[0] for w in want})
    for client in clients:
        g = [f"{o}/{c}" for e, o, c in got if e == client]
        w = [f"{o}/{c}" for e, o, c in want if e == client]
        if g != w:
            lines.append(f"  {client}: {', '.join(w) or '(none)'} | {', '.join(g) or '(none)'}")
    raise OutcomeMismatch("\n".join(lines))


def find_cases(root: Path) -> list[Path]:
    """Folders under ``root`` (itself included) holding an edge capture and expected.json."""
    return sorted(
        p.parent for p in root.rglob("expected.json") if _capture(p.parent, "edge") is not None
    )


def _capture(folder: Path, role: str) -> Path | None:
    """edge.pcap, edge.pcapng, edge.pcap.gz, ...; never the FILE.json sidecar."""
    found = sorted(p for p in folder.glob(f"{role}.pcap*") if p.suffix != ".json")
    return found[0] if found else None


def run_case(folder: Path) -> None:
    """Judge one case and assert its expectations."""
    edge = _capture(folder, "edge")
    if edge is None:
        raise FileNotFoundError(f"{folder}: no edge.pcap / edge.pcapng")
    expected = json.loads((folder / "expected.json").read_text())["connections"]
    assert_outcomes(compare(edge, _capture(folder, "origin")), expected)


# --- the pytest plugin -----------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pcapdiff-cases",
        action="append",
        default=[],
        metavar="DIR",
        help="run every <case>/{edge,origin,expected.json} under DIR as a test (pcapdiff)",
    )


class CaseItem(pytest.Item):
    """One capture pair with its expected verdicts."""

    def __init__(self, *, folder: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = folder

    def runtest(self) -> None:
        run_case(self.folder)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, OutcomeMismatch):
            return f"{self.folder}:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.folder, 0, f"pcapdiff case {self.folder.name}"


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    for root in config.getoption("--pcapdiff-cases") or []:
        base = Path(root)
        if not base.is_dir():
            raise pytest.UsageError(f"--pcapdiff-cases {root}: not a folder")
        for folder in find_cases(base):
            items.append(
                CaseItem.from_parent(session, name=f"pcapdiff[{folder.name}]", folder=folder)
            )
