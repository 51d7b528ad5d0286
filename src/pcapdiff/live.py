"""`pcapdiff flows -i IFACE`: the `tcpflow -cp port 80` an origin admin runs to see
whether the CDN's requests arrive, as each request and response completes.

tcpdump captures with the same argv `pcapdiff capture` builds (filter from --peer and
--port, whole packets, written at once) to a pipe; without tcpdump, scapy's sniffer
(the capture fallback, same filter) writes into a FIFO. The packets are read,
decoded and tracked as a capture file is, and the tracker's tap feeds each
connection's streams, which are parsed for HTTP/1.x messages as their bytes come.
``keep`` writes the pcap stream to a file as well, with its sidecar. Memory follows
live connections, as everywhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

from .capture.run import tool_version
from .capture.sidecar import begun, write_sidecar
from .capture.sniff import scapy_version, sniff_capture
from .capture.spec import CaptureSpec, bpf_filter, capture_argv
from .conns import ConnectionScan, ScanOptions
from .errors import CaptureError
from .flows import HttpMessage, feed, parse_messages
from .meta import CaptureMeta
from .model import FIN, RST, Endpoint, SegmentRow, format_address
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
    """Capture until interrupted (KeyboardInterrupt) or until the sniffer ends; call
    ``on_message`` with each HTTP message as it completes. tcpdump when installed,
    else scapy's sniffer, as `pcapdiff capture` chooses. ``keep`` gets the capture
    and its sidecar. CaptureError when neither can capture."""
    with ExitStack() as cleanup:
        if shutil.which("tcpdump") is not None:
            raw, meta = _tcpdump_pipe(spec, started, cleanup)
        else:
            raw, meta = _scapy_pipe(spec, started, cleanup)
        keep_file = cleanup.enter_context(open(keep, "wb")) if keep is not None else None
        try:
            return _follow(_Tee(raw, keep_file), on_message)
        finally:
            cleanup.close()  # the sniffer stopped first: the sidecar has its counts
            if keep is not None:
                meta.stop = time.time()
                with contextlib.suppress(CaptureError):  # the capture itself is kept
                    write_sidecar(keep, meta)


def _tcpdump_pipe(
    spec: CaptureSpec, started: Callable[[str], None] | None, cleanup: ExitStack
) -> tuple[IO[bytes], CaptureMeta]:
    """tcpdump -w - with the capture's argv; stopped with SIGINT on cleanup."""
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

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    cleanup.callback(stop)
    if started is not None:
        started(" ".join(argv))
    flt = bpf_filter(spec.peers, spec.ports)
    meta = begun(spec.role, spec.interface, flt, argv, tool_version("tcpdump"), "tcpdump")
    return proc.stdout, meta


def _scapy_pipe(
    spec: CaptureSpec, started: Callable[[str], None] | None, cleanup: ExitStack
) -> tuple[IO[bytes], CaptureMeta]:
    """scapy's sniffer (the capture fallback) writing into a FIFO that is read here;
    stopped through its stop event on cleanup."""
    folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="pcapdiff-live-")))
    fifo = folder / "live.pcap"
    os.mkfifo(fifo)
    # Opened without blocking, so a sniffer that fails before it opens the FIFO cannot
    # leave this open() waiting for a writer.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    raw = cleanup.enter_context(os.fdopen(fd, "rb", buffering=0))
    stop = threading.Event()
    ready = threading.Event()
    outcome: list[BaseException | CaptureMeta] = []
    description: list[str] = []

    def capturing(text: str) -> None:
        description.append(text)
        ready.set()

    def run() -> None:
        try:
            result = sniff_capture(
                CaptureSpec(spec.role, fifo, spec.interface, spec.peers, spec.ports),
                started=capturing,
                stop=stop,
            )
            outcome.append(result.meta)
        except BaseException as exc:  # handed to the reading thread
            outcome.append(exc)
        finally:
            ready.set()

    flt = bpf_filter(spec.peers, spec.ports)
    meta = begun(spec.role, spec.interface, flt, [], f"scapy {scapy_version()}", "scapy")
    thread = threading.Thread(target=run, name="pcapdiff-live-sniffer", daemon=True)
    thread.start()

    def halt() -> None:
        """Stop the sniffer, reading what it still writes: a full FIFO would block it."""
        stop.set()
        os.set_blocking(fd, False)
        deadline = time.monotonic() + 10
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                raw.read(1 << 16)
            except (BlockingIOError, ValueError):
                time.sleep(0.05)
            else:
                time.sleep(0.01)
        thread.join(timeout=1)
        if outcome and isinstance(outcome[0], CaptureMeta):  # the sniffer's own counts
            meta.packets_captured = outcome[0].packets_captured
            meta.packets_dropped_by_kernel = outcome[0].packets_dropped_by_kernel

    cleanup.callback(halt)
    ready.wait()
    if outcome and isinstance(outcome[0], BaseException):
        error = outcome[0]
        raise error if isinstance(error, CaptureError) else CaptureError(str(error))
    os.set_blocking(fd, True)
    if started is not None:
        started(description[0])
    return raw, meta


def _follow(stream: _Tee, on_message: Callable[[LiveMessage], None]) -> LiveSummary:
    """Read the capture stream until it ends or Ctrl-C, reporting messages."""
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
        closed = bool(seg[6] & (FIN | RST))  # a response framed by the close ends here
        found, side.parsed = parse_messages(
            side.stream.data,
            side.parsed,
            from_client,
            conn.methods,
            side.stream.taken_frames(),
            final=closed,
        )
        client, server = conn.endpoints
        for message in found:
            (requests if from_client else responses)[client.addr] += 1
            on_message(LiveMessage(conn_id, client, server, from_client, seg[1], message))

    scan = ConnectionScan(stream, ScanOptions(), tap=tap)  # type: ignore[arg-type]
    try:
        for record in scan:
            conns.pop(record.id, None)  # ended: its streams go
    except KeyboardInterrupt:
        pass
    return LiveSummary(requests, responses, seen[0], seen[1])
