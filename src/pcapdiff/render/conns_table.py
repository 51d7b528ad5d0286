"""A table of connections for people, and the capture footer."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from rich.console import Console

from ..model import CaptureSummary, Connection
from ..quality import capture_warnings
from .conns_json import seconds
from .console import write_lines
from .layout import grid, table_fits, wrap
from .times import TimeFormat

STATE_STYLE = {
    "SF": "green",
    "S1": "green",
    "S0": "yellow",
    "REJ": "red",
    "RSTO": "red",
    "RSTR": "red",
    "RSTOS0": "red",
    "RSTRH": "red",
    "S2": "yellow",
    "S3": "yellow",
    "SH": "yellow",
    "SHR": "yellow",
    "OTH": "dim",
}


def describe_request(conn: Connection) -> str:
    req = conn.request
    if req is None:
        return ""
    if req.kind == "http":
        return f"{req.method} {req.host}{req.target}" if req.host else f"{req.method} {req.target}"
    if req.kind == "tls":
        return f"TLS hello {req.host or '(no SNI)'}".rstrip()
    return f"data {req.first_bytes[:16]}"


def describe_response(conn: Connection, cite: Callable[[int], int | str] = int) -> str:
    resp = conn.response
    parts = []
    if resp is not None:
        if resp.kind == "http":
            parts.append(f"{resp.status} {resp.reason}".strip())
        elif resp.kind == "tls":
            parts.append(
                f"TLS alert {resp.alert}"
                if resp.alert
                else f"ServerHello {resp.tls_version}".strip()
            )
        else:
            parts.append(f"data {resp.first_bytes[:16]}")
    for reset in conn.resets[:1]:
        parts.append(f"RST by {reset.sender} ({reset.phase}) #{cite(reset.frame)}")
    for tls_alert in conn.tls_alerts[:1]:
        if resp is None or tls_alert.alert != resp.alert:
            parts.append(f"{tls_alert.sender} TLS alert {tls_alert.alert} #{cite(tls_alert.frame)}")
    return "; ".join(parts)


HEADERS = ("#", "start", "client", "server", "state", "history", "frames", "duration")
PROSE_HEADERS = ("request", "response")
PROSE = (8, 9)  # their columns
RIGHT = (0, 6, 7)  # "#", the frames and the duration: numbers


def render_conns_table(
    connections: Sequence[Connection],
    console: Console,
    cite: Callable[[int], int | str] = int,
    times: TimeFormat | None = None,
) -> None:
    """One row per connection where the terminal is wide enough, otherwise one block
    each; ``cite`` names frames of a capture of several files."""
    if not connections:
        return
    times = times or TimeFormat(reference_ns=connections[0].first_ts_ns)
    rows = [
        (
            (
                str(conn.id),
                times.stamp(conn.first_ts_ns),
                str(conn.client),
                str(conn.server),
                conn.conn_state,
                conn.history,
                f"{cite(conn.first_frame)}-{cite(conn.last_frame)}",
                f"{conn.duration_ns / 1_000_000_000:.3f}s",
            ),
            describe_request(conn),
            describe_response(conn, cite),
            STATE_STYLE.get(conn.conn_state, ""),
        )
        for conn in connections
    ]
    cells = [[*fields, request, response] for fields, request, response, _ in rows]
    if not table_fits(console.width, (*HEADERS, *PROSE_HEADERS), cells, PROSE):
        _blocks(rows, console)
        return
    styled = [(row_cells, row[3]) for row_cells, row in zip(cells, rows, strict=True)]
    write_lines(console, grid(console.width, (*HEADERS, *PROSE_HEADERS), styled, RIGHT, PROSE))


def _blocks(rows: Sequence[tuple[tuple[str, ...], str, str, str]], console: Console) -> None:
    width = console.width

    def lines() -> Iterator[tuple[str, str]]:
        for fields, request, response, style in rows:
            n, start, client, server, state, history, frames, duration = fields
            block = wrap(f"#{n} {client} -> {server} {state} {history}", width, 0)
            block += wrap(f"started {start}, {duration}, frames {frames}", width, 3)
            if request:
                block += wrap(f"request: {request}", width, 3)
            if response:
                block += wrap(f"response: {response}", width, 3)
            yield block[0], f"bold {style}".strip()
            for line in block[1:]:
                yield line, ""

    write_lines(console, lines())


def render_footer(
    summary: CaptureSummary,
    shown: int,
    total: int,
    console: Console,
    times: TimeFormat | None = None,
) -> None:
    start, end = seconds(summary.first_ts_ns), seconds(summary.last_ts_ns)
    window = f"{end - start:.3f}s" if start is not None and end is not None else "empty"
    compression = f"+{summary.compression}" if summary.compression else ""
    linktypes = ", ".join(map(str, sorted(summary.linktypes))) or "-"
    console.print(
        f"{summary.path}: {summary.format}{compression}, link types {linktypes}; "
        f"{summary.packets} packets ({summary.tcp_packets} TCP, "
        f"{summary.malformed_packets} malformed), capture window {window}; "
        f"{shown} of {total} connections shown"
        + (f"; {times.heading()}" if times is not None and shown else "")
    )


def render_warnings(summary: CaptureSummary, console: Console) -> None:
    """What the reader and decoder noticed, one line each (to stderr)."""
    for line in capture_warnings(summary):
        console.print(f"warning: {line}")
