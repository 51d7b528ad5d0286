"""The origin admin's question, from one capture: do the CDN's SYNs reach this host,
and does it answer them?

Input: one capture taken on the origin (and its sidecar, when `pcapdiff capture`
wrote one), the sources to check (addresses and networks; none: every source that
sent a SYN) and the server ports. Output: a ``SynCheck``: per source address and per
network given, each connection attempt's fate, the SYN retransmission pattern, the
ICMP errors sent back, and a verdict with its next steps.

The capture streams through ``ConnectionScan``; what is kept grows with the number of
sources, not of packets or attempts (a ring's attempts that rest on an absence wait
for its end, when its missing files are known). No fate rests on a packet the capture
could not have seen: an attempt whose answer was due after the capture ended, or
while a file of a rotated ring is missing, is "undetermined", and warnings say when
the capture lost packets or may have seen one direction only.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from .conns import DEFAULT_SCAN, ConnectionScan, ScanOptions, Sources, as_files
from .coverage import duration, recorded_window
from .errors import PcapdiffError
from .filters import Address, Network, parse_network
from .meta import CaptureMeta, read_sidecar
from .model import CaptureSummary, Connection, IcmpError
from .read import ProgressFn

NS = 1_000_000_000
# The origin's own kernel answers a SYN within microseconds; one that is still
# unanswered a second later (when the client's first retransmission is due) was not.
ANSWER_DUE_NS = 1 * NS
# The client's ACK after the SYN-ACK: a round trip, plus the server's own SYN-ACK
# retransmission a second later. A handshake is "never completed" only past this.
ACK_DUE_NS = 3 * NS
# A SYN flood from spoofed sources must not grow memory without bound: sources past
# this many are counted together.
MAX_SOURCES = 100_000
MAX_EXAMPLES = 5  # frames kept per fate and source, to cite
BACKOFF_RATIO = 1.6  # each SYN interval this much longer than the last: exponential


class Fate(str, Enum):
    """What became of one connection attempt (a SYN and its retransmissions)."""

    ANSWERED = "answered"  # SYN-ACK, and the client's ACK completed the handshake
    INCOMPLETE = "incomplete"  # SYN-ACK sent, the handshake never completed
    REFUSED = "refused"  # this host's RST to the SYN
    REFUSED_ICMP = "refused_icmp"  # an ICMP error back instead of a SYN-ACK
    UNANSWERED = "unanswered"  # nothing sent back
    UNDETERMINED = "undetermined"  # the answer was due when the capture was not running


# How each fate reads, whether it makes the exit status 1, and the next steps.
# The order is the verdict's: the first fate a source has names it.
FATES: dict[Fate, tuple[str, bool]] = {
    Fate.UNANSWERED: ("unanswered: the SYN reached this host and nothing was sent back", True),
    Fate.REFUSED: ("refused: this host answered the SYN with a RST", True),
    Fate.REFUSED_ICMP: ("refused: an ICMP error was sent back instead of a SYN-ACK", True),
    Fate.INCOMPLETE: (
        "answered, but the handshake never completed: the SYN-ACK (or the client's ACK) "
        "was lost between the two hosts",
        False,
    ),
    Fate.UNDETERMINED: (
        "undetermined: the answer was due after the capture had ended (or while a file of "
        "its ring is missing)",
        False,
    ),
    Fate.ANSWERED: ("answered: SYN-ACK sent and the handshake completed", False),
}

NEXT_STEPS: dict[Fate, tuple[str, ...]] = {
    Fate.UNANSWERED: (
        "Check for a host firewall rule after the capture point that drops these sources "
        "(iptables -S; nft list ruleset): whitelist the CDN's node addresses.",
        "Check the accept backlog: ss -ltn 'sport = :PORT' (a Recv-Q as large as its "
        "Send-Q is a full backlog) and "
        "nstat -az TcpExtListenOverflows TcpExtListenDrops.",
        "Check that the service is not hung: it listens (ss -ltnp) but may not accept.",
    ),
    Fate.REFUSED: (
        "Check that something listens on port PORT on the address the CDN connects to: "
        "ss -ltnp 'sport = :PORT' (a service bound to 127.0.0.1 refuses other addresses).",
        "Check for a firewall rule that rejects with tcp-reset (iptables -S; nft list ruleset).",
    ),
    Fate.REFUSED_ICMP: (
        "A firewall rule rejects these sources with ICMP (iptables REJECT's default): "
        "iptables -S; nft list ruleset. Whitelist the CDN's node addresses.",
    ),
    Fate.INCOMPLETE: (
        "This host did its part; the SYN-ACK did not get back (or the ACK did not arrive): "
        "check the return route to the client (ip route get CLIENT), rp_filter, and any "
        "firewall or load balancer on the way back (asymmetric routing).",
    ),
    Fate.UNDETERMINED: (
        "Capture for longer: stop the capture a few seconds after the last attempt.",
    ),
    Fate.ANSWERED: (),
}

NOT_SEEN = "not_seen"  # a network given with --from that sent no SYN during the capture


def _either(pick: Callable[[int, int], int], a: int | None, b: int | None) -> int | None:
    """``pick`` of the two times that are known."""
    if a is None or b is None:
        return b if a is None else a
    return pick(a, b)


class Tally:
    """The attempts of one source (or network): counts by fate and a few frames."""

    def __init__(self) -> None:
        self.fates: Counter[Fate] = Counter()
        self.syns = 0
        self.synacks = 0
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.examples: dict[Fate, list[int]] = {}
        self.retransmitted = 0  # attempts with more than one SYN
        self.patterns: Counter[str] = Counter()  # "backing off", "fixed interval", ...
        self.example_intervals: tuple[float, ...] = ()
        self.icmp: Counter[str] = Counter()  # ICMP errors sent back, by kind
        self.icmp_frames: list[int] = []
        self.addresses = 0  # for a network: the source addresses in it that sent SYNs
        self.ports: Counter[int] = Counter()  # server ports of the attempts not answered

    @property
    def attempts(self) -> int:
        return sum(self.fates.values())

    def add(self, attempt: Attempt) -> None:
        self.fates[attempt.fate] += 1
        self.syns += attempt.syns
        self.synacks += attempt.synacks
        self.first_ns = _either(min, self.first_ns, attempt.first_ns)
        self.last_ns = _either(max, self.last_ns, attempt.last_ns)
        if attempt.fate is not Fate.ANSWERED and len(self.ports) < 64:
            self.ports[attempt.port] += 1
        frames = self.examples.setdefault(attempt.fate, [])
        if len(frames) < MAX_EXAMPLES:
            frames.append(attempt.frame)
        if attempt.intervals:
            self.retransmitted += 1
            self.patterns[retransmission_pattern(attempt.intervals)] += 1
            if len(attempt.intervals) > len(self.example_intervals):
                self.example_intervals = attempt.intervals

    def add_icmp(self, error: IcmpError) -> None:
        self.icmp[error.kind] += 1
        if len(self.icmp_frames) < MAX_EXAMPLES:
            self.icmp_frames.append(error.frame)

    def merge(self, other: Tally) -> None:
        """Add another source's tally (a network's from its addresses')."""
        self.fates += other.fates
        self.syns += other.syns
        self.synacks += other.synacks
        self.first_ns = _either(min, self.first_ns, other.first_ns)
        self.last_ns = _either(max, self.last_ns, other.last_ns)
        for fate, frames in other.examples.items():
            mine_frames = self.examples.setdefault(fate, [])
            mine_frames.extend(frames[: MAX_EXAMPLES - len(mine_frames)])
        self.retransmitted += other.retransmitted
        self.patterns += other.patterns
        if len(other.example_intervals) > len(self.example_intervals):
            self.example_intervals = other.example_intervals
        self.icmp += other.icmp
        self.ports += other.ports
        self.icmp_frames.extend(other.icmp_frames[: MAX_EXAMPLES - len(self.icmp_frames)])
        self.addresses += 1

    @property
    def verdict(self) -> str:
        """The first fate of FATES this tally has; NOT_SEEN when it has none."""
        for fate in FATES:
            if self.fates[fate]:
                return fate.value
        return NOT_SEEN


class Attempt(NamedTuple):
    """One connection attempt's facts, as syncheck needs them."""

    frame: int  # its first SYN
    port: int  # the server's
    first_ns: int
    last_ns: int
    syns: int
    synacks: int
    fate: Fate
    intervals: tuple[float, ...]  # seconds between successive SYNs (retransmissions)


def retransmission_pattern(intervals: Sequence[float]) -> str:
    """How the client retransmitted its SYN: RFC 6298's doubling is a TCP stack
    backing off (it kept trying, every SYN reached here); a fixed interval is a
    client's own retry loop."""
    if len(intervals) == 1:
        return "retransmitted once"
    pairs = list(itertools.pairwise(intervals))
    if all(b >= a * BACKOFF_RATIO for a, b in pairs):
        return "backing off (intervals doubling)"
    if all(abs(b - a) <= 0.25 * max(a, b) for a, b in pairs):
        return "fixed interval"
    return "irregular"


def attempt_fate(
    conn: Connection,
    icmp: bool,
    end_ns: int | None,
    holes: Sequence[tuple[int, int]] = (),
) -> Fate:
    """One attempt's fate (the decision table of FATES), never past ``end_ns``, the
    end of what the capture covered, nor across ``holes`` (the time of a rotated
    ring's missing file): an absence there was not seen."""
    first_syn = conn.syns[0].ts_ns
    server_rst = any(r.sender == "server" for r in conn.resets)
    if conn.synacks:
        if conn.handshake_frame is not None:
            return Fate.ANSWERED
        due = conn.synacks[0].ts_ns + ACK_DUE_NS
        if end_ns is None or end_ns < due or _in_hole(conn.synacks[0].ts_ns, due, holes):
            return Fate.UNDETERMINED
        return Fate.INCOMPLETE
    if server_rst:
        return Fate.REFUSED
    if icmp:
        return Fate.REFUSED_ICMP
    due = first_syn + ANSWER_DUE_NS
    if end_ns is None or end_ns < due or _in_hole(first_syn, due, holes):
        return Fate.UNDETERMINED
    return Fate.UNANSWERED


def _in_hole(start_ns: int, end_ns: int, holes: Sequence[tuple[int, int]]) -> bool:
    return any(a < end_ns and start_ns < b for a, b in holes)


def parse_sources(texts: Iterable[str]) -> tuple[Network, ...]:
    """--from values: addresses and networks."""
    return tuple(parse_network(text) for text in texts)


def read_sources_file(path: Path | str) -> tuple[Network, ...]:
    """A list of addresses and networks, one per line (a CDN's published ranges);
    '#' starts a comment. A bad line is an error naming the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise PcapdiffError(f"{path}: cannot read: {exc.strerror or exc}") from None
    networks = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            networks.append(parse_network(entry))
        except ValueError as exc:
            raise PcapdiffError(f"{path}:{number}: {exc}") from None
    if not networks:
        raise PcapdiffError(f"{path}: holds no address or network")
    return tuple(networks)


@dataclass
class SynCheck:
    """Everything syncheck found in one capture."""

    summary: CaptureSummary
    ports: tuple[int, ...]  # () : every port
    networks: tuple[Network, ...]  # () : every source
    sources: dict[str, Tally]  # by source address, in the order first seen
    by_network: dict[str, Tally]  # by network given (only when some were given)
    total: Tally
    start_ns: int | None
    end_ns: int | None
    end_source: str  # "sidecar", "pcapng statistics" or "last packet"
    other_sources: int = 0  # attempts from sources past MAX_SOURCES, counted in total only
    not_selected: int = 0  # attempts from sources outside ``networks``
    without_syn: int = 0  # connections whose SYN the capture does not hold (begun before)
    warnings: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return self.total.verdict


def _sidecar(source: Sources) -> CaptureMeta | None:
    files = as_files(source)
    only = files[0] if len(files) == 1 and isinstance(files[0], (str, Path)) else None
    return read_sidecar(only) if only is not None and str(only) != "-" else None


def _covered(
    summary: CaptureSummary, meta: CaptureMeta | None
) -> tuple[int | None, int | None, str]:
    """When the capture started and ended, from its metadata or its packets."""
    recorded = recorded_window(summary, meta, None)
    end, end_source = recorded.end_ns, recorded.end_source
    if end is None:
        end, end_source = recorded.last_packet_ns, "last packet"
    return recorded.start_ns, end, end_source


class _IcmpIndex:
    """ICMP errors by the packet they quote, filled from the summary as it grows."""

    def __init__(self, summary: CaptureSummary) -> None:
        self.summary = summary
        self.seen = 0
        self.by_quoted: dict[tuple[str, int, str, int], IcmpError] = {}

    def find(self, conn: Connection) -> IcmpError | None:
        errors = self.summary.icmp_errors
        for error in errors[self.seen :]:
            key = (error.quoted_src, error.quoted_sport, error.quoted_dst, error.quoted_dport)
            self.by_quoted.setdefault(key, error)
        self.seen = len(errors)
        client, server = conn.client, conn.server
        return self.by_quoted.get((client.addr, client.port, server.addr, server.port))


def check_syns(
    source: Sources,
    networks: Sequence[Network] = (),
    ports: Sequence[int] = (),
    options: ScanOptions = DEFAULT_SCAN,
    progress: ProgressFn | None = None,
) -> SynCheck:
    """Read one origin capture and account for every SYN from ``networks`` (all
    sources when empty) to ``ports`` (every port when empty)."""
    scan = ConnectionScan(source, options, progress)
    summary = scan.summary
    wanted = tuple(networks)
    port_set = frozenset(ports)
    sources: dict[str, Tally] = {}
    total = Tally()
    counts = Counter[str]()
    server_addresses: set[str] = set()
    icmp_index = _IcmpIndex(summary)
    # An attempt whose answer was due past the capture time reached so far waits for
    # the capture's end; only attempts near the end (or still live at it) wait.
    waiting: list[tuple[Connection, IcmpError | None]] = []
    several = len(as_files(source)) > 1

    def account(
        conn: Connection,
        icmp: IcmpError | None,
        end_ns: int | None,
        holes: Sequence[tuple[int, int]] = (),
    ) -> None:
        attempt = _attempt(conn, icmp is not None, end_ns, holes)
        total.add(attempt)
        tally = sources.get(conn.client.addr)
        if tally is None:
            if len(sources) >= MAX_SOURCES:
                counts["other_sources"] += 1
                return
            tally = sources[conn.client.addr] = Tally()
        tally.add(attempt)

    for conn in scan:
        if port_set and conn.server.port not in port_set:
            continue
        if wanted and not _within(conn.client.addr, wanted):
            counts["not_selected"] += conn.syns != ()
            continue
        if not conn.syns:  # under way when the capture began: no attempt to account for
            counts["without_syn"] += 1
            continue
        server_addresses.add(conn.server.addr)
        if conn.server_sent.packets:
            counts["server_sent"] += 1
        icmp = icmp_index.find(conn)
        reached = scan.released_until_ns
        # A rotated ring's missing files are known only at the end: an attempt that
        # rests on an absence waits for them.
        absence = not conn.resets and icmp is None and conn.handshake_frame is None
        if reached is not None and _due(conn) <= reached and not (several and absence):
            account(conn, icmp, reached)
        else:
            waiting.append((conn, icmp))
    meta = _sidecar(source)
    start_ns, end_ns, end_source = _covered(summary, meta)
    for conn, icmp in sorted(waiting, key=lambda ci: ci[0].first_ts_ns):
        account(conn, icmp or icmp_index.find(conn), end_ns, summary.unseen)
    for error in summary.icmp_errors:
        if error.quoted_dst in server_addresses and (
            not port_set or error.quoted_dport in port_set
        ):
            tally = sources.get(error.quoted_src)
            if tally is not None:
                tally.add_icmp(error)
                total.add_icmp(error)
    by_network: dict[str, Tally] = {}
    for network in wanted:
        merged = by_network.setdefault(str(network), Tally())
        for address, tally in sources.items():
            if ipaddress.ip_address(address) in network:
                merged.merge(tally)
    result = SynCheck(
        summary=summary,
        ports=tuple(sorted(port_set)),
        networks=wanted,
        sources=sources,
        by_network=by_network,
        total=total,
        start_ns=start_ns,
        end_ns=end_ns,
        end_source=end_source,
        other_sources=counts["other_sources"],
        not_selected=counts["not_selected"],
        without_syn=counts["without_syn"],
    )
    result.warnings.extend(_warnings(result, counts["server_sent"] > 0, meta))
    return result


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        addr: Address = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in networks)


def _due(conn: Connection) -> int:
    """When an attempt's fate no longer depends on the capture going on."""
    if conn.synacks:
        return conn.synacks[0].ts_ns + ACK_DUE_NS
    return conn.syns[0].ts_ns + ANSWER_DUE_NS


def _attempt(
    conn: Connection, icmp: bool, end_ns: int | None, holes: Sequence[tuple[int, int]] = ()
) -> Attempt:
    times = [ref.ts_ns for ref in conn.syns]
    intervals = tuple(round((b - a) / NS, 3) for a, b in itertools.pairwise(times))
    return Attempt(
        frame=conn.syns[0].frame,
        port=conn.server.port,
        first_ns=conn.first_ts_ns,
        last_ns=conn.last_ts_ns,
        syns=conn.count("syns"),
        synacks=conn.count("synacks"),
        fate=attempt_fate(conn, icmp, end_ns, holes),
        intervals=intervals,
    )


def _one_way_filter(meta: CaptureMeta | None) -> bool:
    """Could the capture have been of one direction only? Not when pcapdiff capture
    took it with a filter that names no direction."""
    if meta is None:
        return True
    words = meta.filter.split()
    return "-Q" in meta.argv or "src" in words or "dst" in words or "inbound" in words


def _warnings(result: SynCheck, server_sent: bool, meta: CaptureMeta | None) -> Iterable[str]:
    """What limits the claims: packets the capture lost, one direction only, a cut."""
    summary = result.summary
    judged = result.total.attempts
    dropped = summary.dropped_packets + ((meta.packets_dropped_by_kernel or 0) if meta else 0)
    unanswered = result.total.fates[Fate.UNANSWERED] + result.total.fates[Fate.INCOMPLETE]
    if dropped:
        yield (
            f"the capture lost {dropped} packets (kernel or interface drops): "
            "a SYN-ACK or ACK it missed would look like an attempt not answered"
        )
    if judged and not server_sent and unanswered and _one_way_filter(meta):
        yield (
            "the capture holds no packet this host sent on these connections: if it was "
            "taken in one direction only (tcpdump -Q in, a 'dst port' filter), unanswered "
            "attempts may have been answered"
        )
    if result.other_sources:
        yield (
            f"more than {MAX_SOURCES} source addresses: {result.other_sources} attempts "
            "from further sources are counted in the total only"
        )
    if result.end_ns is not None and result.start_ns is not None:
        span = duration(result.end_ns - result.start_ns)
        if result.end_source == "last packet" and judged:
            yield (
                f"no recorded end (no sidecar or pcapng statistics): the capture is taken "
                f"to have ended at its last packet ({span} after it started)"
            )
