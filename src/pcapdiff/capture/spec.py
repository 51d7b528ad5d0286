"""What to capture, as a filter and an argv: pure functions, no process started."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

ROLES = ("edge", "origin")
BUFFER_MB = 16  # the capture's kernel buffer


@dataclass(frozen=True)
class CaptureSpec:
    """A capture on either end of the origin pull."""

    role: str  # "edge" or "origin"
    output: Path
    interface: str = "any"
    peers: tuple[str, ...] = ()  # addresses or networks at the other end
    ports: tuple[int, ...] = ()  # the origin's service ports
    duration_s: float | None = None
    count: int | None = None
    max_size_mb: int | None = None  # rotate at this size ...
    files: int = 10  # ... keeping this many files, the newest always kept
    pcapng: bool = False
    snaplen: int = 0  # 0: whole packets (payload is evidence: request lines, alerts)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be edge or origin, not {self.role!r}")
        for port in self.ports:
            if not 0 < port < 65536:
                raise ValueError(f"port {port} out of range")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")
        if self.max_size_mb is not None and self.max_size_mb < 1:
            raise ValueError("max size must be at least 1 MB")
        if self.files < 1:
            raise ValueError("files must be at least 1")
        bpf_filter(self.peers, self.ports)  # validates the peers


# ICMP errors, which quote the packet they are about (RFC 792, RFC 4443): a router's
# "host unreachable" for a SYN or "fragmentation needed" for a response comes from an
# address that is neither peer, so these are kept by what they quote.
ICMP4_ERROR_TYPES = (3, 11, 12)  # destination unreachable, time exceeded, parameter problem
ICMP6_ERROR_TYPES = (1, 2, 3, 4)  # ... and packet too big
# Where the quoted packet's addresses sit: IPv4 after the 8-byte ICMP header (source at
# icmp[20], destination at icmp[24]); IPv6 after the 40-byte IPv6 and the 8-byte
# ICMPv6 header (source at ip6[56], destination at ip6[72]; no extension headers).
QUOTED4, QUOTED6 = (20, 24), (56, 72)


def bpf_filter(peers: tuple[str, ...] | list[str], ports: tuple[int, ...] | list[int]) -> str:
    """The capture filter: TCP to/from the peers on the ports, ICMP/ICMPv6 with the
    peers, and ICMP errors from anyone (a router) that quote a packet to or from a peer:
    unreachables and "fragmentation needed" explain lost connections."""
    hosts = []
    nets = []
    for peer in peers:
        try:
            net = ipaddress.ip_network(peer, strict=False)
        except ValueError:
            raise ValueError(f"{peer!r} is not an IP address or network") from None
        nets.append(net)
        full = net.prefixlen == net.max_prefixlen
        hosts.append(f"host {net.network_address}" if full else f"net {net}")
    tcp = "tcp"
    if ports:
        tcp = "(tcp and (" + " or ".join(f"port {p}" for p in ports) + "))"
    what = f"({tcp} or icmp or icmp6)"
    if not hosts:
        return what
    quoting = _icmp_quoting(nets)
    return "((" + " or ".join(hosts) + ") and " + what + ")" + "".join(f" or {q}" for q in quoting)


def _icmp_quoting(nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> list[str]:
    """BPF for ICMP errors whose quoted packet is from or to one of ``nets``."""
    out = []
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    if v4:
        types = " or ".join(f"icmp[0] = {t}" for t in ICMP4_ERROR_TYPES)
        quotes = " or ".join(_match_words("icmp", at, net) for net in v4 for at in QUOTED4)
        out.append(f"(icmp and ({types}) and ({quotes}))")
    if v6:
        types = " or ".join(f"ip6[40] = {t}" for t in ICMP6_ERROR_TYPES)
        quotes = " or ".join(_match_words("ip6", at, net) for net in v6 for at in QUOTED6)
        out.append(f"(icmp6 and ({types}) and ({quotes}))")
    return out


def _match_words(proto: str, at: int, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """`proto[at:4] & mask = value` for each 32-bit word of the address the prefix covers."""
    address, mask = int(net.network_address), int(net.netmask)
    words = net.max_prefixlen // 32
    parts = []
    for i in range(words):
        shift = 32 * (words - 1 - i)
        word_mask = (mask >> shift) & 0xFFFFFFFF
        if not word_mask:
            break
        value = (address >> shift) & word_mask
        load = f"{proto}[{at + 4 * i}:4]"
        parts.append(
            f"{load} = 0x{value:08x}"
            if word_mask == 0xFFFFFFFF
            else f"{load} & 0x{word_mask:08x} = 0x{value:08x}"
        )
    return "(" + " and ".join(parts) + ")" if len(parts) > 1 else parts[0]


def capture_argv(spec: CaptureSpec, tool: str = "tcpdump") -> list[str]:
    """The exact command to run; duration is enforced by the runner, not the tool."""
    flt = bpf_filter(spec.peers, spec.ports)
    out = str(spec.output)
    if tool == "dumpcap":
        argv = ["dumpcap", "-q", "-i", spec.interface, "-B", str(BUFFER_MB), "-w", out, "-f", flt]
        if spec.snaplen:
            argv += ["-s", str(spec.snaplen)]
        if spec.count:
            argv += ["-c", str(spec.count)]
        if spec.max_size_mb:
            argv += ["-b", f"filesize:{spec.max_size_mb * 1000}", "-b", f"files:{spec.files}"]
        return argv
    # -U: write each packet at once; --immediate-mode: with TPACKET_V3 a short exchange
    # otherwise stays in the ring and is lost on SIGINT; -Z root: keep the rights to
    # create rotated files; -n: no DNS lookups while capturing; -B: a kernel buffer 8x
    # the default, which dropped ~half of a 1-byte-write loopback burst (16 MiB: 0.03%).
    argv = [
        "tcpdump",
        "-i",
        spec.interface,
        "-n",
        "-U",
        "--immediate-mode",
        "-B",
        str(BUFFER_MB * 1024),
        "-s",
        str(spec.snaplen),
        "-Z",
        "root",
        "-w",
        out,
    ]
    if spec.count:
        argv += ["-c", str(spec.count)]
    if spec.max_size_mb:
        argv += ["-C", str(spec.max_size_mb), "-W", str(spec.files)]
    return [*argv, flt]


class PacketMatcher:
    """bpf_filter() evaluated in Python on a network-layer packet, for a sniffer that
    cannot compile BPF (no libpcap). Same meaning as libpcap gives the filter: `tcp` and
    `icmp6` look at the IP header's own protocol field (no extension-header chasing),
    and `port` needs the first fragment."""

    def __init__(self, peers: tuple[str, ...], ports: tuple[int, ...]) -> None:
        bpf_filter(peers, ports)  # validates
        # (address length in bytes, network as an integer, mask): no objects per packet
        self.nets = [
            (len(net.network_address.packed), int(net.network_address), int(net.netmask))
            for net in (ipaddress.ip_network(p, strict=False) for p in peers)
        ]
        self.ports = frozenset(ports)

    def __call__(self, ethertype: int, packet: bytes) -> bool:
        if ethertype == 0x0800 and len(packet) >= 20 and packet[0] >> 4 == 4:
            proto, header = packet[9], (packet[0] & 0x0F) * 4
            src, dst = packet[12:16], packet[16:20]
            first_fragment = int.from_bytes(packet[6:8], "big") & 0x1FFF == 0
            icmp = 1
        elif ethertype == 0x86DD and len(packet) >= 40 and packet[0] >> 4 == 6:
            proto, header = packet[6], 40
            src, dst = packet[8:24], packet[24:40]
            first_fragment, icmp = True, 58
        else:
            return False
        if self.nets and not self._peer(src, dst):
            return self._quotes_a_peer(packet, proto, header, icmp, first_fragment)
        if proto == icmp:
            return True
        if proto != 6:
            return False
        if not self.ports:
            return True
        if not first_fragment or len(packet) < header + 4:
            return False
        sport, dport = (
            int.from_bytes(packet[header : header + 2], "big"),
            int.from_bytes(packet[header + 2 : header + 4], "big"),
        )
        return sport in self.ports or dport in self.ports

    def _peer(self, *addresses: bytes) -> bool:
        return any(
            int.from_bytes(addr, "big") & mask == network
            for addr in addresses
            for size, network, mask in self.nets
            if size == len(addr)
        )

    def _quotes_a_peer(
        self, packet: bytes, proto: int, header: int, icmp: int, first_fragment: bool
    ) -> bool:
        """An ICMP error from anyone whose quoted packet is from or to a peer. As BPF
        loads them: a word past the captured bytes rejects the packet."""
        if proto != icmp or not first_fragment:
            return False
        types: tuple[int, ...]
        if icmp == 1:
            types, base, quoted = ICMP4_ERROR_TYPES, header, QUOTED4
        else:
            types, base, quoted = ICMP6_ERROR_TYPES, 0, QUOTED6
        type_at = header if icmp == 1 else 40
        if len(packet) <= type_at or packet[type_at] not in types:
            return False
        size = 4 if icmp == 1 else 16
        for at in quoted:
            start = base + at
            addr = packet[start : start + size]
            if len(addr) < size:
                return False
            if self._peer(addr):
                return True
        return False
