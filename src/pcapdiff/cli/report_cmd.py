"""`pcapdiff report`: the evidence page of a `compare --json` result."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..exitcodes import ExitCode
from .common import write_text_output


@click.command(short_help="Turn a 'compare --json' result into the HTML evidence report.")
@click.argument("result", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--html",
    "html_out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, allow_dash=True, path_type=Path),
    help="Write the report here (- for stdout): one self-contained page.",
)
@click.option(
    "--html-all",
    is_flag=True,
    help="A ladder diagram for every connection, ok ones too (where the JSON lists their "
    "packets: made by 'compare --json --html-all').",
)
def report(result: Path, html_out: Path, html_all: bool) -> None:
    """Write the evidence report of RESULT, the output of 'pcapdiff compare --json' (-
    for stdin): one HTML page with no scripts and nothing fetched, to attach to a
    ticket. The same page 'compare --html' writes.

    \b
    Examples:
      pcapdiff compare edge.pcap origin.pcap --json > result.json
      pcapdiff report result.json --html report.html
      pcapdiff compare edge.pcap origin.pcap --json | pcapdiff report - --html -
    """
    from ..render.html import report_html
    from ..report import read_compare_json

    document = read_compare_json(result)
    write_text_output(html_out, report_html(document, all_connections=html_all))
    sys.exit(ExitCode.OK)
