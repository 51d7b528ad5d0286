"""The command line: options in, one library call, render out.

Exit codes are exitcodes.ExitCode (DESIGN.md, README "Exit codes"): 0 done and every
connection ok, 1 a connection is not ok, 2 trouble (bad options, an unreadable or
damaged file) with a one-line message on stderr and no traceback, 3 (compare) nothing
was judged.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import io
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from .conns import ScanOptions, scan_connections
from .errors import PcapdiffError
from .exitcodes import ExitCode, for_attempts, for_outcomes
from .filters import CONN_STATES, ClientSpec, ConnectionFilter, VerdictFilter, When
from .model import CDN_STATUS, Outcome, Side
from .params import (
    AddressType,
    CaptureFiles,
    ClientType,
    HeaderType,
    NetworkType,
    OriginSpecType,
    OutcomeType,
    OutputFile,
    Seconds,
    TimeWindow,
    WhenType,
    local_time_option,
    max_ratio_option,
    port_option,
    progress_option,
    strict_option,
)
from .render.console import out_console, output_width
from .render.times import UTC, TimeFormat, local_zone

SHORT_USAGE = """usage: pcapdiff COMMAND [OPTIONS] [ARGS]...

  compare EDGE [ORIGIN]   judge every origin-pull connection: whose fault a 52x was
  conns CAPTURE           list every TCP connection of one capture
  capture --role ...      capture the origin pull on this host, correctly
  probe URL --origin-ip   reproduce the origin pull, as a CDN node would

'pcapdiff --help' for more, 'pcapdiff COMMAND --help' for one command."""


def _capture_arg(files: list[Path]) -> str | list[str]:
    """What the library takes: one path, or the list of a ring's (a glob's) files."""
    return str(files[0]) if len(files) == 1 else [str(p) for p in files]


def _label(files: list[Path]) -> str:
    from .files import describe

    return describe(files)


@contextlib.contextmanager
def _bars(enabled: bool, labels: list[str]) -> Iterator[list[Callable[[int, int], None]]]:
    """Progress bars on stderr when enabled; no bars (an empty list) otherwise."""
    if not enabled:
        yield []
        return
    from .render.progress import ProgressBars

    with ProgressBars(sys.stderr, labels) as updates:
        yield updates


def _per_side(
    updates: list[Callable[[int, int], None]],
) -> Callable[[Side, int, int], None] | None:
    """compare's progress callback (side, done, total) onto one bar per capture."""
    if not updates:
        return None

    def update(side: Side, done: int, total: int) -> None:
        updates[0 if side is Side.EDGE or len(updates) == 1 else 1](done, total)

    return update


def _show_progress(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def _zone(local_time: bool) -> datetime.tzinfo:
    return local_zone() if local_time else UTC


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(None, "-V", "--version", package_name="pcapdiff")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Packet-level evidence for CDN 52x errors: read, track and compare TCP captures.

    \b
    Exit status: 0 done (compare, probe: every connection ok), 1 a connection is not
    ok, 2 trouble (bad options, unreadable file), 3 compare judged nothing.
    Shell completion (bash): eval "$(_PCAPDIFF_COMPLETE=bash_source pcapdiff)"
    """
    if ctx.invoked_subcommand is None:
        click.echo(SHORT_USAGE, err=True)
        ctx.exit(ExitCode.TROUBLE)


@cli.command(short_help="List every TCP connection of one capture.")
@click.argument("capture", type=CaptureFiles())
@click.option(
    "--host",
    "hosts",
    multiple=True,
    type=NetworkType(),
    help="Only connections with this address (or network) at either end. Repeatable.",
)
@port_option("Only connections with this port at either end. Repeatable.", low=0)
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
    from .render.conns_json import write_conns_json
    from .render.conns_table import render_conns_table, render_footer, render_warnings

    options = ScanOptions(
        strict=strict, idle_timeout_ns=int(idle_timeout * 1e9), max_ratio=max_ratio
    )
    wanted = ConnectionFilter(tuple(hosts), ports, states)
    label = _label(capture)
    with _bars(_show_progress(progress) and label != "-", [label]) as updates:
        scan = scan_connections(_capture_arg(capture), options, updates[0] if updates else None)
        selected = wanted.select(scan)
        if as_json:
            filters = {"host": [str(h) for h in hosts], "port": list(ports), "state": list(states)}
            write_conns_json(selected, scan.summary, sys.stdout, filters)
        else:
            several = bool(scan.summary.files)  # frames are per file: order by time
            rows = sorted(selected, key=lambda c: (c.first_ts_ns if several else 0, c.first_frame))
    render_warnings(scan.summary, out_console(sys.stderr, stderr=True))
    if not as_json:
        out = out_console(sys.stdout, width=output_width(sys.stdout, piped=160))
        times = TimeFormat(_zone(local_time), scan.summary.first_ts_ns)
        render_conns_table(rows, out, scan.summary.cite, times)
        render_footer(scan.summary, len(rows), selected.seen, out, times)
    sys.exit(ExitCode.OK)


@cli.command(short_help="Judge every origin-pull connection: whose fault a 52x was.")
@click.argument("edge", type=CaptureFiles())
@click.argument("origin", required=False, type=CaptureFiles())
@click.option(
    "--origin",
    "origins",
    multiple=True,
    type=OriginSpecType(),
    help="The origin's address, network or VIP (and port) the edge connects to. "
    "Repeatable. Default: what the origin capture serves. (The origin capture is the "
    "second argument, not this.)",
)
@port_option("Only edge connections to this server port. Repeatable.")
@click.option(
    "--clock-offset",
    type=Seconds(),
    default=None,
    metavar="SECONDS",
    help="Origin clock minus edge clock, instead of estimating it.",
)
@click.option("--not-ok", is_flag=True, help="Show only the connections that are not ok.")
@click.option(
    "--outcome",
    "outcomes",
    multiple=True,
    type=OutcomeType(),
    help="Show only this outcome, by name or CDN code (--outcome 520). Repeatable.",
)
@click.option(
    "--client",
    "clients",
    multiple=True,
    type=ClientType(),
    help="Show only connections from this edge address, ADDR:PORT or network. Repeatable.",
)
@click.option(
    "--request",
    metavar="TEXT",
    default="",
    help="Show only connections whose request (method, host, path; TLS SNI) contains TEXT.",
)
@click.option(
    "--since",
    type=WhenType(),
    help="Show only connections started at or after this time (edge clock): 18:51:40, "
    "'2026-12-01 18:51', 2026-12-01T18:51:40Z or epoch seconds.",
)
@click.option(
    "--until", type=WhenType(), help="Show only connections started at or before this time."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write JSON (schema pcapdiff/compare/1, see docs/json.md).",
)
@click.option(
    "--edge-window",
    type=TimeWindow(),
    help="When the edge capture ran (its own clock), when the file does not say: "
    "epoch seconds or ISO 8601, e.g. 2026-12-01T18:50:00,2026-12-01T18:55:00.",
)
@click.option(
    "--origin-window",
    type=TimeWindow(),
    help="When the origin capture ran (its own clock). Without it (or a sidecar, or "
    "pcapng statistics) a capture is taken to have run as long as the other, unless the "
    "pair shows it had stopped; verdicts resting on that say so.",
)
@click.option(
    "--show-unpaired", is_flag=True, help="List the origin's connections no edge one paired."
)
@strict_option
@max_ratio_option
@local_time_option
@progress_option
def compare(
    edge: list[Path],
    origin: list[Path] | None,
    origins: tuple[str, ...],
    ports: tuple[int, ...],
    clock_offset: float | None,
    not_ok: bool,
    outcomes: tuple[frozenset[Outcome], ...],
    clients: tuple[Any, ...],
    request: str,
    since: When | None,
    until: When | None,
    as_json: bool,
    edge_window: tuple[float, float] | None,
    origin_window: tuple[float, float] | None,
    show_unpaired: bool,
    strict: bool,
    max_ratio: int,
    local_time: bool,
    progress: bool | None,
) -> None:
    """Judge every origin-pull connection in EDGE against ORIGIN: whose fault a 52x was.

    EDGE is the capture on the CDN node (the TCP client), ORIGIN the capture taken at
    the same time on the origin server. Without ORIGIN the edge capture is judged
    alone, and the culprit is unknown unless the capture proves it.

    Either may be several files read as one, merged by time, frames cited as FILE#N:
    a rotated ring by its base name (ring.pcap reads ring.pcap0, ring.pcap1, ..), or
    a quoted pattern ('origin-eth*.pcap').

    The filters (--not-ok, --outcome, --client, --request, --since, --until) choose
    what is shown; the summary and the exit status count every connection judged.

    Exit status: 0 every connection ok, 1 at least one is not, 2 trouble, 3 nothing
    judged (no origin-pull connection found: select them with --origin or --port).

    \b
    Examples:
      pcapdiff compare edge.pcap origin.pcap
      pcapdiff compare edge.pcap origin.pcap --not-ok
      pcapdiff compare edge.pcap origin.pcap --outcome 520 --since 18:51 --until 18:53
      pcapdiff compare edge.pcap origin.pcap --request /a.jpg --client 198.51.100.7
      pcapdiff compare edge.pcap origin.pcapng --origin 203.0.113.10:443
      pcapdiff compare edge.pcap --port 80                 # edge capture alone
      pcapdiff compare edge.pcap ring.pcap                 # origin: ring.pcap0 .. ring.pcap9
      pcapdiff compare edge.pcap origin.pcap --json | jq '.connections[] | select(.outcome != "ok")'
    """
    from .compare import compare as run_compare
    from .compare import compare_streaming
    from .render.compare_json import ComparisonJsonStream
    from .render.compare_table import Shown, nothing_judged, render_comparison

    wanted = VerdictFilter(
        not_ok=not_ok,
        outcomes=frozenset().union(*outcomes),
        clients=tuple(clients),
        request=request,
        since=since,
        until=until,
        zone=_zone(local_time),
    )
    # One bar per side, when stderr is a terminal (or --progress); none for stdin.
    sides = [files for files in (edge, origin) if files is not None]
    labels = [_label(files) for files in sides]
    show = _show_progress(progress) and "-" not in labels
    options: dict[str, Any] = {
        "origins": origins,
        "ports": ports,
        "clock_offset_s": clock_offset,
        "strict": strict,
        "max_ratio": max_ratio,
        "edge_window": edge_window,
        "origin_window": origin_window,
    }
    edge_arg, origin_arg = _capture_arg(edge), _capture_arg(origin) if origin else None
    with _bars(show, labels) as updates:
        if as_json:  # streamed: each verdict is written as soon as it is final
            writer = ComparisonJsonStream(sys.stdout, wanted.matches if wanted.active else None)
            try:
                result = compare_streaming(
                    edge_arg, origin_arg, writer.verdict, progress=_per_side(updates), **options
                )
            except PcapdiffError as exc:
                writer.abort(str(exc))
                raise
            writer.finish(result)
            judged = list(writer.outcomes.elements())
        else:
            result = run_compare(edge_arg, origin_arg, progress=_per_side(updates), **options)
            judged = [v.outcome.value for v in result.verdicts]
    if not as_json:
        numbered = list(enumerate(result.verdicts, 1))
        chosen = [(n, v) for n, v in numbered if wanted.matches(v)]
        shown = Shown(chosen, len(numbered) - len(chosen), _described(click.get_current_context()))
        render_comparison(
            result,
            out_console(sys.stdout, width=output_width(sys.stdout, piped=200)),
            show_unpaired=show_unpaired,
            times=TimeFormat(_zone(local_time), result.edge.first_ts_ns),
            shown=shown,
        )
    code = for_outcomes(judged)
    if code is ExitCode.NOTHING_JUDGED:
        out_console(sys.stderr, stderr=True).print(f"note: {nothing_judged(result)}")
    sys.exit(code)


FILTER_OPTIONS = ("not_ok", "outcomes", "clients", "request", "since", "until")


def _described(ctx: click.Context) -> str:
    """The filters as given on the command line: '--not-ok --outcome 520'."""
    words = []
    for param in ctx.command.params:
        given = ctx.params.get(param.name or "")
        if param.name not in FILTER_OPTIONS or not given:
            continue
        flag = param.opts[-1]
        if isinstance(param, click.Option) and param.is_flag:
            words.append(flag)
            continue
        for value in given if param.multiple else (given,):
            words.append(f"{flag} {_as_given(value)}")
    return " ".join(words)


def _as_given(value: Any) -> str:
    if isinstance(value, frozenset):
        codes = {CDN_STATUS[o] for o in value}
        if len(value) > 1 and len(codes) == 1:  # --outcome 520: as given
            return str(codes.pop())
        return "|".join(sorted(o.value for o in value))
    if isinstance(value, ClientSpec):
        net, port = value.network, value.port
        host = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        return f"{host}:{port}" if port is not None else host
    if isinstance(value, When):
        return repr(value.text) if " " in value.text else value.text
    return str(value)


@cli.command(short_help="Capture the origin pull on this host with tcpdump, correctly.")
@click.option(
    "--role",
    type=click.Choice(["edge", "origin"]),
    required=True,
    help="Which end this host is: the CDN node (edge) or the origin server.",
)
@click.option(
    "--peer",
    "peers",
    multiple=True,
    type=NetworkType(),
    help="The other end's address or network. Repeatable. Default: any.",
)
@port_option("The origin's service port. Repeatable. Default: any TCP port.")
@click.option(
    "-i",
    "--interface",
    default="any",
    show_default=True,
    help="Interface to capture on; 'any' writes Linux cooked (SLL2) frames.",
)
@click.option(
    "--duration",
    type=Seconds(min=0.1),
    metavar="SECONDS",
    help="Stop after this long (default: Ctrl-C).",
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many packets.")
@click.option(
    "--max-size",
    "max_size_mb",
    type=click.IntRange(min=1),
    metavar="MB",
    help="Rotate files at this size, keeping --files of them (the newest).",
)
@click.option(
    "--files",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many rotated files to keep.",
)
@click.option("--pcapng", is_flag=True, help="Write pcapng (with dumpcap) instead of pcap.")
@click.option(
    "-o",
    "--output",
    type=OutputFile(),
    required=True,
    help="The capture file; FILE.json beside it records how it was taken.",
)
def capture(
    role: str,
    peers: tuple[Any, ...],
    ports: tuple[int, ...],
    interface: str,
    duration: float | None,
    count: int | None,
    max_size_mb: int | None,
    files: int,
    pcapng: bool,
    output: Path,
) -> None:
    """Capture the origin pull on this host with tcpdump, correctly, without flags to
    remember: whole packets, written at once, a 16 MiB kernel buffer, no name lookups,
    a filter built from --peer and --port, and a FILE.json sidecar that `compare`
    reads. Without tcpdump (dumpcap for --pcapng) it says so and uses scapy's sniffer
    with the same options. Needs root or CAP_NET_RAW.

    \b
    Examples:
      pcapdiff capture --role origin --peer 198.51.100.0/24 --port 443 -o origin.pcap
      pcapdiff capture --role edge --peer 203.0.113.10 --port 80 --duration 60 -o edge.pcap
      pcapdiff capture --role origin --port 80 --max-size 100 --files 5 -o ring.pcap
    """
    import signal

    from .capture import CaptureSpec, run_capture, sidecar_path

    try:
        spec = CaptureSpec(
            role=role,
            output=output,
            interface=interface,
            peers=tuple(str(p) for p in peers),
            ports=ports,
            duration_s=duration,
            count=count,
            max_size_mb=max_size_mb,
            files=files,
            pcapng=pcapng,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # stop like Ctrl-C: the file is flushed

    signal.signal(signal.SIGTERM, terminate)
    err = out_console(sys.stderr, stderr=True)
    result = run_capture(
        spec,
        started=lambda command: err.print(f"capturing: {command}  (Ctrl-C to stop)", markup=False),
        fallback=lambda why: err.print(f"note: {why}", markup=False),
    )
    got = result.meta.packets_captured
    dropped = result.meta.packets_dropped_by_kernel
    counts = (f"{got} packets" if got is not None else "") + (
        f", {dropped} dropped by the kernel" if dropped else ""
    )
    written = _written(output, max_size_mb is not None)
    err.print(
        f"wrote {written}" + (f" ({counts})" if counts else "") + f" and {sidecar_path(output)}",
        markup=False,
    )
    if max_size_mb is not None:
        pair = f"edge.pcap {output}" if role == "origin" else f"{output} origin.pcap"
        err.print(f"compare the whole ring with: pcapdiff compare {pair}", markup=False)
    sys.exit(ExitCode.OK)


def _written(output: Path, rotating: bool) -> str:
    """The files a capture wrote: FILE, or a ring's FILE0 .. FILEn (tcpdump -C -W)."""
    from .files import describe, ring_members

    members = ring_members(output) if rotating else []
    return describe(members) if members else str(output)


TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")


@cli.command(short_help="Reproduce the origin pull and say what a CDN would have answered.")
@click.argument("url")
@click.option(
    "--origin-ip",
    required=True,
    type=AddressType(),
    help="Connect here instead of resolving the URL's host (like curl --resolve).",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many attempts, one after another.",
)
@click.option(
    "--interval",
    type=Seconds(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Pause between attempts.",
)
@click.option(
    "--connect-timeout",
    type=Seconds(min=0.01),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up connecting (522) after this.",
)
@click.option(
    "--read-timeout",
    type=Seconds(min=0.01),
    default=15.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up waiting for the response (524) after this.",
)
@click.option("-k", "--insecure", is_flag=True, help="Do not verify the origin's certificate.")
@click.option(
    "--tls-min",
    type=click.Choice(TLS_VERSIONS),
    help="Offer no TLS version below this (the CDN's origin-pull setting).",
)
@click.option(
    "--tls-max",
    type=click.Choice(TLS_VERSIONS),
    help="Offer no TLS version above this (the CDN's origin-pull setting).",
)
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    type=HeaderType(),
    help="An extra request header. Repeatable.",
)
@click.option(
    "--abort-close",
    is_flag=True,
    help="End each connection with a RST (abortive close) instead of a normal close.",
)
@click.option(
    "--capture",
    "capture_file",
    type=OutputFile(),
    help="Capture the attempts into this file (and FILE.json), as `pcapdiff capture`.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per attempt.")
def probe(
    url: str,
    origin_ip: str,
    count: int,
    interval: float,
    connect_timeout: float,
    read_timeout: float,
    insecure: bool,
    tls_min: str | None,
    tls_max: str | None,
    headers: tuple[tuple[str, str], ...],
    abort_close: bool,
    capture_file: Path | None,
    as_json: bool,
) -> None:
    """Reproduce the origin pull: request URL from ORIGIN-IP, as a CDN node would, and
    say what the CDN would have answered (ok, 520, 521, 522, 524, 525). Each line
    gives the attempt's local address:port, to find it in a capture; a failure of
    this host (no route, no permission) is a local error, not a 522.

    Exit status: 0 every attempt ok, 1 at least one not, 2 trouble (a local error
    included).

    \b
    Examples:
      pcapdiff probe http://www.example.com/a.jpg --origin-ip 203.0.113.10 --count 10
      pcapdiff probe https://www.example.com/ --origin-ip 203.0.113.10 --capture edge.pcap
      pcapdiff probe https://www.example.com/ --origin-ip 2001:db8::10 --tls-max 1.2
    """
    import json

    from .probe import Attempt, ProbeSpec, capturing
    from .probe import probe as run_probe
    from .render.probe_text import attempt_line, summary_line

    try:
        spec = ProbeSpec(
            url,
            origin_ip,
            count=count,
            connect_timeout_s=connect_timeout,
            read_timeout_s=read_timeout,
            insecure=insecure,
            tls_min=tls_min,
            tls_max=tls_max,
            headers=headers,
            interval_s=interval,
            abort=abort_close,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="URL") from None
    err = out_console(sys.stderr, stderr=True)
    done: list[Attempt] = []
    try:
        with capturing(spec, capture_file, note=lambda why: err.print(f"note: {why}")):
            for a in run_probe(spec):  # each attempt as it ends: Ctrl-C keeps those done
                done.append(a)
                print(json.dumps(a._asdict()) if as_json else attempt_line(a), flush=True)
    finally:
        if done and not as_json:
            print(summary_line(done), flush=True)
    if capture_file is not None:
        err.print(f"capture: {capture_file} and {capture_file}.json")
    sys.exit(for_attempts(a.verdict for a in done))


def main(argv: list[str] | None = None) -> int:
    """Console entry point: every failure is one line on stderr and exit code 2."""
    # Millions of short-lived tuples per run make CPython's default GC thresholds
    # trigger full collections over and over; our records hold no reference cycles.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    # A stdout that cannot encode some text (PYTHONIOENCODING=ascii, a C locale) shows
    # it as escapes instead of failing mid-table.
    if sys.stdout is None or sys.stderr is None:  # started with >&- or 2>&-
        if sys.stderr is not None:
            sys.stderr.write("error: standard output is closed\n")
        return ExitCode.TROUBLE
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = _run(argv)
        sys.stdout.flush()  # a full disk shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # `pcapdiff conns big.pcap | head`: the reader left before the end.
        _drop_stdout()
        click.echo("error: the output was closed before it was complete (broken pipe)", err=True)
        return ExitCode.TROUBLE
    except OSError as exc:  # input errors are PcapdiffError: this is the output
        _drop_stdout()
        click.echo(f"error: writing the output failed: {exc.strerror or exc}", err=True)
        return ExitCode.TROUBLE


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush fails no more."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _run(argv: list[str] | None) -> int:
    """The command, its errors as one line each."""
    try:
        # Not standalone: click returns ctx.exit()'s code instead of raising it.
        code = cli.main(args=argv, prog_name="pcapdiff", standalone_mode=False)
        if isinstance(code, int):
            return code
    except click.BadParameter as exc:
        # "--origin-ip: '198.51.100.2:8080' is not an address (put the port in the URL)"
        if isinstance(exc, click.MissingParameter):
            text = exc.format_message()
        else:
            text = _named(exc) + exc.message
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"error: {text}{hint}", err=True)
        return ExitCode.TROUBLE
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        return ExitCode.TROUBLE
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return ExitCode.TROUBLE
    except PcapdiffError as exc:
        click.echo(f"error: {exc}", err=True)
        return ExitCode.TROUBLE
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("error: interrupted", err=True)
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return ExitCode.INTERRUPTED
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else ExitCode.TROUBLE
    return ExitCode.OK


def _named(exc: click.BadParameter) -> str:
    """The option (or argument) a bad value was given to, as 'NAME: '."""
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        param = exc.param
        hint = (
            "/".join(param.opts) if isinstance(param, click.Option) else param.human_readable_name
        )
    if isinstance(hint, (list, tuple)):
        hint = "/".join(hint)
    return f"{hint}: " if hint else ""


def entry() -> None:
    sys.exit(main())
