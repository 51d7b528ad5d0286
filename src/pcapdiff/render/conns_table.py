"""A table of connections for people, and the capture footer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from rich.console import Console

from ..model import CaptureSummary, Connection
from ..quality import capture_warnings
from .conns_json import seconds
from .console import write_lines
from .layout import Widest, fits, grid, wrap
from .spool import Spool
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
    return response_text(response_facts(conn), cite)


# What the response column says of a connection, its frames still numbers: (the
# answer, or ""; the first RST as (sender, phase, frame); the first TLS alert that is
# not the answer's, as (sender, alert, frame)).
ResponseFacts = tuple[str, "tuple[str, str, int] | None", "tuple[str, str, int] | None"]


def response_facts(conn: Connection) -> ResponseFacts:
    resp = conn.response
    answer = ""
    if resp is not None:
        if resp.kind == "http":
            answer = f"{resp.status} {resp.reason}".strip()
        elif resp.kind == "tls":
            hello = f"ServerHello {resp.tls_version}".strip()
            answer = f"TLS alert {resp.alert}" if resp.alert else hello
        else:
            answer = f"data {resp.first_bytes[:16]}"
    reset = next(((r.sender, r.phase, r.frame) for r in conn.resets[:1]), None)
    alert = next(
        (
            (a.sender, a.alert, a.frame)
            for a in conn.tls_alerts[:1]
            if resp is None or a.alert != resp.alert
        ),
        None,
    )
    return answer, reset, alert


def response_text(facts: ResponseFacts, cite: Callable[[int], int | str] = int) -> str:
    answer, reset, alert = facts
    parts = [answer] if answer else []
    if reset is not None:
        parts.append(f"RST by {reset[0]} ({reset[1]}) #{cite(reset[2])}")
    if alert is not None:
        parts.append(f"{alert[0]} TLS alert {alert[1]} #{cite(alert[2])}")
    return "; ".join(parts)


HEADERS = ("#", "start", "client", "server", "state", "history", "frames", "duration")
PROSE_HEADERS = ("request", "response")
PROSE = (8, 9)  # their columns
RIGHT = (0, 6, 7)  # "#", the frames and the duration: numbers


# What a row shows of a connection, in values marshal writes (a ``Spool``'s records):
# (id, start ns, client, server, state, history, first frame, last frame, duration
# ns, request, response facts).
ConnShows = tuple[int, int, str, str, str, str, int, int, int, str, ResponseFacts]


def conn_shows(conn: Connection) -> ConnShows:
    return (
        conn.id,
        conn.first_ts_ns,
        str(conn.client),
        str(conn.server),
        conn.conn_state,
        conn.history,
        conn.first_frame,
        conn.last_frame,
        conn.duration_ns,
        describe_request(conn),
        response_facts(conn),
    )


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
    render_conns_rows((conn_shows(conn) for conn in connections), console, cite, times)


def render_conns_rows(
    rows: Iterable[ConnShows],
    console: Console,
    cite: Callable[[int], int | str],
    times: TimeFormat,
) -> None:
    """``render_conns_table`` of rows given one at a time (a ``Spool``'s, of a
    capture streamed): none is held in memory."""

    # each row made once: measured, and kept on disk until the widths are known
    widest = Widest((*HEADERS, *PROSE_HEADERS))
    with Spool() as made:
        for n, row in enumerate(rows):
            fields, request, response, style = _row(row, cite, times)
            widest.add((*fields, request, response))
            made.add(0, n, (fields, request, response, style))
        shown: Iterator[Row] = (row for _, row in made.rows(False))
        if not fits(console.width, widest.widths, PROSE):
            _blocks(shown, console)
            return
        styled = (((*fields, req, resp), style) for fields, req, resp, style in shown)
        headers = (*HEADERS, *PROSE_HEADERS)
        write_lines(console, grid(console.width, headers, styled, RIGHT, PROSE, widest.widths))


Row = tuple[tuple[str, ...], str, str, str]  # HEADERS' fields, request, response, style


def _row(row: ConnShows, cite: Callable[[int], int | str], times: TimeFormat) -> Row:
    conn_id, start, client, server, state, history, first, last, duration, request, facts = row
    fields = (
        str(conn_id),
        times.stamp(start),
        client,
        server,
        state,
        history,
        f"{cite(first)}-{cite(last)}",
        f"{duration / 1_000_000_000:.3f}s",
    )
    return fields, request, response_text(facts, cite), STATE_STYLE.get(state, "")


def _blocks(rows: Iterable[Row], console: Console) -> None:
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
