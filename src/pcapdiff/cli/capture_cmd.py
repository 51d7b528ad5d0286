"""`pcapdiff capture`: a correct capture on this host."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..exitcodes import ExitCode
from ..params import (
    NetworkType,
    OutputFile,
    Seconds,
    port_option,
)
from ..render.console import out_console


@click.command(short_help="Capture the origin pull on this host with tcpdump, correctly.")
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

    from ..capture import CaptureSpec, run_capture, sidecar_path

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
    from ..files import describe, ring_members

    members = ring_members(output) if rotating else []
    return describe(members) if members else str(output)
