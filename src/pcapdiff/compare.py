"""The `compare` job as a library call: two captures -> a ``Comparison``.

read/decode/track each capture, match the edge's connections with the origin's,
settle when each capture ran (``coverage``), judge every origin-pull attempt. The
CLI only renders what this returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from .conns import ScanOptions, Sources, few_collections, read_connections
from .coverage import Coverage, Window, build_coverage, gather_facts, recorded_window
from .files import describe
from .judge import Case, judge
from .match import (
    OriginSpec,
    icmp_for,
    icmp_index,
    match,
    origin_pull_ports,
    origin_servers,
    parse_origin,
    select,
)
from .meta import CaptureMeta, capture_ports, load_sidecar
from .model import (
    CaptureSummary,
    CaptureWindow,
    ClockOffset,
    Comparison,
    Connection,
    Pair,
    Side,
    Verdict,
)
from .quality import capture_point, capture_warnings, sidecar_warnings
from .read import DEFAULT_MAX_RATIO
from .workers import ChildScan, worth_a_child

NS = 1_000_000_000


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
    """
    with few_collections():
        return _compare(
            edge,
            origin,
            origins,
            ports,
            clock_offset_s,
            ScanOptions(strict=strict, max_ratio=max_ratio),
            edge_window,
            origin_window,
            progress,
        )


def _compare(
    edge: Sources,
    origin: Sources | None,
    origins: Sequence[str | OriginSpec],
    ports: Sequence[int],
    clock_offset_s: float | None,
    options: ScanOptions,
    edge_window: tuple[float, float] | None,
    origin_window: tuple[float, float] | None,
    progress: Callable[[Side, int, int], None] | None,
) -> Comparison:
    specs = [parse_origin(o) if isinstance(o, str) else o for o in origins]
    # Two cores: a big origin capture is read by a child process meanwhile.
    child = (
        ChildScan(origin, options, _side(progress, Side.ORIGIN))
        if origin is not None and worth_a_child(origin)
        else None
    )
    try:
        edge_conns, edge_summary = read_connections(edge, options, _side(progress, Side.EDGE))
    except BaseException:
        if child is not None:
            child.cancel()
        raise
    sidecar_problems: list[str] = []
    edge_meta = _meta(edge, sidecar_problems)
    origin_conns: list[Connection] = []
    origin_summary: CaptureSummary | None = None
    origin_meta: CaptureMeta | None = None
    swapped_because = ""
    if origin is not None:
        origin_conns, origin_summary = (
            child.result()
            if child is not None
            else read_connections(origin, options, _side(progress, Side.ORIGIN))
        )
        origin_meta = _meta(origin, sidecar_problems)
        swapped_because = _swapped(edge_conns, origin_conns, edge_meta, origin_meta)
        if swapped_because:
            edge_conns, origin_conns = origin_conns, edge_conns
            edge_summary, origin_summary = origin_summary, edge_summary
            edge_meta, origin_meta = origin_meta, edge_meta
            edge_window, origin_window = origin_window, edge_window
    unpaired: list[Connection] = []
    if origin_summary is None:
        pairs = [Pair(e, None, 0.0, "") for e in edge_conns if e.syns]
        given = clock_offset_s is not None
        clock = ClockOffset(clock_offset_s or 0.0, 0.0, 0, "given" if given else "none")
    else:
        pairs, clock, unpaired = match(edge_conns, origin_conns, clock_offset_s=clock_offset_s)
    pull_ports = origin_pull_ports(edge_conns, origin_conns)
    pull_ports |= capture_ports(edge_meta) | capture_ports(origin_meta)
    served = origin_servers(origin_conns)
    selection = select(pairs, served=served, pull_ports=pull_ports, origins=specs, ports=ports)
    coverage = build_coverage(
        recorded_window(edge_summary, _timing(edge_meta, edge_summary), edge_window),
        None
        if origin_summary is None
        else recorded_window(origin_summary, _timing(origin_meta, origin_summary), origin_window),
        gather_facts(edge_conns, origin_conns, selection.pulls),
        offset_ns=round(clock.seconds * NS),
        offset_spread_ns=round(clock.spread_s * NS),
    )
    clock_known = clock.source != "none"
    edge_icmp = icmp_index(edge_summary.icmp_errors)
    origin_icmp = icmp_index(origin_summary.icmp_errors if origin_summary else ())
    verdicts = tuple(
        judge(
            Case(
                p,
                coverage,
                clock_known,
                edge_icmp=icmp_for(p.edge, edge_icmp),
                origin_icmp=icmp_for(p.origin, origin_icmp) if p.origin else (),
                edge_cite=edge_summary.cite,
            )
        )
        for p in selection.pulls
    )
    unpaired_pulls = tuple(
        o
        for o in unpaired
        if o.server.port in pull_ports
        and (o.syns or o.synacks)
        and (not ports or o.server.port in ports)
    )
    others = Counter(p.edge.server.port for p in selection.others)
    warnings = _warnings(edge_summary, origin_summary, clock, verdicts, coverage)
    warnings += _role_warnings(edge, origin, edge_meta, origin_meta, swapped_because)
    warnings += sidecar_problems
    return Comparison(
        edge_summary,
        origin_summary,
        clock,
        verdicts,
        len(unpaired_pulls),
        tuple(warnings),
        unpaired_pulls,
        tuple(sorted(others.items())),
        (_own_clock(coverage.edge, 0), _optional_own_clock(coverage.origin, coverage.offset_ns)),
        bool(swapped_because),
    )


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


def _swapped(
    edge_conns: Sequence[Connection],
    origin_conns: Sequence[Connection],
    edge_meta: CaptureMeta | None,
    origin_meta: CaptureMeta | None,
) -> str:
    """Why the two captures were given the wrong way round, or "" when they were not."""
    if (
        edge_meta is not None
        and origin_meta is not None
        and (edge_meta.role, origin_meta.role) == ("origin", "edge")
    ):
        return "their sidecars say the first was taken on the origin, the second on the edge"
    if edge_meta is not None or origin_meta is not None:
        return ""  # a sidecar's word is the user's; TTLs do not overrule it
    if capture_point(edge_conns) == "server" and capture_point(origin_conns) == "client":
        return (
            "the TTLs show it: in the first capture the SYN-ACKs leave with an initial TTL "
            "and the SYNs arrive with less (the server's side), in the second the reverse"
        )
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
    verdicts: tuple[Verdict, ...],
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
    assuming = sum(1 for v in verdicts if v.assumes)
    if assuming:
        out.append(
            f"{assuming} verdict(s) rest on an assumption (see each one's 'assumes'): "
            "a capture with no recorded end is taken to have run as long as the other. "
            "Give --edge-window/--origin-window START,END, or capture with `pcapdiff "
            "capture`, which records when it ran"
        )
    if not verdicts:
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
