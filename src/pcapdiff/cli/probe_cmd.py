"""`pcapdiff probe`: the origin pull reproduced."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..exitcodes import for_attempts
from ..params import (
    AddressType,
    HeaderType,
    OutputFile,
    Seconds,
)
from ..render.console import out_console

TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")


@click.command(short_help="Reproduce the origin pull and say what a CDN would have answered.")
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

    from ..probe import Attempt, ProbeSpec, capturing
    from ..probe import probe as run_probe
    from ..render.probe_text import attempt_line, summary_line

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
