"""`compare --json` as the core writes each verdict (core/src/compare/verdict_json.rs)
held to render/compare_json.py through orjson, byte for byte: the whole document of
every fixture pair (one file and a ring's several), a generated pair of every fate,
and verdicts on records whose every string is hostile."""

from __future__ import annotations

import io
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapdiff import _core, compare_streaming
from pcapdiff.coverage import Recorded
from pcapdiff.explain import REASONS
from pcapdiff.model import Endpoint, PacketRef, Request, Response, TcpOptions, VerdictTexts
from pcapdiff.render.compare_json import ComparisonJsonStream, verdict_to_json

from .conftest import ROOT
from .test_match_core import FIXTURE_PAIRS, T0, connection
from .test_stream_core import Options, apply_core, pair_of, run_core, script

sys.path.insert(0, str(ROOT / "scripts"))
from synth_pair import make_pair  # type: ignore[import-not-found]

S = 1_000_000_000


def document(edge: Any, origin: Any, *, texts: bool, **kw: Any) -> str:
    out = io.StringIO()
    writer = ComparisonJsonStream(out)
    result = compare_streaming(
        edge, origin, writer.verdict, emit_texts=writer.texts if texts else None, **kw
    )
    writer.finish(result)
    return out.getvalue()


def captures(pair: Path) -> tuple[Path, Path]:
    def one(role: str) -> Path:
        return next(p for p in sorted(pair.glob(f"{role}.*")) if p.suffix != ".json")

    return one("edge"), one("origin")


@pytest.mark.parametrize("pair", FIXTURE_PAIRS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_fixture_pair_is_written_alike(pair: Path) -> None:
    edge, origin = captures(pair)
    core = document(edge, origin, texts=True)
    assert core == document(edge, origin, texts=False)
    assert '"connections": [\n  {"id":1,' in core  # the core wrote them


def test_a_ring_cites_its_frames_by_file_alike(tmp_path: Path) -> None:
    """Frames of a capture of several files are FILE#N, in the core's text too."""
    edge, origin = captures(ROOT / "fixtures" / "pcaps" / "compare" / "every_outcome")
    ring = [origin, origin]  # the same file twice: a ring of two, by name
    core = document(edge, ring, texts=True)
    assert core == document(edge, ring, texts=False)
    assert f'"{origin}#' in core


def test_a_generated_pair_is_written_alike(tmp_path: Path) -> None:
    make_pair(tmp_path, connections=400, seed=17)
    edge, origin = tmp_path / "edge.pcap", tmp_path / "origin.pcap"
    assert document(edge, origin, texts=True, release=False) == document(
        edge, origin, texts=False, release=False
    )


PIECES = ("<script>", '"', "'", "\\", "\x00", "\x1b[31m", "\u202e", "\u2028", "\xa0", "é", "😀")
HOSTILE = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)


@settings(max_examples=150, deadline=None)
@given(host=HOSTILE, path=HOSTILE, reason=HOSTILE, origin_host=HOSTILE)
def test_hostile_strings_are_written_alike(
    host: str, path: str, reason: str, origin_host: str
) -> None:
    """A pair whose Host, path and status reason (the edge's differ from the origin's:
    the rewrite hints quote them) hold quotes, backslashes, NUL, escapes, bidi and
    line separators, non-BMP text."""
    client, server = Endpoint("198.51.100.7", 40000), Endpoint("203.0.113.10", 80)

    def side(h: str, r: str, shift: int) -> Any:
        c = connection(
            1,
            client,
            server,
            1000,
            T0 + shift,
            (PacketRef(1, T0 + shift, 64, 7, 0),),
            (PacketRef(2, T0 + shift + 1_000_000, 54, 9, 0),),
            TcpOptions(tsval=77, layout="M,S,T"),
            Request("http", 3, "GET", "/" + path, "HTTP/1.1", h, ts_ns=T0 + shift + 2_000_000),
        )
        return c._replace(response=Response("http", 4, 200, r, ts_ns=T0 + shift + 3_000_000))

    edge, origin = side(host, reason, 0), side(origin_host, "OK", 5_000_000)
    ops: list[tuple[Any, ...]] = [("start", True, _recorded()), ("start", False, _recorded())]
    ops += [("add", True, edge), ("add", False, origin)]
    ops += [("clock", True, T0 + 60 * S, []), ("clock", False, T0 + 60 * S, [])]
    verdicts = _verdicts(ops)
    assert len(verdicts) == 1
    texts = _json_texts(ops)
    assert texts == orjson.dumps(verdict_to_json(1, verdicts[0])).decode()


def _recorded() -> Recorded:
    return Recorded(T0 - S, T0 + 120 * S, "sidecar", "sidecar", T0 + 60 * S)


def _engine() -> Any:
    return _core.StreamingCompare(REASONS, [], [], [], 0.0, True, True, [], 300 * S, False)


def _feed(engine: Any, ops: list[Any], ends: tuple[Any, Any] | None = None) -> None:
    for op in ops:
        apply_core(engine, op)
    ends = ends or (_recorded(), _recorded())
    engine.finish(ends[0], ends[1], False)


def _verdicts(ops: list[Any]) -> list[Any]:
    engine = _engine()
    _feed(engine, ops)
    return list(engine.take_verdicts())


def _json_texts(ops: list[Any]) -> str:
    engine = _engine()
    _feed(engine, ops)
    items = engine.take_json()
    assert len(items) == 1
    return VerdictTexts(*items[0]).text.decode()


def test_the_runs_count_what_they_hold() -> None:
    """A run's count, outcomes and assumptions are those of the verdicts it holds."""
    e, o = pair_of(ROOT / "fixtures" / "pcaps" / "compare" / "every_outcome")
    ops = script(e, o, 3, 1)
    verdicts, _, _ = run_core(ops, Options(), (e.recorded, o.recorded))
    engine = _core.StreamingCompare(REASONS, [], [], [], None, True, False, [], 300 * S, False)
    _feed(engine, ops, (e.recorded, o.recorded))
    runs = [VerdictTexts(*item) for item in engine.take_json()]
    assert sum(r.verdicts for r in runs) == len(verdicts) > 10
    outcomes = Counter[str]()
    for r in runs:
        outcomes.update(r.outcomes)
    assert outcomes == Counter(v[5][1] for v in verdicts)
    assert sum(r.assumed for r in runs) == sum(bool(v[5][6]) for v in verdicts)
