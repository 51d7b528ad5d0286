"""`pcapdiff conns`: every TCP connection of one capture."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from ..conns import ScanOptions, scan_connections
from ..exitcodes import ExitCode
from ..filters import CONN_STATES, ConnectionFilter
from ..params import (
    CaptureFiles,
    Seconds,
    endpoint_options,
    local_time_option,
    max_ratio_option,
    progress_option,
    strict_option,
)
from ..render.console import out_console, output_width
from ..render.times import TimeFormat
from .common import bars, capture_arg, capture_label, show_progress, zone


@click.command(short_help="List every TCP connection of one capture.")
@click.argument("capture", type=CaptureFiles())
@endpoint_options
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(CONN_STATES, case_sensitive=False),
    help="Only connections in this Zeek conn_state (any case). Repeatable.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write JSON (schema pcapdiff/conns/1, see docs/json.md) instead of a table.",
)
@strict_option
@max_ratio_option
@click.option(
    "--idle-timeout",
    type=Seconds(min=0.001),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Release a connection after this long without packets.",
)
@local_time_option
@progress_option
def conns(
    capture: list[Path],
    hosts: tuple[Any, ...],
    ports: tuple[int, ...],
    states: tuple[str, ...],
    as_json: bool,
    strict: bool,
    max_ratio: int,
    idle_timeout: float,
    local_time: bool,
    progress: bool | None,
) -> None:
    """List every TCP connection in CAPTURE (pcap, pcapng, gzip; - for stdin; a
    rotated ring by its base name or a quoted glob, read as one capture).

    \b
    Examples:
      pcapdiff conns origin.pcap
      pcapdiff conns edge.pcapng.gz --host 203.0.113.10 --port 443
      pcapdiff conns origin.pcap --state S0 --state REJ     # unanswered and refused SYNs
      tcpdump -i any -w - port 80 | pcapdiff conns -
      pcapdiff conns origin.pcap --json | jq '.connections[] | select(.resets != [])'
    """
    from ..quality import capture_warnings
    from ..render.conns_json import write_conns_json

    options = ScanOptions(
        strict=strict, idle_timeout_ns=int(idle_timeout * 1e9), max_ratio=max_ratio
    )
    wanted = ConnectionFilter(tuple(hosts), ports, states)
    label = capture_label(capture)
    # The table's rows on disk as the connections end, sorted at the end (render/spool.py;
    # imported for the table only: tempfile and shutil were a twentieth of JSON's start)
    if not as_json:
        from ..render.spool import Spool
    with Spool() if not as_json else contextlib.nullcontext() as spool:
        with bars(show_progress(progress) and label != "-", [label]) as updates:
            # Every record, as text: no Connection object for what the core writes.
            everything = as_json and not (hosts or ports or states)
            scan = scan_connections(
                capture_arg(capture),
                options,
                updates[0] if updates else None,
                json=as_json,
                text_only=everything,
            )
            if as_json:
                filters = {
                    "host": [str(h) for h in hosts],
                    "port": list(ports),
                    "state": list(states),
                }
                records = scan.items() if everything else wanted.select(scan)
                write_conns_json(records, scan.summary, sys.stdout, filters, scan.json_of)
            elif spool is not None:  # the table
                from ..render.conns_table import conn_shows

                selected = wanted.select(scan)
                for conn in selected:
                    spool.add(conn.first_ts_ns, conn.first_frame, conn_shows(conn))
        if capture_warnings(scan.summary):  # rich (and the table module) only when needed
            from ..render.conns_table import render_warnings

            render_warnings(scan.summary, out_console(sys.stderr, stderr=True))
        if spool is not None:
            from ..render.conns_table import render_conns_rows, render_footer

            out = out_console(sys.stdout, width=output_width(sys.stdout, piped=160))
            times = TimeFormat(zone(local_time), scan.summary.first_ts_ns)
            several = bool(scan.summary.files)  # frames are per file: order by time
            if spool.shown:
                rows = (row for _, row in spool.rows(several))
                render_conns_rows(rows, out, scan.summary.cite, times)
            render_footer(scan.summary, spool.shown, selected.seen, out, times)
    sys.exit(ExitCode.OK)
