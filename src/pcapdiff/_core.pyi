"""Types of the Rust core (core/src/python.rs), for mypy and readers."""

from collections import deque
from collections.abc import Sequence
from typing import Any

from .model import Column, Connection, SegmentRow, Verdict

def walk_pcap(
    chunk: bytearray,
    begin: int,
    end: int,
    header_len: int,
    big_endian: bool,
    nanoseconds: bool,
    max_caplen: int,
    empty_limit: int,
    zero_run_bytes: int,
    chunk_bytes: int,
    empty_run: int,
) -> tuple[bytes, bytes, bytes, bytes, int, int, int, str, int, int]:
    """The pcap records of chunk[begin:end] as native-endian int64 columns (starts of the
    captured bytes, captured lengths, timestamps in ns, wire lengths), then where the
    walk stopped (pos), the bytes a cut record needs (want), the run of zero-length
    records so far, and why it stopped ("end", "zeros", "too_big") with the offset and,
    for "too_big", the claimed length."""

def walk_pcapng(
    buf: bytes | bytearray,
    pos: int,
    end: int,
    big_endian: bool,
    interfaces: list[tuple[int, int, int, int]],
    max_block_len: int,
    limit: int,
) -> tuple[bytes, bytes, bytes, bytes, bytes, int]:
    """The consecutive whole, well-formed Enhanced Packet Blocks of ``buf`` from
    ``pos`` (at most ``limit``) as native-endian int64 columns: starts of the captured
    bytes, captured lengths, timestamps in ns, wire lengths, link types; then the
    offset of the first block not taken (``pos`` when none was)."""

def column_facts(
    caplens: bytes, wire_lens: bytes, ts_ns: bytes
) -> tuple[int, int | None, int | None]:
    """Of a walk's columns: records cut by the snap length, earliest and latest
    timestamp."""

def frame_numbers(first: int, count: int) -> bytes:
    """The frame numbers first, first + 1, ... as a native-endian int64 column."""

def linktype_runs(linktypes: bytes) -> list[tuple[int, int, int]]:
    """A walk's link-type column as runs of one type: (first index, end index, type)."""

HEAD: int
BODY: int
CHUNK_SIZE: int
CHUNK_DATA: int
TRAILER: int
UNTIL_CLOSE: int
DONE: int
UNBOUNDED: int
MAX_HTTP_HEAD_BYTES: int
MAX_LINE_BYTES: int
MAX_METHODS: int
MAX_RECORDS_KEPT: int

class HttpFramer:
    """HTTP/1.x message boundaries of one direction of a connection; ``methods`` is
    the connection's deque of request methods, shared by its two framers."""

    def __init__(self, is_request: bool, methods: deque[str]) -> None: ...
    def feed(self, data: bytes) -> int:
        """The next in-order bytes; returns how many after them may pass unseen."""
    def skipped(self, n: int) -> None:
        """``n`` bytes went by on the fast path, inside what ``feed`` allowed."""
    def allowance(self) -> int: ...
    def lose(self) -> None:
        """A hole in the stream: where the messages end is unknown from here on."""
    def close(self) -> None:
        """The sender's FIN: a response framed by the close is complete."""
    def exchange_part(self) -> tuple[int, int, int | None, str]:
        """(complete messages, bytes of the one in progress, its size, problem)."""
    @property
    def is_request(self) -> bool: ...
    @property
    def state(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    @property
    def messages(self) -> int: ...
    @property
    def message_bytes(self) -> int: ...
    @property
    def expected(self) -> int | None: ...
    @property
    def problem(self) -> str: ...
    @property
    def methods(self) -> deque[str]: ...

class TlsFramer:
    """TLS record boundaries of one direction; counts application data records."""

    def __init__(self) -> None: ...
    def feed(self, data: bytes, frame: int, ts_ns: int) -> int: ...
    def skipped(self, n: int) -> None: ...
    def lose(self) -> None: ...
    @property
    def state(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    @property
    def app_count(self) -> int: ...
    @property
    def app_records(self) -> list[tuple[int, int, int]]: ...
    @property
    def problem(self) -> str: ...

MAX_HEAD_BYTES: int  # how much of a stream's start the parsers look at

def parse_request(data: bytes, final: bool) -> tuple[str, str, str, str, str, str] | None:
    """The client's first message, None while more bytes could complete it: (kind,
    method, target, version, host, first_bytes); text escaped as text.wire_text does."""

def parse_response(data: bytes, final: bool) -> tuple[str, int, str, str, str, str] | None:
    """The server's first message, None while more bytes could complete it: (kind,
    status, reason, tls_version, alert, first_bytes)."""

def tls_alert(data: bytes) -> str:
    """'fatal handshake_failure' if ``data`` starts with a cleartext TLS alert, else ''."""

def wire_text(data: bytes) -> str:
    """Bytes from a packet as text that is safe to show anywhere (text.wire_text)."""

# (frame, ts_ns, sender, kind, mtu), (src, sport, dst, dport, seq)
IcmpFound = tuple[tuple[int, int, bytes, str, int | None], tuple[bytes, int, bytes, int, int]]
# rows, tcp packets, non-TCP packets, fragments held, anomalies, ICMP errors, the
# unsupported link type of a classic pcap (decoding stopped there) or None
Decoded = tuple[
    list[SegmentRow], int, int, int, list[tuple[int, str, str]], list[IcmpFound], int | None
]

class Decoder:
    """The decoder of one capture (core/src/decode.rs): its state is the IP datagrams
    being put together from fragments."""

    def __init__(self) -> None: ...
    def decode_batch(
        self,
        linktype: int,
        buf: bytes | bytearray,
        frames: Column,
        starts: Column,
        caplens: Column,
        ts_ns: Column,
        pcapng: bool,
    ) -> Decoded:
        """The TCP segments of one batch as Segment rows, and what else it found."""
    def decode_frame(
        self, frame: int, ts_ns: int, linktype: int, data: bytes | bytearray, pcapng: bool
    ) -> Decoded:
        """One frame, as ``decode_batch`` decodes a batch of one."""
    def decode_ahead(
        self,
        linktype: int,
        buf: bytes | bytearray,
        frames: Column,
        starts: Column,
        caplens: Column,
        ts_ns: Column,
        pcapng: bool,
    ) -> tuple[DecodedBatch, Decoded]:
        """One batch decoded for ``Tracker.feed_decoded`` (on another thread): its
        segments, and what else it found (no rows), the GIL released meanwhile."""

class DecodedBatch:
    """A batch's TCP segments, decoded and not yet tracked, and the chunk they lie in
    (held, and not resizable, until ``Tracker.feed_decoded`` has tracked them)."""

LINKTYPES: list[tuple[int, str, bool]]  # (number, name, decoded) of every link type named

def linktype_name(linktype: int) -> str:
    """The link type's name, "unknown" when the table does not have it."""

IDLE_TIMEOUT_NS: int
CLOSE_DELAY_NS: int
IDLE_SWEEP_INTERVAL_NS: int

# (0, Connection, its conns --json text or None) a connection ended;
# (1, id, from_client, row) a segment tapped;
# (2, clock) every record that ends by then has been released;
# (3, texts, how many, {conn_state: count}) consecutive connections that ended, as their
# conns --json texts joined by ",\n  ", UTF-8 bytes (json=True, records=False)
Event = tuple[Any, ...]

class Tracker:
    """The tracker of one capture (core/src/track.rs) and its decoder."""

    def __init__(
        self,
        idle_timeout_ns: int,
        close_delay_ns: int,
        tap: bool,
        json: bool = False,
        records: bool = True,
        keep: bool = False,
    ) -> None:
        """``json``: each record also as its ``conns --json`` text (None where the
        core does not write it exactly); without ``records``, only the text where
        it is written, no ``Connection``; ``keep``: no event for a record, which stays
        in the core until ``take_kept``."""
    def take_kept(self) -> Records:
        """The records kept since the last call."""
    def feed_batch(
        self,
        linktype: int,
        buf: bytes | bytearray,
        frames: Column,
        starts: Column,
        caplens: Column,
        ts_ns: Column,
        pcapng: bool,
    ) -> tuple[Decoded, list[Event]]:
        """Decode and track one batch: what decoding found (its rows: the tapped
        segments), and the events."""
    def feed_decoded(self, decoded: DecodedBatch) -> list[Event]:
        """Track a batch ``Decoder.decode_ahead`` decoded: the events (a tapped
        segment's with its row)."""
    def feed_rows(self, rows: list[SegmentRow]) -> list[Event]:
        """Track Segment rows; a tapped row is the row given."""
    def finish(self) -> list[Event]:
        """The end of the capture: every connection still live, then the clock's end."""
    @property
    def live(self) -> int:
        """Connections alive now."""

def parse_tcp_options(
    raw: bytes,
) -> tuple[int | None, int | None, bool, tuple[tuple[int, int], ...], int | None, int | None, str]:
    """(mss, wscale, sack_permitted, sack_blocks, tsval, tsecr, layout)."""

def seconds_json(ns: int) -> str | None:
    """``ns / 1_000_000_000`` as ``conns --json`` writes it, or None when the core
    leaves it to Python."""

# compare's stages in the core (core/src/compare), on ``model.Connection`` records:
# what the differential tests hold the Python stages against.
MatchedPair = tuple[int, int | None, float, str, str]
ClockTuple = tuple[float, float, int, str]

def match_connections(
    edge: Sequence[Connection],
    origin: Sequence[Connection],
    clock_offset_s: float | None = None,
    clock: ClockTuple | None = None,
    isn_delta: int | None = None,
) -> tuple[list[MatchedPair], ClockTuple, list[int]]:
    """``match.match`` in the core: ([(edge index, origin index or None, score,
    matched_by, confidence)], the clock offset, [unpaired origin index])."""

def round_trip(connection: Connection) -> Connection:
    """A record through the core's own and back (the conversion's test)."""

def true_div(a: int, b: int) -> float:
    """``a / b`` of two ints as the core computes it."""

def coverage_of(
    edge: Any,
    origin: Any,
    edge_conns: Sequence[Connection],
    origin_conns: Sequence[Connection],
    trusted: Sequence[tuple[int, int]],
    offset_ns: int,
    offset_spread_ns: int,
) -> tuple[Any, ...]:
    """``coverage.build_coverage`` of two ``Recorded`` windows in the core, the facts
    gathered from the records and the trusted pairs (edge index, origin index); the
    ``Coverage`` as nested tuples."""

def duration(ns: int) -> str:
    """``coverage.duration`` as the core writes it."""

def address_text(packed: bytes) -> str:
    """``model.format_address`` as the core writes it."""

def evidence_of(
    connection: Connection, files: list[str], icmp_errors: Sequence[Any]
) -> dict[str, Any]:
    """judge.py's lines of evidence and injection hints of one record as the core
    writes them (the differential test's probe)."""

def py_repr(text: str) -> str:
    """Python's ``repr`` of a str as the core writes it."""

class Judge:
    """judge.py in the core, with explain.py's catalogue."""

    def __init__(self, reasons: dict[str, Any]) -> None: ...
    def judge(
        self,
        edge: Connection,
        origin: Connection | None,
        matched_by: str,
        confidence_text: str,
        coverage: Any,
        clock_known: bool,
        edge_icmp: Sequence[Any],
        origin_icmp: Sequence[Any],
        files: list[str],
    ) -> tuple[Any, ...]:
        """(reason, outcome, culprit, evidence, explanation, hints, assumes, checks)."""

class StreamingCompare:
    """stream.py's engine in the core, fed ``model.Connection`` records."""

    def __init__(
        self,
        reasons: dict[str, Any],
        specs: list[tuple[bytes, int, int | None]],
        ports: list[int],
        pull_ports: list[int],
        clock_offset_s: float | None,
        release: bool,
        roles_known: bool,
        edge_files: list[str],
        idle_timeout_ns: int,
        several_files: bool,
    ) -> None: ...
    def start(self, edge_side: bool, recorded_window: Any) -> None: ...
    def add_edge(self, connection: Connection) -> None: ...
    def add_origin(self, connection: Connection) -> None: ...
    def clock(self, edge_side: bool, clock_ns: int | None, icmp_errors: Sequence[Any]) -> None: ...
    def lead_ns(self) -> int: ...
    def origin_behind(self) -> bool:
        """Is the origin read less far than the edge (capture time)? Its batch first."""
    def swapped_by_ttl(self) -> bool: ...
    @property
    def released(self) -> bool: ...
    def take(self) -> list[tuple[Any, ...]]:
        """The verdicts final since the last call."""
    def take_verdicts(self) -> list[Verdict]:
        """The verdicts final since the last call, as ``model.Verdict``s."""
    def add_records(self, edge_side: bool, records: Records) -> None:
        """A batch of a tracker's kept records (emptied)."""
    def set_edge_files(self, files: list[str]) -> None: ...
    def set_origin_files(self, files: list[str]) -> None: ...
    def set_all_packets(self, all: bool) -> None: ...
    def take_rows(self) -> list[tuple[int, int, tuple[Any, ...]]]:
        """(edge start, edge first frame, what compare's table shows of the verdict)."""
    def take_json(self) -> list[Verdict | tuple[bytes, int, dict[str, int], int]]:
        """The verdicts final since the last call as runs of their ``compare --json``
        text, or a ``Verdict`` where the core does not write it."""
    @property
    def judged(self) -> int:
        """Verdicts handed out so far."""
    @property
    def scored(self) -> int:
        """Candidate pairs scored so far (matching, and scoring certain pairs again)."""
    @property
    def waiting(self) -> int:
        """Records waiting for a twin now, both captures'."""
    @property
    def pull_ports(self) -> list[int]: ...
    def finish(self, edge: Any, origin: Any, swap: bool) -> tuple[Any, ...]:
        """(clock, coverage, unpaired, others, judged, assumed, swapped_by_ttl, streamed)."""

class Records:
    """A tracker's records kept in the core, for compare's engine."""

    def __len__(self) -> int: ...
    def absorb(self, other: Records) -> None:
        """Another batch's records appended to these (the other emptied)."""
