"""`pcapdiff flows`: each connection's reassembled streams and HTTP messages."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..conns import ScanOptions
from ..exitcodes import ExitCode
from ..filters import ConnectionFilter
from ..params import (
    CaptureFiles,
    NetworkType,
    OutputFile,
    endpoint_options,
    local_time_option,
    max_ratio_option,
    progress_option,
    request_option,
    strict_option,
)
from ..reassembly import DEFAULT_MAX_BYTES
from ..render.console import out_console
from ..render.times import TimeFormat
from .common import bars, capture_arg, capture_label, show_progress, zone


@click.command(short_help="Show each connection's reassembled HTTP, as tcpflow would.")
@click.argument("capture", type=CaptureFiles(), required=False)
@click.argument("origin", type=CaptureFiles(), required=False)
@click.option(
    "-i",
    "--interface",
    help="Capture live on this interface (with tcpdump) instead of reading CAPTURE, and "
    "print each request and response as it completes; Ctrl-C ends with a summary.",
)
@click.option(
    "--peer",
    "peers",
    multiple=True,
    type=NetworkType(),
    help="Live: only traffic with this address or network (the CDN's). Repeatable.",
)
@click.option(
    "-w",
    "--write",
    "keep",
    type=OutputFile(),
    help="Live: keep the capture in this file too.",
)
@endpoint_options
@click.option(
    "--conn",
    "conn_ids",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="ID",
    help="Only this connection (the # that conns and compare print). Repeatable.",
)
@request_option
@click.option(
    "--max-bytes",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Keep at most this many bytes of each stream (the rest is counted and said).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per direction, named as tcpflow names them "
    "(198.051.100.007.40000-203.000.113.010.00080), instead of showing them.",
)
@click.option(
    "--raw",
    is_flag=True,
    help="Write the streams' exact bytes to stdout (a file or a pipe, never a terminal).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write JSON (schema pcapdiff/flows/1; with EDGE ORIGIN pcapdiff/flowdiff/1; "
    "see docs/json.md).",
)
@strict_option
@max_ratio_option
@local_time_option
@progress_option
def flows(
    capture: list[Path] | None,
    origin: list[Path] | None,
    interface: str | None,
    peers: tuple[Any, ...],
    keep: Path | None,
    hosts: tuple[Any, ...],
    ports: tuple[int, ...],
    conn_ids: tuple[int, ...],
    request: str,
    max_bytes: int,
    out_dir: Path | None,
    raw: bool,
    as_json: bool,
    strict: bool,
    max_ratio: int,
    local_time: bool,
    progress: bool | None,
) -> None:
    """Show each TCP connection in CAPTURE as its two reassembled byte streams: in
    sequence order, retransmissions folded, holes said as [N bytes missing], bytes a
    later segment changed reported (injected data). HTTP/1.x is shown message by
    message (start line, headers, body size, frames); anything else by its size and
    first bytes, escaped.

    \b
    Examples:
      pcapdiff flows origin.pcap --port 80
      pcapdiff flows origin.pcap --conn 12
      pcapdiff flows edge.pcap --request /a.jpg --json
      pcapdiff flows origin.pcap --out-dir streams/        # tcpflow's files
      pcapdiff flows origin.pcap --conn 12 --raw > conn12.bin
      pcapdiff flows -i eth0 --port 80 --peer 198.51.100.0/24   # live, as tcpflow -c
      pcapdiff flows edge.pcap origin.pcap     # as sent beside as received, per pair
      pcapdiff flows edge.pcap origin.pcap --json | jq '.pairs[] | select(.changed)'

    With two captures (EDGE ORIGIN, as for compare), each pair compare makes is shown
    message by message as sent and as received: headers added, removed or changed on
    the way (Host, X-Forwarded-For, Via), a changed path, the byte ranges where a body
    differs.
    """
    from ..flows import FlowOptions, scan_flows, stream_bytes, write_tcpflow_files
    from ..render.conns_table import render_warnings
    from ..render.flows_json import write_flows_json
    from ..render.flows_text import render_flow

    if interface is not None:
        if capture is not None:
            raise click.UsageError("give a CAPTURE to read or -i IFACE to capture, not both")
        _live(interface, peers, ports, keep, local_time)
        return
    if capture is None:
        raise click.UsageError("give a CAPTURE to read (or -i IFACE to capture live)")
    if peers or keep is not None:
        raise click.UsageError("--peer and -w are for a live capture (-i IFACE)")
    if origin is not None:
        _paired(capture, origin, local_time, as_json)
        return
    if raw and sys.stdout.isatty():
        raise click.UsageError(
            "--raw writes exact bytes, escape sequences included: redirect it to a file "
            "(> conn.bin) or use --out-dir"
        )
    options = FlowOptions(
        wanted=ConnectionFilter(tuple(hosts), ports),
        conn_ids=frozenset(conn_ids),
        request=request,
        max_bytes=max_bytes,
        messages=out_dir is None and not raw,
    )
    label = capture_label(capture)
    out = out_console(sys.stdout)
    with bars(show_progress(progress) and label != "-", [label]) as updates:
        scan = scan_flows(
            capture_arg(capture),
            options,
            ScanOptions(strict=strict, max_ratio=max_ratio),
            updates[0] if updates else None,
        )
        shown = 0
        times: TimeFormat | None = None
        if out_dir is not None:
            written = write_tcpflow_files(iter(scan), out_dir)
            shown = len(written)
        elif as_json:
            shown = write_flows_json(scan, scan.summary, sys.stdout)
        elif raw:
            for flow in scan:
                for stream in (flow.client, flow.server):
                    sys.stdout.buffer.write(stream_bytes(stream))
                shown += 1
            sys.stdout.flush()
        else:
            for flow in scan:
                times = times or TimeFormat(zone(local_time), flow.connection.first_ts_ns)
                render_flow(flow, out, times, scan.summary.cite)
                shown += 1
    err = out_console(sys.stderr, stderr=True)
    render_warnings(scan.summary, err)
    if out_dir is not None:
        err.print(f"wrote {shown} files to {out_dir}")
    elif not as_json and not raw:
        heading = f"; {times.heading()}" if times is not None else ""
        out.print(f"{shown:,} connection{'' if shown == 1 else 's'} shown{heading}")
    sys.exit(ExitCode.OK)


def _live(
    interface: str,
    peers: tuple[Any, ...],
    ports: tuple[int, ...],
    keep: Path | None,
    local_time: bool,
) -> None:
    """Print each HTTP message as it completes, then who sent how many requests."""
    import signal

    from ..capture import CaptureSpec
    from ..live import LiveMessage, live_flows
    from ..render.flows_text import live_line, live_summary

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # end like Ctrl-C: the summary still comes

    signal.signal(signal.SIGTERM, terminate)
    out, err = out_console(sys.stdout), out_console(sys.stderr, stderr=True)
    times = TimeFormat(zone(local_time))
    spec = CaptureSpec("origin", Path("-"), interface, tuple(str(p) for p in peers), ports)

    def show(message: LiveMessage) -> None:
        out.print(live_line(message, times), markup=False)
        sys.stdout.flush()  # a pipe (| grep) sees each line as it happens

    summary = live_flows(
        spec,
        show,
        keep=keep,
        started=lambda command: err.print(f"capturing: {command}  (Ctrl-C to stop)", markup=False),
    )
    err.print(live_summary(summary), markup=False)
    if keep is not None:
        err.print(f"kept the capture in {keep}", markup=False)
    sys.exit(ExitCode.OK)


def _paired(edge: list[Path], origin: list[Path], local_time: bool, as_json: bool) -> None:
    from ..pairdiff import paired_flows
    from ..render.flows_json import write_flowdiff_json
    from ..render.flows_text import render_paired

    pairs = paired_flows(capture_arg(edge), capture_arg(origin))
    if as_json:
        write_flowdiff_json(pairs, sys.stdout)
        sys.exit(ExitCode.OK)
    out = out_console(sys.stdout)
    times: TimeFormat | None = None
    shown = changed = 0
    for pair in pairs:
        times = times or TimeFormat(zone(local_time), pair.edge.connection.first_ts_ns)
        render_paired(pair, out, times)
        shown += 1
        changed += any(not d.same for d in (*pair.requests, *pair.responses))
    pairs_text = f"{shown:,} paired connection{'' if shown == 1 else 's'}"
    out.print(f"{pairs_text} shown, {changed:,} changed on the way")
    sys.exit(ExitCode.OK)
