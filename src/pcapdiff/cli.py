"""The command line: options in, one library call, render out.

Exit codes follow DESIGN.md: 0 done (for `compare`: every connection ok), 1 a
connection is not ok, 2 trouble (bad options, unreadable or damaged file) with a
one-line message on stderr and no traceback.
"""

from __future__ import annotations

import contextlib
import gc
import io
import ipaddress
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from enum import IntEnum
from pathlib import Path
from typing import Any

import click

from .conns import ScanOptions, scan_connections
from .errors import PcapdiffError
from .match import parse_origin
from .model import Connection, Side
from .read import DEFAULT_MAX_RATIO
from .render.compare_table import render_comparison
from .render.conns_json import write_conns_json
from .render.conns_table import render_conns_table, render_footer, render_warnings
from .render.console import out_console

CONN_STATES = (
    "S0",
    "S1",
    "SF",
    "REJ",
    "S2",
    "S3",
    "RSTO",
    "RSTR",
    "RSTOS0",
    "RSTRH",
    "SH",
    "SHR",
    "OTH",
)


# No span of time pcapdiff deals with is longer than ten years either way.
MAX_SECONDS = 10 * 365 * 86400


class Seconds(click.FloatRange):
    """A finite number of seconds in a range: click's FloatRange lets nan and inf
    through (nan compares false with every bound)."""

    name = "number of seconds"

    def __init__(self, min: float | None = None, max: float = MAX_SECONDS) -> None:
        super().__init__(min=-MAX_SECONDS if min is None else min, max=max)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return super().convert(number, param, ctx)


class CaptureFiles(click.ParamType):  # type: ignore[type-arg]
    """A capture: a file, - for stdin, a quoted glob ('eth*.pcap'), or a rotated ring
    by its base name (ring.pcap for ring.pcap0 .. ring.pcap9): a list of paths."""

    name = "CAPTURE"

    def convert(self, value: Any, param: Any, ctx: Any) -> list[Path]:
        if isinstance(value, list):
            return value
        from .files import capture_files

        try:
            files = capture_files(str(value))
        except PcapdiffError as exc:
            self.fail(str(exc), param, ctx)
        for path in files:
            if path.is_dir():
                self.fail(f"{path}: is a directory, not a capture file", param, ctx)
        return files


def _capture_arg(files: list[Path]) -> str | list[str]:
    """What the library takes: one path, or the list of a ring's (a glob's) files."""
    return str(files[0]) if len(files) == 1 else [str(p) for p in files]


def _label(files: list[Path]) -> str:
    from .files import describe

    return describe(files)


class TimeWindow(click.ParamType):  # type: ignore[type-arg]
    """START,END: epoch seconds or ISO 8601 times (UTC unless they say otherwise)."""

    name = "START,END"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[float, float]:
        if isinstance(value, tuple):
            return value
        start_text, sep, end_text = str(value).partition(",")
        if not sep:
            self.fail(f"{value!r} is not START,END", param, ctx)
        start, end = self._time(start_text, param, ctx), self._time(end_text, param, ctx)
        if end < start:
            self.fail(f"{value!r}: END is before START", param, ctx)
        return start, end

    def _time(self, text: str, param: Any, ctx: Any) -> float:
        import datetime
        import math

        text = text.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = datetime.datetime.fromisoformat(text)
            except ValueError:
                self.fail(f"{text!r} is neither epoch seconds nor an ISO 8601 time", param, ctx)
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.timezone.utc)
            return when.timestamp()
        if not math.isfinite(seconds):
            self.fail(f"{text!r} is not a finite time", param, ctx)
        return seconds


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


def progress_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--progress/--no-progress, the same on every command that reads captures."""
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Show a progress bar on stderr (default: when stderr is a terminal).",
    )(command)


def _capture_file(path: Path) -> Path:
    """`capture -o -` would hand the packets to tcpdump's stdout and lose them."""
    if str(path) == "-":
        raise click.BadParameter(
            "'-' is not a file: capture writes a file and its FILE.json sidecar "
            "(to stream packets, run tcpdump -w - yourself)",
            param_hint="-o/--output",
        )
    return path


def max_ratio_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--max-ratio, the same on every command that reads captures."""
    return click.option(
        "--max-ratio",
        type=click.IntRange(min=0),
        default=DEFAULT_MAX_RATIO,
        show_default=True,
        help="Stop reading compressed input that expands to more than this many times "
        "its size (past 256 MiB): a decompression bomb. 0 reads it all.",
    )(command)


class ExitCode(IntEnum):
    OK = 0
    NOT_OK = 1
    TROUBLE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="pcapdiff")
def cli() -> None:
    """Packet-level evidence for CDN 52x errors: read, track and compare TCP captures."""


def _network(_ctx: Any, _param: Any, values: tuple[str, ...]) -> list[Any]:
    try:
        return [ipaddress.ip_network(v, strict=False) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.argument("capture", type=CaptureFiles())
@click.option(
    "--host",
    "hosts",
    multiple=True,
    callback=_network,
    metavar="ADDR|CIDR",
    help="Only connections with this address (or network) at either end. Repeatable.",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    type=click.IntRange(0, 65535),
    help="Only connections with this port at either end. Repeatable.",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(CONN_STATES),
    help="Only connections in this Zeek conn_state. Repeatable.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write JSON (schema pcapdiff/conns/1, see docs/json.md) instead of a table.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Treat a file cut off inside a record as an error (exit 2), not a warning.",
)
@max_ratio_option
@click.option(
    "--idle-timeout",
    type=Seconds(min=0.001),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Release a connection after this long without packets.",
)
@progress_option
def conns(
    capture: list[Path],
    hosts: list[Any],
    ports: tuple[int, ...],
    states: tuple[str, ...],
    as_json: bool,
    strict: bool,
    max_ratio: int,
    idle_timeout: float,
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
    options = ScanOptions(
        strict=strict, idle_timeout_ns=int(idle_timeout * 1e9), max_ratio=max_ratio
    )
    err = out_console(sys.stderr, stderr=True)
    show_progress = sys.stderr.isatty() if progress is None else progress
    label = _label(capture)
    with _bars(show_progress and label != "-", [label]) as updates:
        on_progress = updates[0] if updates else None
        scan = scan_connections(_capture_arg(capture), options, on_progress)
        selected = _Selection(scan, hosts, ports, states)
        if as_json:
            filters = {"host": [str(h) for h in hosts], "port": list(ports), "state": list(states)}
            write_conns_json(selected, scan.summary, sys.stdout, filters)
        else:
            several = bool(scan.summary.files)  # frames are per file: order by time
            rows = sorted(selected, key=lambda c: (c.first_ts_ns if several else 0, c.first_frame))
    render_warnings(scan.summary, err)
    if not as_json:
        # Piped tables keep whole lines: 160 columns unless the terminal says otherwise.
        out = out_console(sys.stdout, width=None if sys.stdout.isatty() else 160)
        render_conns_table(rows, out, scan.summary.cite)
        render_footer(scan.summary, len(rows), selected.seen, out)
    sys.exit(ExitCode.OK)


@cli.command()
@click.argument("edge", type=CaptureFiles())
@click.argument("origin", required=False, type=CaptureFiles())
@click.option(
    "--origin",
    "origins",
    multiple=True,
    metavar="HOST[:PORT]",
    help="The origin's address, network or VIP (and port) the edge connects to. "
    "Repeatable. Default: what the origin capture serves.",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    type=click.IntRange(1, 65535),
    help="Only edge connections to this server port. Repeatable.",
)
@click.option(
    "--clock-offset",
    type=Seconds(),
    default=None,
    metavar="SECONDS",
    help="Origin clock minus edge clock, instead of estimating it.",
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
@click.option("--strict", is_flag=True, help="A capture cut off mid-record is an error.")
@max_ratio_option
@progress_option
def compare(
    edge: list[Path],
    origin: list[Path] | None,
    origins: tuple[str, ...],
    ports: tuple[int, ...],
    clock_offset: float | None,
    as_json: bool,
    edge_window: tuple[float, float] | None,
    origin_window: tuple[float, float] | None,
    show_unpaired: bool,
    strict: bool,
    max_ratio: int,
    progress: bool | None,
) -> None:
    """Judge every origin-pull connection in EDGE against ORIGIN: whose fault a 52x was.

    EDGE is the capture on the CDN node (the TCP client), ORIGIN the capture taken at
    the same time on the origin server. Without ORIGIN the edge capture is judged
    alone, and the culprit is unknown unless the capture proves it.

    Either may be several files read as one, merged by time, frames cited as FILE#N:
    a rotated ring by its base name (ring.pcap reads ring.pcap0, ring.pcap1, ..), or
    a quoted pattern ('origin-eth*.pcap').

    Exit status: 0 every connection ok, 1 at least one is not, 2 trouble.

    \b
    Examples:
      pcapdiff compare edge.pcap origin.pcap
      pcapdiff compare edge.pcap origin.pcapng --origin 203.0.113.10:443
      pcapdiff compare edge.pcap --port 80                 # edge capture alone
      pcapdiff compare edge.pcap ring.pcap                 # origin: ring.pcap0 .. ring.pcap9
      pcapdiff compare edge.pcap origin.pcap --json | jq '.connections[] | select(.outcome != "ok")'
    """
    from .compare import compare as run_compare
    from .compare import compare_streaming
    from .render.compare_json import ComparisonJsonStream

    for spec in origins:
        try:
            parse_origin(spec)
        except ValueError as exc:
            raise click.BadParameter(f"{spec!r}: {exc}", param_hint="--origin") from None
    # One bar per side, when stderr is a terminal (or --progress); none for stdin.
    sides = [files for files in (edge, origin) if files is not None]
    labels = [_label(files) for files in sides]
    show = (sys.stderr.isatty() if progress is None else progress) and "-" not in labels
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
            writer = ComparisonJsonStream(sys.stdout)
            try:
                result = compare_streaming(
                    edge_arg, origin_arg, writer.verdict, progress=_per_side(updates), **options
                )
            except PcapdiffError as exc:
                writer.abort(str(exc))
                raise
            writer.finish(result)
            outcomes = set(writer.outcomes)
        else:
            result = run_compare(edge_arg, origin_arg, progress=_per_side(updates), **options)
            outcomes = {v.outcome.value for v in result.verdicts}
    if not as_json:
        render_comparison(
            result,
            out_console(sys.stdout, width=None if sys.stdout.isatty() else 200),
            show_unpaired=show_unpaired,
        )
    sys.exit(ExitCode.NOT_OK if outcomes - {"ok"} else ExitCode.OK)


@cli.command()
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
    metavar="ADDR|CIDR",
    help="The other end's address or network. Repeatable. Default: any.",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    type=click.IntRange(1, 65535),
    help="The origin's service port. Repeatable. Default: any TCP port.",
)
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
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    callback=lambda _ctx, _param, value: _capture_file(value),
    help="The capture file; FILE.json beside it records how it was taken.",
)
def capture(
    role: str,
    peers: tuple[str, ...],
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
            peers=peers,
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


@cli.command()
@click.argument("url")
@click.option(
    "--origin-ip",
    required=True,
    metavar="ADDR",
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
    metavar="'NAME: VALUE'",
    help="An extra request header. Repeatable.",
)
@click.option(
    "--capture",
    "capture_file",
    type=click.Path(dir_okay=False, path_type=Path),
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
    headers: tuple[str, ...],
    capture_file: Path | None,
    as_json: bool,
) -> None:
    """Reproduce the origin pull: request URL from ORIGIN-IP, as a CDN node would, and
    say what the CDN would have answered (ok, 520, 521, 522, 524, 525).

    Exit status: 0 every attempt ok, 1 at least one not, 2 trouble.

    \b
    Examples:
      pcapdiff probe http://www.example.com/a.jpg --origin-ip 203.0.113.10 --count 10
      pcapdiff probe https://www.example.com/ --origin-ip 203.0.113.10 --capture edge.pcap
      pcapdiff probe https://www.example.com/ --origin-ip 2001:db8::10 --tls-max 1.2
    """
    import json
    import threading
    from urllib.parse import urlsplit

    from .capture import CaptureSpec, run_capture
    from .probe import ProbeSpec
    from .probe import probe as run_probe

    pairs = []
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep:
            raise click.BadParameter(f"{h!r}: write NAME: VALUE", param_hint="--header")
        pairs.append((name.strip(), value.strip()))
    try:
        ipaddress.ip_address(origin_ip)
        spec = ProbeSpec(
            url,
            origin_ip,
            count=count,
            connect_timeout_s=connect_timeout,
            read_timeout_s=read_timeout,
            insecure=insecure,
            tls_min=tls_min,
            tls_max=tls_max,
            headers=tuple(pairs),
            interval_s=interval,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    err = out_console(sys.stderr, stderr=True)
    stop, ready, failure = threading.Event(), threading.Event(), []
    capturing = None
    if capture_file is not None:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        cap = CaptureSpec(role="edge", output=capture_file, peers=(origin_ip,), ports=(port,))

        def run() -> None:
            try:
                run_capture(
                    cap,
                    stop=stop,
                    started=lambda _command: ready.set(),
                    fallback=lambda why: err.print(f"note: {why}", markup=False),
                )
            except PcapdiffError as exc:
                failure.append(exc)
                ready.set()

        capturing = threading.Thread(target=run)
        capturing.start()
        ready.wait(30)
        if failure:
            raise failure[0]
    all_ok = True
    try:
        for a in run_probe(spec):  # each attempt as it ends: Ctrl-C keeps those done
            all_ok = all_ok and a.verdict == "ok"
            if as_json:
                print(json.dumps(a._asdict()), flush=True)
                continue
            timing = " ".join(
                f"{k} {v:.1f} ms"
                for k, v in (
                    ("connect", a.connect_ms),
                    ("tls", a.tls_ms),
                    ("first byte", a.first_byte_ms),
                )
                if v is not None
            )
            print(
                f"#{a.n} {a.verdict:>3} {a.local or '-':<22} {timing} total {a.total_ms:.1f} "
                f"ms: {a.detail}",
                flush=True,
            )
    finally:
        if capturing is not None:
            stop.wait(0.5)  # let the last packets reach the capture
            stop.set()
            capturing.join(60)
    if capture_file is not None:
        err.print(f"capture: {capture_file} and {capture_file}.json")
    sys.exit(ExitCode.OK if all_ok else ExitCode.NOT_OK)


class _Selection:
    """The connections that pass the filters; counts all it saw."""

    def __init__(
        self,
        connections: Iterable[Connection],
        hosts: list[Any],
        ports: tuple[int, ...],
        states: tuple[str, ...],
    ) -> None:
        self.connections, self.hosts, self.ports, self.states = connections, hosts, ports, states
        self.seen = 0

    def __iter__(self) -> Iterator[Connection]:
        for conn in self.connections:
            self.seen += 1
            if self._wanted(conn):
                yield conn

    def _wanted(self, conn: Connection) -> bool:
        if self.ports and conn.client.port not in self.ports and conn.server.port not in self.ports:
            return False
        if self.states and conn.conn_state not in self.states:
            return False
        if self.hosts:
            addrs = [ipaddress.ip_address(e.addr) for e in (conn.client, conn.server)]
            return any(a in net for net in self.hosts for a in addrs if a.version == net.version)
        return True


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
        cli.main(args=argv, prog_name="pcapdiff", standalone_mode=False)
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
        return 130
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else ExitCode.TROUBLE
    return ExitCode.OK


def entry() -> None:
    sys.exit(main())
