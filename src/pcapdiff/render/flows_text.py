"""`pcapdiff flows` for people: each connection, then its HTTP messages (start line,
headers, body size, frames), or what its streams hold; gaps and differing overlaps
said. Every byte from the wire is shown through text.safe_text."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.text import Text

from ..flows import Flow, HttpMessage, TlsRun
from ..live import LiveMessage, LiveSummary
from ..pairdiff import MessageDiff, PairedFlow
from ..reassembly import Stream
from ..text import wire_text
from .conns_table import describe_request, describe_response
from .layout import wrap
from .times import TimeFormat

PREVIEW_BYTES = 32  # of a stream that is not HTTP


def render_flow(
    flow: Flow, out: Console, times: TimeFormat, cite: Callable[[int], int | str]
) -> None:
    conn = flow.connection
    width = out.width
    head = (
        f"#{conn.id} {conn.client} -> {conn.server} {conn.conn_state} {conn.history}, "
        f"started {times.stamp(conn.first_ts_ns)}; client sent {_size(flow.client)}, "
        f"server {_size(flow.server)}"
    )
    _heading(head, out)
    lines: list[str] = []
    if flow.requests or flow.responses:
        answers = iter(flow.responses)
        for request in flow.requests:
            lines += _message(">", request, cite, width)
            response = next(answers, None)
            if response is not None:
                lines += _message("<", response, cite, width)
        for response in answers:
            lines += _message("<", response, cite, width)
        if flow.problem:
            lines += wrap(f"! HTTP parsing stopped: {flow.problem}", width, 2)
    elif flow.client_tls or flow.server_tls:
        runs = [(">", r) for r in flow.client_tls] + [("<", r) for r in flow.server_tls]
        for mark, run in sorted(runs, key=lambda m: m[1].first_frame):
            lines += wrap(f"{mark} {_tls(run, cite)}", width, 2)
        if conn.request is not None and conn.request.host:
            lines += wrap(f"  (server name {conn.request.host})", width, 2)
    else:
        what = describe_request(conn) or "no data"
        lines += wrap(f"> {what}; {_preview(flow.client)}", width, 2)
        answer = describe_response(conn, cite) or "no data"
        lines += wrap(f"< {answer}; {_preview(flow.server)}", width, 2)
    for side, stream in (("client", flow.client), ("server", flow.server)):
        lines += _damage(side, stream, cite, width)
    for line in lines:
        out.print(Text(line))
    out.print()


def _tls(run: TlsRun, cite: Callable[[int], int | str]) -> str:
    """'TLS handshake: ClientHello, 1 record, 512 bytes (frame 4)'."""
    frames = (
        f"frame {cite(run.first_frame)}"
        if run.first_frame == run.last_frame
        else f"frames {cite(run.first_frame)}-{cite(run.last_frame)}"
    )
    what = f": {run.what}" if run.what else ""
    records = f"{run.records:,} record{'' if run.records == 1 else 's'}"
    return f"TLS {run.kind}{what}, {records}, {run.payload_bytes:,} bytes ({frames})"


def _heading(text: str, out: Console) -> None:
    """A connection's first line, bold, wrapped at words."""
    for i, line in enumerate(wrap(text, out.width, 0)):
        out.print(Text(line, style="bold" if i == 0 else ""))


def _size(stream: Stream) -> str:
    return f"{stream.length:,} bytes"


def _message(mark: str, m: HttpMessage, cite: Callable[[int], int | str], width: int) -> list[str]:
    frames = (
        f"frame {cite(m.first_frame)}"
        if m.first_frame == m.last_frame
        else f"frames {cite(m.first_frame)}-{cite(m.last_frame)}"
    )
    lines = wrap(f"{mark} {m.start_line}  ({frames})", width, 2)
    for name, value in m.headers:
        lines += wrap(f"{mark}   {name}: {value}", width, 2, hang=6)
    body = f"{m.body_bytes:,} bytes of body ({m.framing})"
    if not m.complete:
        body += ", cut short"
    lines += wrap(f"{mark}   [{body}]", width, 2)
    return lines


def _preview(stream: Stream) -> str:
    if not stream.length:
        return "0 bytes"
    first = b""
    for span, data in stream.pieces():
        if span.gap:
            break
        first += data
        if len(first) >= PREVIEW_BYTES:
            break
    return f"{stream.length:,} bytes, starting “{wire_text(first[:PREVIEW_BYTES])}”"


def _damage(side: str, stream: Stream, cite: Callable[[int], int | str], width: int) -> list[str]:
    lines: list[str] = []
    for span in stream.spans:
        if span.gap:
            missing = span.end - span.start
            lines += wrap(
                f"! {side} bytes {span.start:,}-{span.end:,}: [{missing:,} bytes missing]",
                width,
                2,
            )
    for c in stream.conflicts:
        lines += wrap(
            f"! {side} bytes {c.start:,}-{c.end:,}: frame {cite(c.frame)} carries other bytes "
            f"than frame {cite(c.kept_frame)} did (the first kept): injected or rewritten data",
            width,
            2,
        )
    if stream.truncated:
        lines += wrap(f"! {side}: {stream.truncated:,} bytes past --max-bytes not kept", width, 2)
    return lines


def live_line(m: LiveMessage, times: TimeFormat) -> str:
    """18:51:40.123 198.51.100.7:40100 > GET /a.jpg HTTP/1.1 (Host www.example.com)"""
    msg = m.message
    if m.is_request:
        host = next((v for k, v in msg.headers if k.lower() == "host"), "")
        extra = f" (Host {host})" if host else ""
    else:
        extra = f" ({msg.body_bytes:,} bytes of body)"
    mark = ">" if m.is_request else "<"
    return f"{times.stamp(m.ts_ns)} {m.client} {mark} {msg.start_line}{extra}"


def live_summary(s: LiveSummary) -> str:
    """'2 clients: 198.51.100.7 3 requests (3 answered), 198.51.100.8 1 (0)'."""
    if not s.requests:
        return f"no HTTP request seen ({s.connections:,} connections, {s.packets:,} segments)"
    parts = [
        f"{client} {n:,} request{'' if n == 1 else 's'} ({s.responses[client]:,} answered)"
        for client, n in s.requests.most_common()
    ]
    clients = len(s.requests)
    return f"{clients} client{'' if clients == 1 else 's'}: " + ", ".join(parts)


def render_paired(p: PairedFlow, out: Console, times: TimeFormat) -> None:
    """The edge's connection and its twin at the origin; each message as sent beside
    as received, with what changed on the way."""
    e, o = p.edge.connection, p.origin.connection
    width = out.width
    head = (
        f"#{p.number} edge {e.client} -> {e.server} (conn {e.id}, started "
        f"{times.stamp(e.first_ts_ns)}) = origin {o.client} -> {o.server} (conn {o.id}); "
        f"{p.verdict.outcome.value}"
    )
    _heading(head, out)
    lines: list[str] = []
    for kind, diffs, sender, receiver in (
        ("request", p.requests, "edge", "origin"),
        ("response", p.responses, "origin", "edge"),
    ):
        for d in diffs:
            lines += _message_diff(kind, d, sender, receiver, width)
    if not p.requests and not p.responses:
        lines += wrap("no HTTP messages on either side", width, 2)
    for line in lines:
        out.print(Text(line))
    out.print()


def _message_diff(kind: str, d: MessageDiff, sender: str, receiver: str, width: int) -> list[str]:
    if d.sent is None:
        assert d.received is not None
        return wrap(
            f"! {kind} {d.number}: {receiver} got “{d.received.start_line}”, which {sender} "
            "never sent",
            width,
            2,
        )
    if d.received is None:
        return wrap(
            f"! {kind} {d.number}: {sender} sent “{d.sent.start_line}”; {receiver} never got it",
            width,
            2,
        )
    if d.same:
        return wrap(f"= {kind} {d.number}: {d.sent.start_line} (the same at both ends)", width, 2)
    lines = wrap(f"~ {kind} {d.number}: {d.sent.start_line}, changed on the way:", width, 2)
    if d.start_line is not None:
        lines += wrap(f"~   start line: {d.start_line[0]}  ->  {d.start_line[1]}", width, 2, 6)
    for name, value in d.added:
        lines += wrap(f"+   {name}: {value}  (added)", width, 2, 6)
    for name, value in d.removed:
        lines += wrap(f"-   {name}: {value}  (removed)", width, 2, 6)
    for name, before, after in d.changed:
        lines += wrap(f"~   {name}: {before}  ->  {after}", width, 2, 6)
    if d.body_spans:
        lines += wrap(f"~   body differs: {body_spans_text(d)}", width, 2, 6)
    return lines


def body_spans_text(d: MessageDiff) -> str:
    """'bytes 10, 400-1,023, 1,024-2,047 (2,048 bytes sent, 1,024 received)'."""
    sent = d.sent.body_bytes if d.sent is not None else 0
    got = d.received.body_bytes if d.received is not None else 0
    ranges = ", ".join(f"{a:,}" if b == a + 1 else f"{a:,}-{b - 1:,}" for a, b in d.body_spans)
    more = " and more" if d.more_spans else ""
    sizes = f" ({sent:,} bytes sent, {got:,} received)" if sent != got else ""
    return f"bytes {ranges}{more}{sizes}"
