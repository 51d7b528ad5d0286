"""The `compare` job as a library call: two captures -> a ``Comparison``.

read/decode/track each capture and hand the records to the core's engine
(core/src/compare: match the edge's connections with the origin's, settle when each
capture ran, judge every origin-pull attempt, release each verdict once final). The
CLI only renders what this returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from . import _core
from .conns import (
    ConnectionScan,
    ScanOptions,
    Sources,
    as_files,
    few_collections,
    scan_kept,
)
from .coverage import Coverage, Delays, Window, recorded_window
from .explain import REASONS
from .files import describe
from .match import (
    OriginSpec,
    parse_origin,
)
from .meta import CaptureMeta, capture_ports, load_sidecar
from .model import (
    CaptureSummary,
    CaptureWindow,
    ClockOffset,
    Comparison,
    Connection,
    Side,
    Verdict,
    VerdictTexts,
)
from .quality import capture_warnings, sidecar_warnings
from .read import DEFAULT_MAX_RATIO
from .workers import Batch, ThreadScan, worth_a_thread

Cite = Callable[[int], int | str]
Emit = Callable[[Verdict, Cite, Cite], None]
# Verdicts as their JSON text, where the core writes it (``compare_streaming``).
EmitTexts = Callable[[VerdictTexts], None]
# Verdicts as what compare's table shows of each (render.compare_table.Shows), with
# their place in its order: (edge start ns, edge first frame, the row).
EmitRows = Callable[[int, int, tuple[Any, ...]], None]


def compare(
    edge: Sources,
    origin: Sources | None = None,
    *,
    origins: Sequence[str | OriginSpec] = (),
    ports: Sequence[int] = (),
    clock_offset_s: float | None = None,
    strict: bool = False,
    edge_window: tuple[float, float] | None = None,
    origin_window: tuple[float, float] | None = None,
    max_ratio: int = DEFAULT_MAX_RATIO,
    progress: Callable[[Side, int, int], None] | None = None,
) -> Comparison:
    """Pair the connections of an edge and an origin capture and judge each attempt.

    ``origin`` None judges from the edge capture alone (culprit ``unknown`` unless the
    capture proves it). ``origins`` ("203.0.113.10", "198.51.100.0/24:443") and
    ``ports`` restrict which edge connections are origin pulls; ``clock_offset_s``
    (origin clock minus edge clock) overrides the estimate; ``edge_window`` and
    ``origin_window`` (epoch seconds, each capture's own clock) say when a capture
    ran when its file does not record it. ``progress(side, bytes done, bytes total)``
    is called as each capture is read. A capture may be a list of files (a rotated
    ring, one file per interface; ``files.capture_files`` names them): they are read
    as one, merged by time, and frames are cited as FILE#N.

    Captures given in the wrong order (the sidecars' roles, or the TTLs: a host's own
    SYNs leave with an initial TTL such as 64, the other end's arrive with less) are
    swapped back, with a warning.

    The verdicts are in the edge capture's order. ``compare_streaming`` hands each to
    a callback as soon as it is final instead, holding far less.
    """
    verdicts: list[Verdict] = []
    result = compare_streaming(
        edge,
        origin,
        lambda verdict, _edge_cite, _origin_cite: verdicts.append(verdict),
        origins=origins,
        ports=ports,
        clock_offset_s=clock_offset_s,
        strict=strict,
        edge_window=edge_window,
        origin_window=origin_window,
        max_ratio=max_ratio,
        progress=progress,
    )
    several = bool(result.edge.files)
    verdicts.sort(
        key=lambda v: (v.pair.edge.first_ts_ns if several else 0, v.pair.edge.first_frame)
    )
    return result._replace(verdicts=tuple(verdicts))


def compare_streaming(
    edge: Sources,
    origin: Sources | None,
    emit: Emit,
    *,
    origins: Sequence[str | OriginSpec] = (),
    ports: Sequence[int] = (),
    clock_offset_s: float | None = None,
    strict: bool = False,
    edge_window: tuple[float, float] | None = None,
    origin_window: tuple[float, float] | None = None,
    max_ratio: int = DEFAULT_MAX_RATIO,
    progress: Callable[[Side, int, int], None] | None = None,
    release: bool = True,
    emit_texts: EmitTexts | None = None,
    all_packets: bool = False,
    emit_rows: EmitRows | None = None,
) -> Comparison:
    """``compare``, calling ``emit(verdict, edge_cite, origin_cite)`` with each verdict
    as soon as it is final (core/src/compare/stream.rs says when), in that order, with
    how each capture cites a frame (``CaptureSummary.cite``); the ``Comparison``
    returned holds no verdicts.
    ``release`` False holds every verdict to the end: the reference run.

    ``emit_texts``: the verdicts the core writes as ``compare --json`` records go there
    instead, in runs of their text (``VerdictTexts``), numbered from 1 in the order
    handed out; ``emit`` gets the others, in their place in that order. Those texts
    list the key packets of every verdict that is not ok, and with ``all_packets`` of
    the ok ones too (``render.compare_json.verdict_to_json``).

    ``emit_rows``: every verdict goes there instead, as what the table shows of it
    (``EmitRows``): no ``Verdict`` is made."""
    with few_collections():
        return _compare(
            edge,
            origin,
            emit,
            origins,
            ports,
            clock_offset_s,
            ScanOptions(strict=strict, max_ratio=max_ratio),
            edge_window,
            origin_window,
            progress,
            release,
            emit_texts,
            all_packets,
            emit_rows,
        )


def _compare(
    edge: Sources,
    origin: Sources | None,
    emit: Emit,
    origins: Sequence[str | OriginSpec],
    ports: Sequence[int],
    clock_offset_s: float | None,
    options: ScanOptions,
    edge_window: tuple[float, float] | None,
    origin_window: tuple[float, float] | None,
    progress: Callable[[Side, int, int], None] | None,
    release: bool,
    emit_texts: EmitTexts | None,
    all_packets: bool,
    emit_rows: EmitRows | None = None,
) -> Comparison:
    specs = [parse_origin(o) if isinstance(o, str) else o for o in origins]
    sidecar_problems: list[str] = []
    edge_meta = _meta(edge, sidecar_problems)
    origin_meta = _meta(origin, sidecar_problems) if origin is not None else None
    swapped_because = _swapped_by_sidecars(edge_meta, origin_meta)
    given_edge, given_origin = edge, origin
    if swapped_because:
        assert origin is not None
        edge, origin = origin, edge
        edge_meta, origin_meta = origin_meta, edge_meta
        edge_window, origin_window = origin_window, edge_window
    several = _several(edge) or (origin is not None and _several(origin))
    # How each side cites frames, for verdicts handed out before the origin is read.
    origin_files = [str(f) for f in as_files(origin)] if origin and _several(origin) else []
    cites = [lambda frame: frame, CaptureSummary(path="", files=origin_files).cite]
    # the streaming engine, in the core (core/src/compare): the trackers' records go to
    # it without becoming Python objects; verdicts come back as each is final.
    engine = _core.StreamingCompare(
        REASONS,
        [_packed(spec) for spec in specs],
        list(ports),
        sorted(capture_ports(edge_meta) | capture_ports(origin_meta)),
        clock_offset_s,
        # a ring's missing files are known only at its end: no verdict before it
        release and not several and origin is not None,
        edge_meta is not None and origin_meta is not None,
        [],
        options.idle_timeout_ns,
        several,
    )

    engine.set_origin_files(origin_files)
    engine.set_all_packets(all_packets)

    def hand_out() -> None:
        if emit_rows is not None:
            for start, frame, row in engine.take_rows():
                emit_rows(start, frame, row)
            return
        if emit_texts is None:
            for verdict in engine.take_verdicts():
                emit(verdict, cites[0], cites[1])
            return
        for item in engine.take_json():
            if isinstance(item, Verdict):
                emit(item, cites[0], cites[1])
            else:
                emit_texts(VerdictTexts(*item))

    # Two cores: a big origin capture is read on a thread of its own meanwhile.
    reader = (
        ThreadScan(origin, options, _side(progress, Side.ORIGIN), keep=True)
        if origin is not None and worth_a_thread(origin)
        else None
    )
    try:
        edge_scan = scan_kept(edge, options, _side(progress, Side.EDGE))
        engine.set_edge_files(edge_scan.summary.files)
        cites[0] = edge_scan.summary.cite
        edge_timing = _timing(edge_meta, edge_scan.summary)
        origin_timing = _timing(origin_meta, CaptureSummary(path=str(origin)))
        for _ in _read_into(engine, edge_scan, Side.EDGE, edge_timing, edge_window, hand_out):
            if reader is not None:
                # The origin's batches go in while it is read less far than the edge,
                # waited for, never as they happen to be ready: the engine sees the same
                # steps whatever the threads' timing (the same verdicts, in the same
                # order, numbered alike), and records wait for their twins only as long
                # as a batch of the other capture takes, so memory follows that.
                while engine.origin_behind() and (waited := reader.wait()) is not None:
                    for batch in waited:
                        _origin_batch(engine, batch, origin_timing, origin_window, hand_out)
        origin_summary: CaptureSummary | None = None
        if reader is not None:
            for batch in reader.rest():
                _origin_batch(engine, batch, origin_timing, origin_window, hand_out)
            origin_summary = reader.summary()
        elif origin is not None:
            origin_scan = scan_kept(origin, options, _side(progress, Side.ORIGIN))
            for _ in _read_into(
                engine, origin_scan, Side.ORIGIN, origin_timing, origin_window, hand_out
            ):
                pass
            origin_summary = origin_scan.summary
    except BaseException:
        if reader is not None:
            reader.cancel()
        raise
    edge_summary = edge_scan.summary
    swap = (
        not swapped_because
        and origin_summary is not None
        and edge_meta is None
        and origin_meta is None
        and not engine.released
        and engine.swapped_by_ttl()
    )
    if swap:
        assert origin_summary is not None
        swapped_because = SWAPPED_BY_TTL
        edge_summary, origin_summary = origin_summary, edge_summary
        edge_meta, origin_meta = origin_meta, edge_meta
        edge_window, origin_window = origin_window, edge_window
        engine.set_edge_files(edge_summary.files)
        engine.set_origin_files(origin_summary.files)
        cites[0] = edge_summary.cite
        cites[1] = origin_summary.cite
    end = _End(
        *engine.finish(
            recorded_window(edge_summary, _timing(edge_meta, edge_summary), edge_window),
            None
            if origin_summary is None
            else recorded_window(
                origin_summary, _timing(origin_meta, origin_summary), origin_window
            ),
            swap,
        )
    )
    hand_out()
    pull_ports = set(engine.pull_ports)
    coverage = _coverage(end.coverage)
    clock = ClockOffset(*end.clock)
    unpaired_pulls = tuple(
        o
        for o in end.unpaired_origin
        if o.server.port in pull_ports
        and (o.syns or o.synacks)
        and (not ports or o.server.port in ports)
    )
    warnings = _warnings(edge_summary, origin_summary, clock, end.judged, end.assumed, coverage)
    if end.streamed and end.swapped_by_ttl and not swapped_because:
        warnings.append(
            "the TTLs suggest the captures were given the wrong way round (the first taken "
            "on the origin); they were judged in the order given"
        )
    warnings += _role_warnings(given_edge, given_origin, edge_meta, origin_meta, swapped_because)
    warnings += sidecar_problems
    return Comparison(
        edge_summary,
        origin_summary,
        clock,
        (),
        len(unpaired_pulls),
        tuple(warnings),
        unpaired_pulls,
        tuple(end.others),
        (_own_clock(coverage.edge, 0), _optional_own_clock(coverage.origin, coverage.offset_ns)),
        bool(swapped_because),
    )


SWAPPED_BY_TTL = (
    "the TTLs show it: in the first capture the SYN-ACKs leave with an initial TTL "
    "and the SYNs arrive with less (the server's side), in the second the reverse"
)


class _End(NamedTuple):
    """What the engine's end knows that its verdicts do not say (stream.rs's StreamEnd)."""

    clock: tuple[float, float, int, str]
    coverage: tuple[Any, ...]
    unpaired_origin: list[Connection]
    others: list[tuple[int, int]]
    judged: int
    assumed: int
    swapped_by_ttl: bool
    streamed: bool


def _coverage(t: tuple[Any, ...]) -> Coverage:
    """The engine's coverage (nested tuples) as ``coverage.Coverage``."""
    edge, origin, delays, round_trip_ns, offset_ns = t
    return Coverage(
        Window(*edge),
        None if origin is None else Window(*origin),
        Delays(*delays),
        round_trip_ns,
        offset_ns,
    )


def _packed(spec: OriginSpec) -> tuple[bytes, int, int | None]:
    """--origin's network as the engine takes it: (address, prefix length, port)."""
    return spec.network.network_address.packed, spec.network.prefixlen, spec.port


def _origin_batch(
    engine: _core.StreamingCompare,
    batch: Batch,
    timing: CaptureMeta | None,
    window: tuple[float, float] | None,
    hand_out: Callable[[], None],
) -> None:
    so_far = CaptureSummary(path="", first_ts_ns=batch.first_ts_ns, last_ts_ns=batch.clock_ns)
    engine.start(False, recorded_window(so_far, timing, window))
    if batch.kept is not None:  # the records first: the clock says they are all in
        engine.add_records(False, batch.kept)
    engine.clock(False, batch.clock_ns, batch.icmp_errors)
    hand_out()


def _read_into(
    engine: _core.StreamingCompare,
    scan: ConnectionScan,
    side: Side,
    timing: CaptureMeta | None,
    window: tuple[float, float] | None,
    hand_out: Callable[[], None],
) -> Iterator[int]:
    """Hand a capture read in this process to the engine a chunk's records at a time,
    with what the capture has shown so far after each; yields the records so far, for
    work in between."""
    icmp_seen = 0
    summary = scan.summary
    edge_side = side is Side.EDGE
    seen = 0
    for records in scan.records():
        if not len(records):
            continue
        if not seen:  # its first packet is read: when it started is known
            engine.start(edge_side, recorded_window(summary, timing, window))
        seen += len(records)
        engine.add_records(edge_side, records)
        clock = _before_end(scan.released_until_ns, summary)
        engine.clock(edge_side, clock, summary.icmp_errors[icmp_seen:])
        icmp_seen = len(summary.icmp_errors)
        hand_out()
        yield seen
    engine.clock(edge_side, summary.last_ts_ns, summary.icmp_errors[icmp_seen:])
    hand_out()


def _before_end(released: int | None, summary: CaptureSummary) -> int | None:
    """What a capture has shown so far: up to where its tracker has released every
    record, and no later than its latest packet."""
    if released is None or summary.last_ts_ns is None:
        return released
    return min(released, summary.last_ts_ns)


def _several(capture: Sources) -> bool:
    return len(as_files(capture)) > 1


def _side(
    progress: Callable[[Side, int, int], None] | None, side: Side
) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(side, done, total)


def _meta(capture: Sources | None, problems: list[str]) -> CaptureMeta | None:
    """The capture's sidecar; a sidecar that cannot be used is a warning, not an error.
    A ring's files share one (ring.pcap.json beside ring.pcap0 ..)."""
    if isinstance(capture, Sequence) and not isinstance(capture, str) and capture:
        capture = capture[0]
    if not isinstance(capture, (str, Path)) or str(capture) == "-":
        return None
    meta, problem = load_sidecar(capture)
    if problem:
        problems.append(problem)
    return meta


def _timing(meta: CaptureMeta | None, summary: CaptureSummary) -> CaptureMeta | None:
    """The sidecar, if its start and stop are this capture's. A rotated ring overwrites
    its oldest files, and one file of a ring is only part of the capture: the sidecar's
    times would claim packets no file holds, so those captures' windows come from
    their packets."""
    if meta is None:
        return None
    own = Path(f"{summary.path}.json").exists() and not summary.files
    return meta if own else None


def _swapped_by_sidecars(edge_meta: CaptureMeta | None, origin_meta: CaptureMeta | None) -> str:
    """Why the two captures were given the wrong way round, by their sidecars' word."""
    if (
        edge_meta is not None
        and origin_meta is not None
        and (edge_meta.role, origin_meta.role) == ("origin", "edge")
    ):
        return "their sidecars say the first was taken on the origin, the second on the edge"
    return ""


def _optional_own_clock(window: Window | None, offset_ns: int) -> CaptureWindow | None:
    return None if window is None else _own_clock(window, offset_ns)


def _own_clock(window: Window, offset_ns: int) -> CaptureWindow:
    """A coverage window back on its capture's own clock, for the report."""

    def move(t: int | None) -> int | None:
        return None if t is None else t + offset_ns

    return CaptureWindow(
        move(window.start_ns),
        move(window.end_ns),
        window.start_source,
        window.end_source,
        window.assumed_end,
    )


def _role_warnings(
    edge: Sources,
    origin: Sources | None,
    edge_meta: CaptureMeta | None,
    origin_meta: CaptureMeta | None,
    swapped_because: str,
) -> list[str]:
    edge_name, origin_name = _name(edge), _name(origin)
    if swapped_because:
        return [
            f"the captures were given in the wrong order ({swapped_because}): judged with "
            f"{origin_name} as the edge capture and {edge_name} as the origin capture"
        ]
    out = sidecar_warnings(str(edge_name), edge_meta, "edge")
    if origin is not None:
        out += sidecar_warnings(str(origin_name), origin_meta, "origin")
    return out


def _warnings(
    edge: CaptureSummary,
    origin: CaptureSummary | None,
    clock: ClockOffset,
    judged: int,
    assuming: int,
    coverage: Coverage,
) -> list[str]:
    out = capture_warnings(edge)
    if origin is not None:
        out += capture_warnings(origin)
        if clock.source == "none":
            out.append(
                "no connection could be paired with certainty, so the clock offset "
                "could not be estimated; assuming synchronised clocks "
                "(--clock-offset to set it)"
            )
        e, o = coverage.edge, coverage.origin
        if (
            o is not None
            and None not in (e.start_ns, e.end_ns, o.start_ns, o.end_ns)
            and (o.end_ns < e.start_ns or o.start_ns > e.end_ns)  # type: ignore[operator]
        ):
            out.append("the two captures do not overlap in time (after the clock offset)")
    if assuming:
        out.append(
            f"{assuming} verdict(s) rest on an assumption (see each one's 'assumes'): "
            "a capture with no recorded end is taken to have run as long as the other. "
            "Give --edge-window/--origin-window START,END, or capture with `pcapdiff "
            "capture`, which records when it ran"
        )
    if not judged:
        out.append(
            "no origin-pull connection attempt found in the edge capture "
            "(--origin HOST[:PORT] or --port to say which they are)"
        )
    return out


def _name(capture: Sources | None) -> str:
    if capture is None:
        return "-"
    if isinstance(capture, (str, Path)):
        return str(capture)
    if isinstance(capture, Sequence):
        return describe([Path(str(p)) for p in capture])
    return str(getattr(capture, "name", "<stream>"))
