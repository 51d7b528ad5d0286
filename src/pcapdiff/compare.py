"""The `compare` job as a library call: two captures -> a ``Comparison``.

read/decode/track each capture, match the edge's connections with the origin's,
judge every origin-pull attempt. The CLI only renders what this returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from .capture.sidecar import CaptureMeta, read_sidecar
from .conns import ScanOptions, read_connections
from .judge import judge
from .match import OriginSpec, match, origin_servers, parse_origin, select
from .model import CaptureSummary, ClockOffset, Comparison, Pair, Verdict

NS = 1_000_000_000


def compare(
    edge: Path | str | BinaryIO,
    origin: Path | str | BinaryIO | None = None,
    *,
    origins: Sequence[str | OriginSpec] = (),
    ports: Sequence[int] = (),
    clock_offset_s: float | None = None,
    strict: bool = False,
) -> Comparison:
    """Pair the connections of an edge and an origin capture and judge each attempt.

    ``origin`` None judges from the edge capture alone (culprit ``unknown`` unless the
    capture proves it). ``origins`` ("203.0.113.10", "198.51.100.0/24:443") and
    ``ports`` restrict which edge connections are origin pulls; ``clock_offset_s``
    (origin clock minus edge clock) overrides the estimate.
    """
    options = ScanOptions(strict=strict)
    specs = [parse_origin(o) if isinstance(o, str) else o for o in origins]
    edge_conns, edge_summary = read_connections(edge, options)
    origin_summary: CaptureSummary | None = None
    if origin is None:
        pairs = [Pair(e, None, 0.0, "") for e in edge_conns if e.syns]
        clock = ClockOffset(clock_offset_s or 0.0, 0.0, 0, "given" if clock_offset_s else "none")
        served: set[tuple[str, int]] = set()
        origin_only = 0
    else:
        origin_conns, origin_summary = read_connections(origin, options)
        pairs, clock, origin_only = match(edge_conns, origin_conns, clock_offset_s=clock_offset_s)
        served = origin_servers(origin_conns)
    selected = select(pairs, served=served, origins=specs, ports=ports)
    meta = read_sidecar(origin) if isinstance(origin, (str, Path)) else None
    window = _origin_window(origin_summary, clock, meta)
    verdicts = tuple(
        judge(p, have_origin=origin is not None, origin_window=window) for p in selected
    )
    warnings = _warnings(edge_summary, origin_summary, clock, verdicts, window)
    warnings += _sidecar_warnings(edge, "edge") + _sidecar_warnings(origin, "origin")
    return Comparison(edge_summary, origin_summary, clock, verdicts, origin_only, warnings)


def _sidecar_warnings(capture: Path | str | BinaryIO | None, role: str) -> tuple[str, ...]:
    """What `pcapdiff capture` recorded beside the file: role, clock, kernel drops."""
    if not isinstance(capture, (str, Path)) or str(capture) == "-":
        return ()
    meta = read_sidecar(capture)
    if meta is None:
        return ()
    out = []
    if meta.role != role:
        out.append(
            f"{capture} is given as the {role} capture, but its sidecar says it was "
            f"taken as the {meta.role} capture on {meta.host}"
        )
    if meta.clock.get("synchronized") is False:
        out.append(
            f"{capture}: {meta.host}'s clock was not synchronised when captured "
            f"({meta.clock.get('source')}); the estimated offset still applies"
        )
    if meta.packets_dropped_by_kernel:
        out.append(
            f"{capture}: the kernel dropped {meta.packets_dropped_by_kernel} packets "
            "during the capture; missing packets may look like losses"
        )
    return tuple(out)


def _origin_window(
    origin: CaptureSummary | None, clock: ClockOffset, meta: CaptureMeta | None = None
) -> tuple[int, int] | None:
    """The time the origin capture covers, on the edge's clock: from its sidecar's
    start and stop when `pcapdiff capture` took it (a quiet capture still covers the
    time it ran), else from its first and last packet."""
    first = origin.first_ts_ns if origin is not None else None
    last = origin.last_ts_ns if origin is not None else None
    if meta is not None and meta.stop is not None:
        start_ns, stop_ns = round(meta.start * NS), round(meta.stop * NS)
        first = start_ns if first is None else min(first, start_ns)
        last = stop_ns if last is None else max(last, stop_ns)
    if first is None or last is None:
        return None
    offset = round(clock.seconds * NS)
    return first - offset, last - offset


def _warnings(
    edge: CaptureSummary,
    origin: CaptureSummary | None,
    clock: ClockOffset,
    verdicts: tuple[Verdict, ...],
    window: tuple[int, int] | None,
) -> tuple[str, ...]:
    from .render.conns_table import capture_warnings  # text only, no rich import cost

    out = capture_warnings(edge)
    if origin is not None:
        out += capture_warnings(origin)
        if clock.source == "none":
            out.append(
                "no connection could be paired with certainty, so the clock offset "
                "could not be estimated; assuming synchronised clocks "
                "(--clock-offset to set it)"
            )
        if (
            window is not None
            and edge.first_ts_ns is not None
            and edge.last_ts_ns is not None
            and (window[1] < edge.first_ts_ns or window[0] > edge.last_ts_ns)
        ):
            out.append("the two captures do not overlap in time (after the clock offset)")
    if not verdicts:
        out.append(
            "no origin-pull connection attempt found in the edge capture "
            "(--origin HOST[:PORT] or --port to say which they are)"
        )
    return tuple(out)
