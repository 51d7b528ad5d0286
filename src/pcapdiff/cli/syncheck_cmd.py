"""`pcapdiff syncheck`: do the CDN's SYNs reach this origin, and are they answered?"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..conns import ScanOptions
from ..exitcodes import for_syncheck
from ..params import (
    CaptureFiles,
    NetworkType,
    local_time_option,
    max_ratio_option,
    progress_option,
    strict_option,
)
from ..render.console import out_console, output_width
from ..render.times import TimeFormat
from ..syncheck import check_syns, read_sources_file
from .common import bars, capture_arg, capture_label, show_progress, zone


@click.command(short_help="Say whether each SYN an origin received was answered.")
@click.argument("capture", type=CaptureFiles())
@click.option(
    "--from",
    "sources",
    multiple=True,
    type=NetworkType(),
    metavar="ADDR|CIDR",
    help="A source (the CDN's node addresses) to account for. Repeatable. Default: every "
    "source that sent a SYN.",
)
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="More sources, one address or network per line ('#' comments): a CDN's "
    "published list of ranges.",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    type=click.IntRange(1, 65535),
    metavar="N",
    help="Only SYNs to this server port. Repeatable. Default: every port.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write JSON (schema pcapdiff/syncheck/1, see docs/json.md) instead of text.",
)
@strict_option
@max_ratio_option
@local_time_option
@progress_option
def syncheck(
    capture: list[Path],
    sources: tuple[Any, ...],
    from_file: Path | None,
    ports: tuple[int, ...],
    as_json: bool,
    strict: bool,
    max_ratio: int,
    local_time: bool,
    progress: bool | None,
) -> None:
    """Account for every SYN in CAPTURE, taken on the origin: per source address (and
    per network given), how many connection attempts were answered with a SYN-ACK,
    refused with a RST or an ICMP error, left unanswered, or answered without the
    handshake ever completing (the SYN-ACK lost on the way back); when each source
    was first and last seen, and how it retransmitted its SYNs. A verdict and the
    next steps follow. An attempt whose answer was due after the capture ended is
    'undetermined', never blamed.

    \b
    Exit status: 0 every SYN was answered, 1 a SYN went unanswered or was refused,
    2 trouble (bad options, unreadable file), 3 no SYN from these sources was seen.

    \b
    Examples:
      pcapdiff syncheck origin.pcap --port 443
      pcapdiff syncheck origin.pcap --from 198.51.100.0/24 --from 2001:db8:cd::/48
      pcapdiff syncheck origin.pcap --from-file cdn-ips.txt --port 80 --port 443
      pcapdiff syncheck origin.pcap --json | jq '.sources[] | select(.verdict != "answered")'
    """
    from ..render.conns_table import render_warnings
    from ..render.syncheck_json import write_syncheck_json
    from ..render.syncheck_text import render_syncheck

    networks = tuple(sources) + (read_sources_file(from_file) if from_file else ())
    options = ScanOptions(strict=strict, max_ratio=max_ratio)
    label = capture_label(capture)
    with bars(show_progress(progress) and label != "-", [label]) as updates:
        check = check_syns(
            capture_arg(capture), networks, ports, options, updates[0] if updates else None
        )
    errors = out_console(sys.stderr, stderr=True)
    render_warnings(check.summary, errors)
    for warning in check.warnings:
        errors.print(f"warning: {warning}")
    if as_json:
        write_syncheck_json(check, sys.stdout)
    else:
        out = out_console(sys.stdout, width=output_width(sys.stdout, piped=160))
        times = TimeFormat(zone(local_time), check.start_ns)
        render_syncheck(check, out, check.summary.cite, times)
    sys.exit(for_syncheck(check.total.fates))
