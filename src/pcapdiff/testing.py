"""Regression tests as data: a pytest plugin and an assertion helper.

Any folder of cases, each ``<case>/{edge.pcap[ng][.gz], origin.pcap[ng][.gz],
expected.json}``, becomes one test per case::

    pytest --pcapdiff-cases fixtures/pcaps/compare

``expected.json`` lists what each edge connection attempt must be::

    {"connections": [{"edge_client": "198.51.100.7:40000", "outcome": "ok",
                      "culprit": "none"}, ...]}

A case without an origin capture is judged from the edge alone. Each case is one
test item named by its folder relative to DIR (``every_outcome``, ``v6/ok``), with a
node id that selects it (``pytest --pcapdiff-cases DIR DIR/every_outcome``); a
malformed expected.json fails its case with one line naming the file, the line and
the problem. The plugin is registered through the ``pytest11`` entry point, so
installing pcapdiff is enough.
For hand-written tests, ``assert_outcomes(compare(edge, origin), expected)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from .comparison import compare
from .errors import PcapdiffError
from .model import Comparison, Culprit, Outcome

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


class CaseError(Exception):
    """A case folder or its expected.json is malformed: 'FILE:LINE: what is wrong'."""


TOP_KEYS = {
    "connections": "the expected verdicts",
    "description": "free text",
    "scenario": "the lab scenario that recorded the case",
    "probe": "the probe command it ran",
}
ROW_KEYS = {
    "edge_client": "ADDR:PORT of the edge's end (required)",
    "outcome": "an outcome name (required)",
    "culprit": "none, origin, path or unknown (default none)",
    "note": "free text",
}


def load_expectations(path: Path) -> list[dict[str, Any]]:
    """The rows of an expected.json, checked: CaseError names the file, the line and
    the problem (with what is allowed) instead of a traceback."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path}: cannot read it ({exc})") from None
    decoder = json.JSONDecoder()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaseError(f"{path}:{exc.lineno}: not JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise CaseError(
            f'{path}:1: the top level must be an object: {{"connections": [...]}}, '
            f"not a {type(doc).__name__}"
        )
    for key in doc:
        if key not in TOP_KEYS:
            raise CaseError(
                f"{path}:{_line(text, 0, key)}: unknown key {key!r} (known: {', '.join(TOP_KEYS)})"
            )
    rows = doc.get("connections")
    if not isinstance(rows, list):
        raise CaseError(f'{path}:{_line(text, 0, "connections")}: "connections" must be a list')
    starts = _element_starts(text, decoder)
    outcomes = {o.value for o in Outcome}
    culprits = {c.value for c in Culprit}
    for i, row in enumerate(rows):
        at = starts[i] if i < len(starts) else 0
        where = f"{path}:{text.count(chr(10), 0, at) + 1}"
        if not isinstance(row, dict):
            raise CaseError(f"{where}: connection {i + 1} must be an object, not {row!r}")
        for key in row:
            if key not in ROW_KEYS:
                raise CaseError(
                    f"{path}:{_line(text, at, key)}: unknown key {key!r} in connection "
                    f"{i + 1} (known: {', '.join(ROW_KEYS)})"
                )
        for key in ("edge_client", "outcome"):
            if not isinstance(row.get(key), str):
                raise CaseError(f"{where}: connection {i + 1} needs {key!r} ({ROW_KEYS[key]})")
        checks = (("outcome", outcomes, "none"), ("culprit", culprits, "none"))
        for key, known, default in checks:
            value = row.get(key, default)
            if value not in known:
                raise CaseError(
                    f"{path}:{_line(text, at, key)}: unknown {key} {value!r} in connection "
                    f"{i + 1} (known: {', '.join(sorted(known))})"
                )
    return rows


def _element_starts(text: str, decoder: json.JSONDecoder) -> list[int]:
    """Where each element of the "connections" array begins in the text."""
    key = text.find('"connections"')
    pos = text.find("[", key) + 1 if key >= 0 else 0
    starts: list[int] = []
    while 0 < pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        starts.append(pos)
        try:
            _, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
    return starts


def _line(text: str, start: int, key: str) -> int:
    """The line of the first '"key"' at or after ``start``."""
    at = text.find(f'"{key}"', start)
    return text.count("\n", 0, at if at >= 0 else start) + 1


def run_case(folder: Path) -> None:
    """Judge one case and assert its expectations."""
    edge = _capture(folder, "edge")
    if edge is None:
        raise CaseError(f"{folder}: no edge.pcap / edge.pcapng")
    expected = load_expectations(folder / "expected.json")
    assert_outcomes(compare(edge, _capture(folder, "origin")), expected)


# --- the pytest plugin -----------------------------------------------------------------

ROOTS = pytest.StashKey[list[Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pcapdiff-cases",
        action="append",
        default=[],
        metavar="DIR",
        help="run every <case>/{edge,origin,expected.json} under DIR as a test (pcapdiff)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Take the case roots into the collection (unless a path given on the command
    line already lies inside one: then only that is collected)."""
    roots = []
    for root in config.getoption("--pcapdiff-cases") or []:
        path = Path(root).resolve()
        if not path.is_dir():
            raise pytest.UsageError(f"--pcapdiff-cases {root}: not a folder")
        roots.append(path)
    config.stash[ROOTS] = roots
    given = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    for root in roots:
        if not any(_within(path, root) or _within(root, path) for path in given):
            config.args.append(str(root))


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
    if file_path.name != "expected.json":
        return None
    roots = parent.config.stash.get(ROOTS, [])
    if not any(_within(file_path, root) for root in roots):
        return None
    if _capture(file_path.parent, "edge") is None:
        return None
    return CaseFile.from_parent(parent, path=file_path)


class CaseFile(pytest.File):
    """A case's expected.json: one test, named by the case folder relative to its root."""

    def collect(self) -> list[pytest.Item]:
        folder = self.path.parent
        roots = [r for r in self.config.stash.get(ROOTS, []) if _within(folder, r)]
        root = max(roots, key=lambda r: len(r.parts)) if roots else folder.parent
        name = folder.relative_to(root).as_posix() if folder != root else folder.name
        return [CaseItem.from_parent(self, name=name, folder=folder)]


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
        if isinstance(excinfo.value, (CaseError, PcapdiffError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"pcapdiff case {self.name}"
