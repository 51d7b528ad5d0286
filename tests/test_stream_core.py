"""The core's streaming engine (core/src/compare/stream.rs) held to stream.py: fed the
same records, clocks and ICMP errors in the same order, it hands out the same verdicts
in the same order (pair, score, matching, confidence, reason, evidence, sentence,
hints, assumptions) and ends the same (clock, coverage, unpaired origin records, other
connections, counts, the TTLs' word on the roles). On every fixture pair and a
generated pair of every fate, with the offset given and estimated, early release on
and off, short idle timeouts that make twins expire, --origin/--port choices, the
captures given the wrong way round, and any interleaving of the two readers
hypothesis picks."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapdiff import _core
from pcapdiff.conns import read_connections
from pcapdiff.coverage import Recorded, recorded_window
from pcapdiff.explain import REASONS
from pcapdiff.match import OriginSpec, parse_origin
from pcapdiff.meta import load_sidecar
from pcapdiff.model import Connection, IcmpError, Side, Verdict
from pcapdiff.track import IDLE_TIMEOUT_NS

from .conftest import ROOT
from .stream_reference import StreamingCompare
from .test_match_core import FIXTURE_PAIRS

sys.path.insert(0, str(ROOT / "scripts"))
from synth_pair import make_pair  # type: ignore[import-not-found]

S = 1_000_000_000


class Capture(NamedTuple):
    conns: list[Connection]  # in the order they end (the tracker's release order)
    icmp: list[IcmpError]
    recorded: Recorded


def capture(path: Path) -> Capture:
    conns, summary = read_connections(path)
    conns.sort(key=lambda c: (c.last_ts_ns, c.first_frame))
    return Capture(
        conns, summary.icmp_errors, recorded_window(summary, load_sidecar(path)[0], None)
    )


def pair_of(d: Path) -> tuple[Capture, Capture]:
    def one(role: str) -> Path:
        return next(p for p in sorted(d.glob(f"{role}.*")) if p.suffix != ".json")

    return capture(one("edge")), capture(one("origin"))


Op = tuple[Any, ...]


def script(edge: Capture, origin: Capture, batch: int, lag: int) -> list[Op]:
    """The two readers' calls as compare makes them: each side's start, then each
    record followed by its side's clock and the ICMP errors up to it; the origin's in
    batches of BATCH, LAG records behind the edge."""

    def side_ops(cap: Capture, edge_side: bool, every: int) -> list[list[Op]]:
        steps: list[list[Op]] = []
        given = 0
        for n in range(0, len(cap.conns), every):
            chunk = cap.conns[n : n + every]
            clock = chunk[-1].last_ts_ns
            errors = [e for e in cap.icmp if e.ts_ns <= clock][given:]
            given += len(errors)
            ops: list[Op] = [("add", edge_side, c) for c in chunk]
            steps.append([*ops, ("clock", edge_side, clock, errors)])
        last = cap.conns[-1].last_ts_ns if cap.conns else None
        steps.append([("clock", edge_side, last, cap.icmp[given:])])
        return steps

    ops: list[Op] = [("start", True, edge.recorded), ("start", False, origin.recorded)]
    edge_steps, origin_steps = side_ops(edge, True, 1), side_ops(origin, False, batch)
    for i, step in enumerate(edge_steps):
        ops += step
        if i >= lag and (i - lag) % batch == 0 and origin_steps:
            ops += origin_steps.pop(0)
    for step in origin_steps:
        ops += step
    return ops


class Options(NamedTuple):
    specs: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    pull_ports: tuple[int, ...] = ()
    clock_offset_s: float | None = None
    release: bool = True
    roles_known: bool = False
    idle_timeout_ns: int = IDLE_TIMEOUT_NS
    swap: bool = False


def judged_row(v: Verdict) -> tuple[Any, ...]:
    """A verdict without its pair, as the core's engine gives it."""
    return (
        v.reason,
        v.outcome.value,
        v.culprit.value,
        [(e.capture.value, e.frame, e.ts_ns, e.what, e.due) for e in v.evidence],
        v.explanation,
        v.hints,
        v.assumes,
    )


def verdict_row(v: Verdict) -> tuple[Any, ...]:
    p = v.pair
    return (p.edge, p.origin, p.score, p.matched_by, p.confidence, judged_row(v))


def run_python(ops: list[Op], o: Options, ends: tuple[Recorded, Recorded]) -> tuple[Any, ...]:
    verdicts: list[Verdict] = []
    engine = StreamingCompare(
        verdicts.append,
        specs=[parse_origin(s) for s in o.specs],
        ports=o.ports,
        pull_ports=o.pull_ports,
        clock_offset_s=o.clock_offset_s,
        release=o.release,
        roles_known=o.roles_known,
        idle_timeout_ns=o.idle_timeout_ns,
    )
    order: list[Any] = []
    for op in ops:
        apply_python(engine, op)
        order.append((engine.lead_ns(), engine.released, len(verdicts)))
    swap = o.swap and not engine.released
    end = engine.finish(ends[0], ends[1], swap=swap)
    tail = (
        tuple(end.clock),
        tuple(end.coverage),
        end.unpaired_origin,
        sorted(end.others.items()),
        end.judged,
        end.assumed,
        end.swapped_by_ttl,
        end.streamed,
    )
    return [verdict_row(v) for v in verdicts], order, tail


def apply_python(engine: StreamingCompare, op: Op) -> None:
    side = Side.EDGE if op[1] else Side.ORIGIN
    if op[0] == "start":
        engine.start(side, op[2])
    elif op[0] == "add":
        (engine.add_edge if op[1] else engine.add_origin)(op[2])
    else:
        engine.clock(side, op[2], op[3])


def apply_core(engine: _core.StreamingCompare, op: Op) -> None:
    """One call of the script to the core's engine."""
    if op[0] == "start":
        engine.start(op[1], op[2])
    elif op[0] == "add":
        (engine.add_edge if op[1] else engine.add_origin)(op[2])
    else:
        engine.clock(op[1], op[2], op[3])


def packed(spec: OriginSpec) -> tuple[bytes, int, int | None]:
    return spec.network.network_address.packed, spec.network.prefixlen, spec.port


def run_core(ops: list[Op], o: Options, ends: tuple[Recorded, Recorded]) -> tuple[Any, ...]:
    engine = _core.StreamingCompare(
        REASONS,
        [packed(parse_origin(s)) for s in o.specs],
        list(o.ports),
        list(o.pull_ports),
        o.clock_offset_s,
        o.release,
        o.roles_known,
        [],
        o.idle_timeout_ns,
        False,
    )
    verdicts: list[Any] = []
    order: list[Any] = []
    for op in ops:
        apply_core(engine, op)
        verdicts += engine.take()
        order.append((engine.lead_ns(), engine.released, len(verdicts)))
    swap = o.swap and not engine.released
    tail = engine.finish(ends[0], ends[1], swap)
    verdicts += engine.take()
    return [tuple(v) for v in verdicts], order, tuple(tail)


def assert_same(edge: Capture, origin: Capture, o: Options, batch: int = 64, lag: int = 0) -> int:
    ops = script(edge, origin, batch, lag)
    ends = (edge.recorded, origin.recorded)
    expected_verdicts, expected_order, expected_end = run_python(ops, o, ends)
    verdicts, order, end = run_core(ops, o, ends)
    assert order == expected_order, "verdicts released at other times"
    for mine, theirs in zip(verdicts, expected_verdicts, strict=True):
        assert mine == theirs
    assert end == expected_end
    return len(verdicts)


CHOICES = [
    Options(),
    Options(clock_offset_s=0.0),
    Options(release=False),
    Options(idle_timeout_ns=1 * S, clock_offset_s=0.0),
    Options(ports=(80,)),
    Options(specs=("203.0.113.0/24",)),
    Options(swap=True),
]


@pytest.mark.parametrize("pair", FIXTURE_PAIRS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_fixture_pair_streams_alike(pair: Path) -> None:
    edge, origin = pair_of(pair)
    for options in CHOICES:
        assert_same(edge, origin, options, batch=3, lag=2)
    assert_same(origin, edge, Options(swap=True))  # given the wrong way round


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Capture, Capture]:
    out = tmp_path_factory.mktemp("generated")
    make_pair(out, connections=500, seed=13)
    return capture(out / "edge.pcap"), capture(out / "origin.pcap")


@pytest.mark.parametrize(
    "options",
    [
        Options(),
        Options(clock_offset_s=7200.0),
        Options(idle_timeout_ns=2 * S),
        Options(idle_timeout_ns=2 * S, release=False),
        Options(pull_ports=(8080,), roles_known=True),
    ],
)
def test_a_generated_pair_streams_alike(
    generated: tuple[Capture, Capture], options: Options
) -> None:
    edge, origin = generated
    judged = assert_same(edge, origin, options, batch=50, lag=10)
    assert judged > 300  # not a vacuous agreement


def test_the_generated_pair_releases_early_and_expires(
    generated: tuple[Capture, Capture],
) -> None:
    """The engine's early paths run (what the agreement above rests on): verdicts out
    before the end, among them attempts whose twin expired and was found by time."""
    edge, origin = generated
    options = Options(idle_timeout_ns=2 * S)
    ops = script(edge, origin, 50, 10)
    verdicts, order, end = run_python(ops, options, (edge.recorded, origin.recorded))
    early = order[-1][2]
    assert end[-1]  # streamed
    assert early > 100
    assert any(row[4] != "certain" for row in verdicts[:early])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 200),
    lag=st.integers(0, 300),
    idle_s=st.sampled_from((1, 5, 300)),
    given_clock=st.booleans(),
)
def test_any_interleaving_streams_alike(
    generated: tuple[Capture, Capture], batch: int, lag: int, idle_s: int, given_clock: bool
) -> None:
    edge, origin = generated
    options = Options(idle_timeout_ns=idle_s * S, clock_offset_s=7200.0 if given_clock else None)
    assert_same(edge, origin, options, batch=batch, lag=lag)


def test_origin_specs_admit_by_prefix() -> None:
    assert packed(parse_origin("203.0.113.7/25:443")) == (
        ipaddress.ip_network("203.0.113.0/25").network_address.packed,
        25,
        443,
    )
