"""`pcapdiff flows -i IFACE`: the `tcpflow -cp port 80` an origin admin runs to see
whether the CDN's requests arrive, as each request and response completes.

tcpdump captures with the same argv `pcapdiff capture` builds (filter from --peer and
--port, whole packets, written at once) to a pipe; the packets are read, decoded and
tracked as a capture file is, and the tracker's tap feeds each connection's streams,
which are parsed for HTTP/1.x messages as their bytes come. ``keep`` writes the pcap
stream to a file as well. Memory follows live connections, as everywhere.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

from .capture.spec import CaptureSpec, capture_argv
from .conns import ConnectionScan, ScanOptions
from .errors import CaptureError
from .flows import HttpMessage, feed, parse_messages
from .model import Endpoint, SegmentRow, format_address
from .reassembly import Stream


class LiveMessage(NamedTuple):
    """A request or a response, complete, as it was seen."""

    conn_id: int
    client: Endpoint
    server: Endpoint
    is_request: bool
    ts_ns: int  # the packet that completed it
    message: HttpMessage


class LiveSummary(NamedTuple):
    requests: Counter[str]  # client address: requests seen
    responses: Counter[str]  # client address: responses seen
    connections: int
    packets: int


class _Tee:
    """The capture's byte stream, copied to ``keep`` as it is read."""

    def __init__(self, raw: IO[bytes], keep: IO[bytes] | None) -> None:
        self.raw, self.keep = raw, keep
        self.name = "<live capture>"
        self.interactive = True  # read.py: hand on each read's packets at once

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if self.keep is not None and data:
            self.keep.write(data)
            self.keep.flush()
        return data


@dataclass
class _Side:
    stream: Stream
    parsed: int = 0  # offset up to which messages were reported


@dataclass
class _Conn:
    client: _Side
    server: _Side
    endpoints: tuple[Endpoint, Endpoint]  # client, server
    methods: deque[str] = field(default_factory=deque)


def live_flows(
    spec: CaptureSpec,
    on_message: Callable[[LiveMessage], None],
    *,
    keep: Path | None = None,
    started: Callable[[str], None] | None = None,
) -> LiveSummary:
    """Capture until interrupted (KeyboardInterrupt) or until tcpdump ends; call
    ``on_message`` with each HTTP message as it completes. CaptureError when tcpdump
    is missing or cannot capture."""
    if shutil.which("tcpdump") is None:
        raise CaptureError(
            "flows -i needs tcpdump (not installed); capture with `pcapdiff capture` "
            "(it falls back to scapy) and run `pcapdiff flows FILE`"
        )
    argv = capture_argv(CaptureSpec(spec.role, Path("-"), spec.interface, spec.peers, spec.ports))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert proc.stdout is not None
    assert proc.stderr is not None
    ready = proc.stderr.readline().decode(errors="replace")
    if "listening on" not in ready:
        proc.kill()
        rest = proc.stderr.read().decode(errors="replace")
        words = (ready + rest).strip().splitlines()
        raise CaptureError(f"tcpdump failed: {words[-1] if words else 'no output'}")
    if started is not None:
        started(" ".join(argv))
    conns: dict[int, _Conn] = {}
    requests: Counter[str] = Counter()
    responses: Counter[str] = Counter()
    seen = [0, 0]  # connections, packets

    def tap(conn_id: int, from_client: bool, seg: SegmentRow) -> None:
        seen[1] += 1
        conn = conns.get(conn_id)
        if conn is None:
            here = Endpoint(format_address(bytes(seg[2])), seg[3])
            there = Endpoint(format_address(bytes(seg[4])), seg[5])
            ends = (here, there) if from_client else (there, here)
            conn = conns[conn_id] = _Conn(_Side(Stream()), _Side(Stream()), ends)
            seen[0] += 1
        side = conn.client if from_client else conn.server
        feed(side.stream, seg)
        if side.stream.gap_total:
            return  # framing lost at the hole: nothing more to report for this side
        found, side.parsed = parse_messages(
            side.stream.data, side.parsed, from_client, conn.methods, side.stream.taken_frames()
        )
        client, server = conn.endpoints
        for message in found:
            (requests if from_client else responses)[client.addr] += 1
            on_message(LiveMessage(conn_id, client, server, from_client, seg[1], message))

    stream = _Tee(proc.stdout, open(keep, "wb") if keep is not None else None)  # noqa: SIM115
    scan = ConnectionScan(stream, ScanOptions(), tap=tap)  # type: ignore[arg-type]
    try:
        for record in scan:
            conns.pop(record.id, None)  # ended: its streams go
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if stream.keep is not None:
            stream.keep.close()
    return LiveSummary(requests, responses, seen[0], seen[1])
