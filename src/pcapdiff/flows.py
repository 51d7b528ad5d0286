"""The `flows` job (the tcpflow job) as a library call: each connection's two byte
streams, reassembled, and the HTTP/1.x messages in them.

read -> decode -> track, with the tracker's tap feeding one ``reassembly.Stream`` per
direction of each connection that passes the filters; when the tracker releases a
connection its streams go with it, so memory follows live connections (each stream
bounded by ``max_bytes``). Connection ids are those `conns` and `compare` print.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .conns import DEFAULT_SCAN, ConnectionScan, ScanOptions, Sources
from .filters import ConnectionFilter, request_text
from .framing import MAX_HTTP_HEAD_BYTES, MAX_LINE_BYTES
from .model import SYN, CaptureSummary, Connection, SegmentRow
from .payload import tls_alert
from .read import ProgressFn
from .reassembly import DEFAULT_MAX_BYTES, M32, Stream
from .text import safe_text

NO_BODY_STATUSES = (204, 304)


class HttpMessage(NamedTuple):
    """One HTTP/1.x request or response found in a stream."""

    start: int  # stream offsets of its first and one past its last byte
    end: int
    start_line: str  # as sent, made safe to show (text.safe_text)
    headers: tuple[tuple[str, str], ...]
    body_bytes: int
    framing: str  # "content-length", "chunked", "no body", "until close"
    complete: bool  # all its bytes are in the stream
    first_frame: int
    last_frame: int


class TlsRun(NamedTuple):
    """Consecutive TLS records of one kind in a stream: "3 records, 4,213 bytes of
    application data", "handshake: ClientHello", "alert fatal handshake_failure"."""

    kind: str  # "handshake", "application data", "alert", "change cipher spec", ..
    records: int
    payload_bytes: int
    what: str  # handshake message names, the alert, "" otherwise
    first_frame: int
    last_frame: int


TLS_CONTENT = {20: "change cipher spec", 21: "alert", 22: "handshake", 23: "application data"}
TLS_HANDSHAKES = {
    1: "ClientHello",
    2: "ServerHello",
    4: "NewSessionTicket",
    8: "EncryptedExtensions",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
    20: "Finished",
}
MAX_TLS_RECORDS = 100_000  # per stream: past these, the rest is one run of "more"


@dataclass
class Flow:
    """A connection and what each side sent."""

    connection: Connection
    client: Stream
    server: Stream
    requests: list[HttpMessage] = field(default_factory=list)
    responses: list[HttpMessage] = field(default_factory=list)
    problem: str = ""  # why HTTP parsing stopped, when it did
    client_tls: list[TlsRun] = field(default_factory=list)
    server_tls: list[TlsRun] = field(default_factory=list)


@dataclass(frozen=True)
class FlowOptions:
    wanted: ConnectionFilter = field(default_factory=ConnectionFilter)
    conn_ids: frozenset[int] = frozenset()  # --conn: only these
    request: str = ""  # --request: only flows whose first request contains it
    max_bytes: int = DEFAULT_MAX_BYTES  # per stream
    # Find the HTTP messages and TLS records; off where only the bytes are written
    # (--out-dir, --raw): a tenth of the time there.
    messages: bool = True


class FlowScan:
    """An iterator of the flows of one capture, in the order their connections end;
    ``summary`` is complete once it has finished."""

    def __init__(
        self,
        source: Sources,
        options: FlowOptions = FlowOptions(),
        scan: ScanOptions = DEFAULT_SCAN,
        progress: ProgressFn | None = None,
    ) -> None:
        self.options = options
        self.streams: dict[int, tuple[Stream, Stream]] = {}
        self.skipped: set[int] = set()  # connection ids the filters leave out
        self.scan = ConnectionScan(source, scan, progress, tap=self._tap)
        self.summary: CaptureSummary = self.scan.summary

    def _tap(self, conn_id: int, from_client: bool, seg: SegmentRow) -> None:
        pair = self.streams.get(conn_id)
        if pair is None:
            if conn_id in self.skipped:
                return
            if not self._may_want(conn_id, seg):
                self.skipped.add(conn_id)
                return
            size = self.options.max_bytes
            pair = self.streams[conn_id] = (Stream(max_bytes=size), Stream(max_bytes=size))
        feed(pair[0] if from_client else pair[1], seg)

    def _may_want(self, conn_id: int, seg: SegmentRow) -> bool:
        """The filters that can be decided from a segment (the rest at the end)."""
        if self.options.conn_ids and conn_id not in self.options.conn_ids:
            return False
        return self.options.wanted.matches_ends(bytes(seg[2]), seg[3], bytes(seg[4]), seg[5])

    def __iter__(self) -> Iterator[Flow]:
        for conn in self.scan:
            pair = self.streams.pop(conn.id, None)
            if conn.id in self.skipped:
                self.skipped.discard(conn.id)
                continue
            if not self._wanted(conn):
                continue
            client, server = pair or (Stream(), Stream())
            client.close()
            server.close()
            yield (
                http_flow(conn, client, server)
                if self.options.messages
                else Flow(conn, client, server)
            )

    def _wanted(self, conn: Connection) -> bool:
        if self.options.conn_ids and conn.id not in self.options.conn_ids:
            return False
        if not self.options.wanted.matches(conn):
            return False
        text = self.options.request.lower()
        return not text or text in request_text(conn).lower()


def feed(stream: Stream, seg: SegmentRow) -> None:
    """One segment into its direction's stream: a SYN sets where the stream starts
    (its data, if any, begins at ISN+1); bytes the snap length cut become a gap."""
    frame, flags, seq, wire_len = seg[0], seg[6], seg[7], seg[10]
    data, payload_at, end = seg[13], seg[15], seg[16]
    if flags & SYN:
        stream.syn(seq)
    captured = bytes(data[payload_at : min(end, payload_at + wire_len)])
    stream.add((seq + 1) % M32 if flags & SYN else seq, captured, frame, wire_len)


def scan_flows(
    source: Sources,
    options: FlowOptions = FlowOptions(),
    scan: ScanOptions = DEFAULT_SCAN,
    progress: ProgressFn | None = None,
) -> FlowScan:
    return FlowScan(source, options, scan, progress)


# --- HTTP/1.x messages in a reassembled stream -----------------------------------------


def http_flow(conn: Connection, client: Stream, server: Stream) -> Flow:
    """The flow with its HTTP messages, when the client's stream starts as HTTP."""
    flow = Flow(conn, client, server)
    if conn.request is not None and conn.request.kind == "tls":
        flow.client_tls, flow.server_tls = tls_runs(client), tls_runs(server)
        return flow
    if conn.request is None or conn.request.kind != "http":
        return flow
    methods: deque[str] = deque()
    flow.requests, problem = messages(client, True, methods)
    flow.responses, answer_problem = messages(server, False, methods)
    flow.problem = problem or answer_problem
    return flow


def contiguous(stream: Stream) -> bytes:
    """The stream's bytes up to its first gap (or up to what was kept)."""
    out = bytearray()
    for span, data in stream.pieces():
        if span.gap:
            break
        out += data
        if len(data) < span.end - span.start:
            break  # past max_bytes
    return bytes(out)


def messages(
    stream: Stream, is_request: bool, methods: deque[str]
) -> tuple[list[HttpMessage], str]:
    """Every HTTP/1.x message in the stream, in order, up to its first gap (the last
    one possibly incomplete). A response's framing depends on its request's method
    (HEAD): ``methods`` is shared between the two directions, the requests' parse
    filling it first."""
    found, _at, problem = _parse(
        contiguous(stream), 0, is_request, methods, stream.taken_frames(), final=True
    )
    return found, problem


def parse_messages(
    data: bytes | bytearray,
    at: int,
    is_request: bool,
    methods: deque[str],
    frames: list[tuple[int, int]],
    final: bool = False,
) -> tuple[list[HttpMessage], int]:
    """The messages complete in ``data`` from offset ``at`` on, and where the next
    begins: for a stream still arriving (live), so a message is reported once.
    ``final``: the sender closed; a body framed by the close ends here."""
    found, at, _problem = _parse(data, at, is_request, methods, frames, final=final)
    return found, at


def _parse(
    data: bytes | bytearray,
    at: int,
    is_request: bool,
    methods: deque[str],
    frames: list[tuple[int, int]],
    final: bool,
) -> tuple[list[HttpMessage], int, str]:
    found: list[HttpMessage] = []
    while at < len(data):
        head_end = _head_end(data, at)
        if head_end < 0:
            if not final:
                return found, at, ""
            why = "a head longer than 64 KiB" if len(data) - at > MAX_HTTP_HEAD_BYTES else ""
            return found, at, why or ("" if found else "no complete HTTP head")
        head = bytes(data[at:head_end]).decode("utf-8", errors="surrogateescape")
        lines = [safe_text(line) for line in head.replace("\r\n", "\n").split("\n")]
        start_line, fields = lines[0], [ln for ln in lines[1:] if ln]
        headers = tuple(
            (name.strip(), value.strip()) for name, _, value in (ln.partition(":") for ln in fields)
        )
        if not is_request and not start_line.startswith("HTTP/1."):
            return found, at, f"not an HTTP/1.x response: {start_line[:40]!r}"
        if is_request:
            methods.append(start_line.split(" ", 1)[0])
        method = "" if is_request else (methods.popleft() if methods else "")
        end, framing, complete = _body(data, head_end, headers, start_line, is_request, method)
        if not final and (not complete or framing == "until close"):
            if is_request:  # not yet: undo, it is parsed again with more bytes
                methods.pop()
            elif method:
                methods.appendleft(method)
            return found, at, ""
        body = _chunked_payload(data, head_end, end) if framing == "chunked" else end - head_end
        found.append(
            HttpMessage(
                at,
                end,
                start_line,
                headers,
                body,
                framing,
                complete,
                _frame_of(frames, at),
                _frame_of(frames, max(end - 1, at)),
            )
        )
        if not complete:
            break
        if not is_request and start_line[9:10] == "1" and start_line[9:12] != "101":
            methods.appendleft(method)  # an interim 1xx: the real answer follows
        at = end
    return found, at, ""


def _head_end(data: bytes | bytearray, at: int) -> int:
    """One past the blank line ending the head that starts at ``at``; -1 if none."""
    limit = min(len(data), at + MAX_HTTP_HEAD_BYTES)
    crlf = data.find(b"\r\n\r\n", at, limit)
    lf = data.find(b"\n\n", at, limit)
    ends = [e + 4 for e in (crlf,) if e >= 0] + [e + 2 for e in (lf,) if e >= 0]
    return min(ends) if ends else -1


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _body(
    data: bytes | bytearray,
    at: int,
    headers: tuple[tuple[str, str], ...],
    start_line: str,
    is_request: bool,
    method: str,
) -> tuple[int, str, bool]:
    """(end offset, framing, complete) of the body starting at ``at``."""
    status = start_line[9:12]
    if not is_request and (
        method == "HEAD"
        or status[:1] == "1"
        or (status.isdigit() and int(status) in NO_BODY_STATUSES)
    ):
        return at, "no body", True
    coding = (_header(headers, "transfer-encoding") or "").lower()
    if "chunked" in coding:
        end = _chunked_end(data, at)
        return (end, "chunked", True) if end >= 0 else (len(data), "chunked", False)
    length = _header(headers, "content-length")
    if length is not None and length.strip().isdigit():
        end = at + int(length.strip())
        return (
            (end, "content-length", True)
            if end <= len(data)
            else (len(data), "content-length", False)
        )
    if is_request:
        return at, "no body", True
    return len(data), "until close", True


def _chunked_end(data: bytes | bytearray, at: int) -> int:
    """One past the chunked body's last byte (trailers included); -1 if cut short."""
    while True:
        line_end = data.find(b"\n", at, at + MAX_LINE_BYTES)
        if line_end < 0:
            return -1
        size_text = data[at:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return -1
        at = line_end + 1
        if size == 0:
            while True:  # trailers, then the blank line
                line_end = data.find(b"\n", at, at + MAX_LINE_BYTES)
                if line_end < 0:
                    return -1
                blank = data[at:line_end].strip() == b""
                at = line_end + 1
                if blank:
                    return at
        at += size
        if data[at : at + 2] == b"\r\n":
            at += 2
        elif data[at : at + 1] == b"\n":
            at += 1
        if at > len(data):
            return -1


def _chunked_payload(data: bytes | bytearray, at: int, end: int) -> int:
    """The body's bytes without the chunk framing."""
    total = 0
    while at < end:
        line_end = data.find(b"\n", at, end)
        if line_end < 0:
            break
        try:
            size = int(data[at:line_end].split(b";", 1)[0].strip(), 16)
        except ValueError:
            break
        if size == 0:
            break
        total += size
        at = line_end + 1 + size
        at += 2 if data[at : at + 2] == b"\r\n" else 1
    return total


def _frame_of(frames: list[tuple[int, int]], offset: int) -> int:
    """The frame of the segment that carried the byte at ``offset``."""
    i = bisect_right(frames, (offset, 1 << 62)) - 1
    return frames[i][1] if i >= 0 else 0


def tls_runs(stream: Stream) -> list[TlsRun]:
    """The stream's TLS records, up to its first gap, consecutive ones of a kind
    merged. Encrypted handshake records (TLS 1.3) are counted, not named."""
    data = contiguous(stream)
    frames = stream.taken_frames()
    runs: list[TlsRun] = []
    at = records = 0
    while at + 5 <= len(data) and records < MAX_TLS_RECORDS:
        kind = TLS_CONTENT.get(data[at])
        length = int.from_bytes(data[at + 3 : at + 5], "big")
        if kind is None or data[at + 1] != 3:
            break  # not a record header: framing lost
        body = data[at + 5 : at + 5 + length]
        what = ""
        if (
            kind == "handshake"
            and body
            and data[at + 5] in TLS_HANDSHAKES
            and not runs_encrypted(runs)
        ):
            what = TLS_HANDSHAKES[body[0]]
        elif kind == "alert" and len(body) == 2:
            what = tls_alert(data[at : at + 7])
        first, last = _frame_of(frames, at), _frame_of(frames, at + 5 + length - 1)
        previous = runs[-1] if runs else None
        if previous is not None and previous.kind == kind and kind != "alert":
            names = (
                previous.what
                if not what or what in previous.what.split(", ")
                else (f"{previous.what}, {what}" if previous.what else what)
            )
            runs[-1] = previous._replace(
                records=previous.records + 1,
                payload_bytes=previous.payload_bytes + length,
                what=names,
                last_frame=last,
            )
        else:
            runs.append(TlsRun(kind, 1, length, what, first, last))
        at += 5 + length
        records += 1
    return runs


def runs_encrypted(runs: list[TlsRun]) -> bool:
    """After a change cipher spec, handshake records are encrypted: no names."""
    return any(run.kind == "change cipher spec" for run in runs)


# --- tcpflow's files ---------------------------------------------------------------------


def tcpflow_name(src: str, sport: int, dst: str, dport: int) -> str:
    """tcpflow's file name for one direction: 198.051.100.007.40000-203.000.113.010.00080
    (IPv4 octets zero-padded, IPv6 compressed, ports to five digits)."""

    def host(addr: str) -> str:
        ip = ipaddress.ip_address(addr)
        if ip.version == 4:
            return ".".join(f"{int(o):03d}" for o in str(ip).split("."))
        return str(ip)

    return f"{host(src)}.{sport:05d}-{host(dst)}.{dport:05d}"


def stream_bytes(stream: Stream) -> bytes:
    """The stream as tcpflow writes it to a file: a gap as NULs (tcpflow seeks past
    it), what is past max_bytes missing."""
    out = bytearray()
    for span, data in stream.pieces():
        out += b"\0" * (span.end - span.start) if span.gap else data
    return bytes(out)


def write_tcpflow_files(flows: Iterator[Flow], folder: Path) -> list[Path]:
    """One file per direction that carried bytes, named as tcpflow names them; a
    4-tuple used again gets tcpflow's c1, c2, .. suffix (the tracker releases the
    connections of one 4-tuple in the order they began: one ends as the next starts)."""
    folder.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    written: list[Path] = []
    for flow in flows:
        c, s = flow.connection.client, flow.connection.server
        for stream, (a, b) in ((flow.client, (c, s)), (flow.server, (s, c))):
            if not stream.length:
                continue
            name = tcpflow_name(a.addr, a.port, b.addr, b.port)
            n = seen.get(name, 0)
            seen[name] = n + 1
            path = folder / (name if n == 0 else f"{name}c{n}")
            path.write_bytes(stream_bytes(stream))
            written.append(path)
    return written
