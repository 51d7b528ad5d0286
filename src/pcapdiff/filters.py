"""Which connections and verdicts to show: the filters of `conns` and `compare`.

The filters never change what is counted: a summary counts everything, and the
renderers say how many rows were filtered out. Values are parsed here, once, so the
CLI's parameter types and library users get the same errors.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from .model import CDN_STATUS, Connection, Endpoint, Outcome, Verdict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

NS = 1_000_000_000

CONN_STATES = (
    "S0",
    "S1",
    "SF",
    "REJ",
    "S2",
    "S3",
    "RSTO",
    "RSTR",
    "RSTOS0",
    "RSTRH",
    "SH",
    "SHR",
    "OTH",
)


# --- values as people write them ---------------------------------------------------------


def parse_network(text: str) -> Network:
    """ADDR or CIDR; host bits are allowed (198.51.100.7/24 is 198.51.100.0/24)."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an address or network (ADDR or ADDR/PREFIX)") from None


def parse_address(text: str) -> Address:
    """One address, never with a port ('198.51.100.2:8080' says where the port goes)."""
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        pass
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit():
        try:
            ipaddress.ip_address(host.strip("[]"))
            raise ValueError(f"{text!r} is not an address (put the port in the URL)")
        except ValueError as exc:
            if "port" in str(exc):
                raise
    raise ValueError(f"{text!r} is not an IPv4 or IPv6 address")


class ClientSpec(NamedTuple):
    """--client ADDR[:PORT] or a network: the edge's end of a connection."""

    network: Network
    port: int | None

    def matches(self, client: Endpoint) -> bool:
        try:
            addr = ipaddress.ip_address(client.addr)
        except ValueError:
            return False
        if addr.version != self.network.version or addr not in self.network:
            return False
        return self.port is None or client.port == self.port


def parse_client(text: str) -> ClientSpec:
    """198.51.100.7, 198.51.100.7:40100, [2001:db8::7]:40100, 198.51.100.0/24."""
    text = text.strip()
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", text)
    if bracketed:
        host, port_text = bracketed.group(1), bracketed.group(2)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{text!r}: {port_text!r} is not a port (1-65535)")
        port = int(port_text)
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not ADDR, ADDR:PORT, [ADDR6]:PORT or a network") from None
    return ClientSpec(network, port)


def parse_outcomes(text: str) -> frozenset[Outcome]:
    """An outcome by name (any case) or by the CDN code it gives: 520 is every outcome
    a CDN reports as 520."""
    text = text.strip().lower()
    if text.isdigit():
        found = frozenset(o for o, code in CDN_STATUS.items() if code == int(text))
        if not found:
            codes = sorted({c for c in CDN_STATUS.values() if c is not None})
            raise ValueError(
                f"{text!r}: no outcome gives CDN code {text} (codes: {', '.join(map(str, codes))})"
            )
        return found
    try:
        return frozenset({Outcome(text)})
    except ValueError:
        names = ", ".join(o.value for o in Outcome)
        raise ValueError(f"{text!r} is not an outcome ({names}, or a CDN code)") from None


class When(NamedTuple):
    """A point in time as written: absolute (epoch ns), a date and time without a
    zone, or a time of day; the last two are read in the display zone (``resolve``)."""

    epoch_ns: int | None = None
    naive: datetime.datetime | None = None  # a date and time, no zone
    day_ns: int | None = None  # a time of day: nanoseconds after midnight
    tz: datetime.tzinfo | None = None  # the zone a time of day was written with
    text: str = ""  # as written

    def resolve(self, reference_ns: int, zone: datetime.tzinfo) -> int:
        """Epoch ns. A time of day is taken on the date of ``reference_ns`` (the
        capture's first packet), or on the next day when it is more than a minute
        earlier than that time of day (the capture ran past midnight)."""
        if self.epoch_ns is not None:
            return self.epoch_ns
        if self.naive is not None:
            return int(self.naive.replace(tzinfo=zone).timestamp() * NS)
        assert self.day_ns is not None
        ref = datetime.datetime.fromtimestamp(reference_ns / NS, self.tz or zone)
        midnight_ns = int(ref.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * NS)
        at = midnight_ns + self.day_ns
        if at < reference_ns - 60 * NS:
            at += 86400 * NS
        return at


_ZONE = re.compile(r"\s*(?:(UTC|Z|GMT)|([+-]\d\d:?\d\d))\s*$", re.IGNORECASE)
_DAY = re.compile(r"(\d{1,2}):(\d\d)(?::(\d\d)(?:[.,](\d{1,9}))?)?")


def parse_when(text: str) -> When:
    """Times as a person writes them (``_parse_when``), remembering how."""
    return _parse_when(text)._replace(text=text.strip())


def _parse_when(text: str) -> When:
    """Times as a person writes them: epoch seconds (1764615100.5), ISO 8601
    (2026-12-01T18:51:40Z, 2026-12-01 18:51:40.250 +01:00), or a time of day
    (18:51, 18:51:40 UTC). Without a zone: the display zone (UTC unless --local-time)."""
    raw, text = text, text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds != seconds or abs(seconds) > 1e11:
            raise ValueError(f"{raw!r} is not a time")
        return When(epoch_ns=int(seconds * NS))
    tz: datetime.tzinfo | None = None
    zone = _ZONE.search(text)
    if zone and (
        zone.group(1) or _DAY.fullmatch(text[: zone.start()]) or "T" in text or " " in text
    ):
        text = text[: zone.start()]
        if zone.group(1):
            tz = datetime.timezone.utc
        else:
            digits = zone.group(2).replace(":", "")
            minutes = int(digits[1:3]) * 60 + int(digits[3:5])
            tz = datetime.timezone(
                datetime.timedelta(minutes=-minutes if digits[0] == "-" else minutes)
            )
    day = _DAY.fullmatch(text)
    if day:
        hour, minute, second = int(day.group(1)), int(day.group(2)), int(day.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"{raw!r} is not a time of day")
        fraction = int((day.group(4) or "").ljust(9, "0"))
        return When(day_ns=((hour * 60 + minute) * 60 + second) * NS + fraction, tz=tz)
    try:
        when = datetime.datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise ValueError(
            f"{raw!r} is not a time (write 18:51:40, 2026-12-01T18:51:40Z or epoch seconds)"
        ) from None
    if when.tzinfo is None and tz is not None:
        when = when.replace(tzinfo=tz)
    if when.tzinfo is None:
        return When(naive=when)
    return When(epoch_ns=int(when.timestamp() * NS))


# --- conns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionFilter:
    """`conns --host/--port/--state`: a connection passes when it matches every
    filter given (and any one value of a repeated filter)."""

    hosts: tuple[Network, ...] = ()
    ports: tuple[int, ...] = ()
    states: tuple[str, ...] = ()

    def matches(self, conn: Connection) -> bool:
        if self.states and conn.conn_state not in self.states:
            return False
        return self.matches_ends(
            conn.client.addr, conn.client.port, conn.server.addr, conn.server.port
        )

    def matches_ends(
        self, addr_a: str | bytes, port_a: int, addr_b: str | bytes, port_b: int
    ) -> bool:
        """--host and --port on the two ends (text or packed addresses): what a segment
        can already tell, before its connection's state is known."""
        if self.ports and port_a not in self.ports and port_b not in self.ports:
            return False
        if self.hosts:
            addrs = [ipaddress.ip_address(a) for a in (addr_a, addr_b)]
            return any(a in net for net in self.hosts for a in addrs if a.version == net.version)
        return True

    def select(self, connections: Iterable[Connection]) -> Selection:
        return Selection(connections, self)


class Selection:
    """The connections that pass a filter, as they stream; ``seen`` counts them all."""

    def __init__(self, connections: Iterable[Connection], wanted: ConnectionFilter) -> None:
        self.connections, self.wanted = connections, wanted
        self.seen = 0

    def __iter__(self) -> Iterator[Connection]:
        for conn in self.connections:
            self.seen += 1
            if self.wanted.matches(conn):
                yield conn


# --- compare -------------------------------------------------------------------------------


@dataclass
class VerdictFilter:
    """`compare --not-ok/--outcome/--client/--request/--since/--until`. Times are the
    edge connection's start, in the edge capture's clock (the one its rows show). A
    time of day is taken on the date of the first verdict matched (``When.resolve``)."""

    not_ok: bool = False
    outcomes: frozenset[Outcome] = field(default_factory=frozenset)
    clients: tuple[ClientSpec, ...] = ()
    request: str = ""  # matched, any case, against "METHOD host/path" and "TLS sni"
    since: When | None = None
    until: When | None = None
    zone: datetime.tzinfo = datetime.timezone.utc
    _window: tuple[int | None, int | None] | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return bool(
            self.not_ok
            or self.outcomes
            or self.clients
            or self.request
            or self.since is not None
            or self.until is not None
        )

    def matches(self, v: Verdict) -> bool:
        if self.not_ok and v.outcome is Outcome.OK:
            return False
        if self.outcomes and v.outcome not in self.outcomes:
            return False
        edge = v.pair.edge
        if self.clients and not any(c.matches(edge.client) for c in self.clients):
            return False
        if self.request and self.request.lower() not in request_text(edge).lower():
            return False
        if self.since is None and self.until is None:
            return True
        if self._window is None:
            ref = edge.first_ts_ns
            self._window = (
                None if self.since is None else self.since.resolve(ref, self.zone),
                None if self.until is None else self.until.resolve(ref, self.zone),
            )
        since_ns, until_ns = self._window
        if since_ns is not None and edge.first_ts_ns < since_ns:
            return False
        return until_ns is None or edge.first_ts_ns <= until_ns


def request_text(conn: Connection) -> str:
    """What --request matches: "GET www.example.com/a.jpg", "TLS www.example.com"."""
    req = conn.request
    if req is None:
        return ""
    if req.kind == "http":
        return f"{req.method} {req.host}{req.target}"
    if req.kind == "tls":
        return f"TLS {req.host}"
    return ""
