"""`pcapdiff compare`: every origin-pull connection judged."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import PcapdiffError
from ..exitcodes import ExitCode, for_outcomes
from ..filters import ClientSpec, VerdictFilter, When
from ..model import CDN_STATUS, Outcome
from ..params import (
    CaptureFiles,
    ClientType,
    OriginSpecType,
    OutcomeType,
    Seconds,
    TimeWindow,
    WhenType,
    local_time_option,
    max_ratio_option,
    port_option,
    progress_option,
    request_option,
    strict_option,
)
from ..render.console import out_console, output_width
from ..render.times import TimeFormat
from .common import (
    bars,
    capture_arg,
    capture_label,
    output_file,
    per_side,
    show_progress,
    zone,
)

if TYPE_CHECKING:
    from ..render.compare_table import TableRows


@click.command(short_help="Judge every origin-pull connection: whose fault a 52x was.")
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
@request_option
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
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True, path_type=Path),
    help="Also write the evidence report here (- for stdout, instead of the table): one "
    "self-contained HTML page with a ladder diagram per connection that is not ok.",
)
@click.option(
    "--html-all",
    is_flag=True,
    help="A ladder for every connection, ok ones too (in --html's page, and their "
    "packets in --json's).",
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
    html_out: Path | None,
    html_all: bool,
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
      pcapdiff compare edge.pcap origin.pcap --html report.html   # for the ticket
    """
    from ..comparison import compare as run_compare
    from ..comparison import compare_streaming
    from ..render.compare_json import ComparisonJsonStream, comparison_tail, verdict_to_json
    from ..render.conns_json import same_frame

    if as_json and html_out is not None and str(html_out) == "-":
        raise click.UsageError("--json and --html - would both write to stdout: name a file")

    wanted = VerdictFilter(
        not_ok=not_ok,
        outcomes=frozenset().union(*outcomes),
        clients=tuple(clients),
        request=request,
        since=since,
        until=until,
        zone=zone(local_time),
    )
    # One bar per side, when stderr is a terminal (or --progress); none for stdin.
    sides = [files for files in (edge, origin) if files is not None]
    labels = [capture_label(files) for files in sides]
    show = show_progress(progress) and "-" not in labels
    options: dict[str, Any] = {
        "origins": origins,
        "ports": ports,
        "clock_offset_s": clock_offset,
        "strict": strict,
        "max_ratio": max_ratio,
        "edge_window": edge_window,
        "origin_window": origin_window,
    }
    edge_arg, origin_arg = capture_arg(edge), capture_arg(origin) if origin else None
    page = None
    if html_out is not None:
        from ..render.html import HtmlReport  # its imports only for a page

        page = HtmlReport(all_connections=html_all)
    # the table (no --json, no page): each verdict on disk as it is final, laid out at
    # the end; --json and the page need no spool (nor its temporary file)
    spool = None
    if not as_json and page is None:
        # the table's modules (rich, the spool's tempfile) only for a table
        from ..render.compare_table import VerdictSpool

        spool = VerdictSpool(wanted.matches if wanted.active else None)
    try:
        with bars(show, labels) as updates:
            if as_json or (page is not None and str(html_out) == "-"):
                # streamed: each verdict is written as soon as it is final (and added to
                # the page, which is written at the end: its ladders need the clock)
                json_out = sys.stdout if as_json else open(os.devnull, "w")  # noqa: SIM115
                writer = ComparisonJsonStream(
                    json_out,
                    wanted.matches if wanted.active else None,
                    all_packets=html_all,
                    page=page,
                )
                try:
                    result = compare_streaming(
                        edge_arg,
                        origin_arg,
                        writer.verdict,
                        progress=per_side(updates),
                        # the core writes each verdict's text, unless a filter must see it
                        emit_texts=None if wanted.active else writer.texts,
                        all_packets=html_all,
                        **options,
                    )
                except PcapdiffError as exc:
                    tail = writer.abort(str(exc))
                    if page is not None and html_out is not None:
                        # the page too holds the verdicts up to the failure, and says why
                        with output_file(html_out) as out:
                            page.write(tail, out)
                    raise
                tail = writer.finish(result)
                judged = list(writer.outcomes.elements())
            elif spool is not None:
                result = compare_streaming(
                    edge_arg,
                    origin_arg,
                    spool.verdict,
                    progress=per_side(updates),
                    # the core's rows, unless a filter must see each Verdict
                    emit_rows=None if wanted.active else spool.row,
                    **options,
                )
                judged = [o.value for o in spool.outcomes.elements()]
            else:
                result = run_compare(edge_arg, origin_arg, progress=per_side(updates), **options)
                judged = [v.outcome.value for v in result.verdicts]
                if page is not None:
                    cites = (result.edge.cite, result.origin.cite if result.origin else same_frame)
                    on_page = 0
                    for n, v in enumerate(result.verdicts, 1):
                        if wanted.matches(v):
                            page.add(verdict_to_json(n, v, *cites, all_packets=html_all))
                            on_page += 1
                    assumed = sum(1 for v in result.verdicts if v.assumes)
                    left = len(result.verdicts) - on_page
                    tail = comparison_tail(result, Counter(judged), assumed, left)
        if page is not None and html_out is not None:
            with output_file(html_out) as out:
                page.write(tail, out)
        if not as_json and not (html_out is not None and str(html_out) == "-"):
            from ..render.compare_table import Shown, render_comparison

            filters = _described(click.get_current_context())
            shown: Shown | TableRows
            if spool is not None:
                shown = spool.table(bool(result.edge.files), filters)
            else:
                numbered = list(enumerate(result.verdicts, 1))
                chosen = [(n, v) for n, v in numbered if wanted.matches(v)]
                shown = Shown(chosen, len(numbered) - len(chosen), filters)
            render_comparison(
                result,
                out_console(sys.stdout, width=output_width(sys.stdout, piped=200)),
                show_unpaired=show_unpaired,
                times=TimeFormat(zone(local_time), result.edge.first_ts_ns),
                shown=shown,
            )
    finally:
        if spool is not None:
            spool.close()  # the table's spool, deleted
    code = for_outcomes(judged)
    if code is ExitCode.NOTHING_JUDGED:
        from ..render.compare_table import nothing_judged

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
