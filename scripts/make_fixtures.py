"""Generate the crafted capture fixtures in fixtures/pcaps/conns/ (deterministic).

Packets are built with scapy; the containers (pcap in both byte orders and both
time resolutions, pcapng with several interfaces, gzip) are written here, so every
format and link type the reader claims is exercised by a file we know byte for byte.
Run it again after changing it; tests compare each file's `conns --json` against
tests/golden/ (regenerate those with `pytest --update-golden`).

    python scripts/make_fixtures.py
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterable
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "pcaps" / "conns"
T0_NS = 1_700_000_000 * 10**9  # 2023-11-14, a fixed start for every file
EDGE4, ORIGIN4 = "198.51.100.7", "203.0.113.10"
EDGE6, ORIGIN6 = "2001:db8:1::7", "2001:db8:2::10"
TS_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1000, 0)), ("NOP", None), ("WScale", 7)]

Packet = tuple[float, bytes]  # (time offset in seconds, IP packet bytes)


# --- conversations (IP packets with times) ----------------------------------------


class Conv:
    """Builds one TCP conversation's IP packets, keeping sequence numbers right."""

    def __init__(
        self,
        client: str,
        cport: int,
        server: str,
        sport: int,
        cisn: int,
        sisn: int,
        t: float = 0.0,
        v6: bool = False,
    ) -> None:
        self.client, self.cport, self.server, self.sport = client, cport, server, sport
        self.cseq, self.sseq = cisn, sisn
        self.t = t
        self.v6 = v6
        self.packets: list[Packet] = []
        self.ip_id = {True: 100, False: 5000}

    def _ip(self, from_client: bool) -> IP | IPv6:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        if self.v6:
            return IPv6(src=src, dst=dst, hlim=64 if from_client else 55)
        self.ip_id[from_client] += 1
        return IP(src=src, dst=dst, id=self.ip_id[from_client], ttl=64 if from_client else 55)

    def send(
        self,
        from_client: bool,
        flags: str,
        payload: bytes = b"",
        *,
        seq: int | None = None,
        ack: bool = True,
        options: list | None = None,
        dt: float = 0.001,
        advance: bool = True,
    ) -> None:
        sport, dport = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        my_seq = self.cseq if from_client else self.sseq
        their_seq = self.sseq if from_client else self.cseq
        tcp = TCP(
            sport=sport,
            dport=dport,
            flags=flags,
            seq=seq if seq is not None else my_seq,
            ack=their_seq if ack and "A" in flags else 0,
            window=64240,
            options=options or [],
        )
        self.t += dt
        self.packets.append((self.t, bytes(self._ip(from_client) / tcp / payload)))
        if advance and seq is None:
            consumed = len(payload) + (1 if "S" in flags else 0) + (1 if "F" in flags else 0)
            if from_client:
                self.cseq = (self.cseq + consumed) & 0xFFFFFFFF
            else:
                self.sseq = (self.sseq + consumed) & 0xFFFFFFFF

    def handshake(self) -> Conv:
        self.send(True, "S", options=TS_OPTS)
        self.send(False, "SA", options=[("MSS", 1400), ("SAckOK", b""), ("WScale", 8)])
        self.send(True, "A")
        return self

    def close(self) -> Conv:
        self.send(True, "FA")
        self.send(False, "FA")
        self.send(True, "A")
        return self


REQUEST = b"GET /images/a.jpg HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: edge\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"


def http_ok(
    client: str = EDGE4, server: str = ORIGIN4, v6: bool = False, cport: int = 40312, t: float = 0.0
) -> Conv:
    """A complete HTTP exchange; the request line is split over two segments."""
    c = Conv(client, cport, server, 80, 1_000_000, 7_000_000, t=t, v6=v6).handshake()
    c.send(True, "PA", REQUEST[:9])  # "GET /imag": the request line is cut mid-path
    c.send(True, "PA", REQUEST[9:])
    c.send(False, "A")
    c.send(False, "PA", RESPONSE)
    c.send(True, "A")
    return c.close()


def every_state() -> list[Packet]:
    """One connection for each Zeek conn_state, on its own client port."""
    out: list[Packet] = []
    t = 0.0

    def conv(port: int) -> Conv:
        nonlocal t
        t += 0.1
        return Conv(EDGE4, port, ORIGIN4, 80, port * 1000, port * 3000, t=t)

    c = conv(41000)  # S0: SYN and two retransmits, no answer
    c.send(True, "S", options=TS_OPTS, advance=False)
    c.send(True, "S", options=TS_OPTS, dt=1.0, advance=False)
    c.send(True, "S", options=TS_OPTS, dt=2.0)
    out += c.packets
    c = conv(41001)  # REJ: the SYN answered with RST-ACK (port closed)
    c.send(True, "S")
    c.send(False, "RA", seq=0)
    out += c.packets
    c = conv(41002).handshake()  # S1: established, never closed
    c.send(True, "PA", REQUEST)
    c.send(False, "A")
    out += c.packets
    c = conv(41003).handshake()  # SF: see http_ok
    c.send(True, "PA", REQUEST)
    c.send(False, "PA", RESPONSE)
    out += c.close().packets
    c = conv(41004).handshake()  # S2: the client closed, no answer
    c.send(True, "FA")
    out += c.packets
    c = conv(41005).handshake()  # S3: the server closed, no answer
    c.send(False, "FA")
    out += c.packets
    c = conv(41006).handshake()  # RSTO: the client aborted
    c.send(True, "RA")
    out += c.packets
    c = conv(41007).handshake()  # RSTR: the server reset after the request (a 520)
    c.send(True, "PA", REQUEST)
    c.send(False, "RA")
    out += c.packets
    c = conv(41008)  # RSTOS0: SYN, then the client's own RST
    c.send(True, "S")
    c.send(True, "R", ack=False)
    out += c.packets
    c = conv(41009)  # RSTRH: a SYN-ACK and a RST, the SYN never seen
    c.cseq += 1
    c.send(False, "SA")
    c.send(False, "R", ack=False)
    out += c.packets
    c = conv(41010)  # SH: SYN then FIN from the client
    c.send(True, "S")
    c.send(True, "F", ack=False)
    out += c.packets
    c = conv(41011)  # SHR: SYN-ACK then FIN from the server
    c.cseq += 1
    c.send(False, "SA")
    c.send(False, "FA")
    out += c.packets
    c = conv(41012)  # OTH: midstream, no SYN seen
    c.send(True, "PA", b"more of an old request")
    c.send(False, "A")
    out += c.packets
    return sorted(out, key=lambda p: p[0])


def port_reuse() -> list[Packet]:
    """The same 4-tuple twice, minutes apart, with different ISNs: two connections."""
    first = http_ok()
    second = Conv(EDGE4, 40312, ORIGIN4, 80, 2_000_000, 9_000_000, t=120.0).handshake()
    second.send(True, "PA", REQUEST)
    second.send(False, "PA", RESPONSE)
    return first.packets + second.close().packets


def client_hello(sni: bytes) -> bytes:
    """A TLS 1.3 ClientHello record (RFC 8446 4.1.2) offering one suite, with SNI."""
    server_name = struct.pack("!BH", 0, len(sni)) + sni
    ext_sni = struct.pack("!HHH", 0, len(server_name) + 2, len(server_name)) + server_name
    ext_versions = struct.pack("!HHB", 43, 5, 4) + b"\x03\x04\x03\x03"
    extensions = ext_sni + ext_versions
    body = (
        b"\x03\x03"
        + bytes(range(32))
        + b"\x00"
        + struct.pack("!H", 2)
        + b"\x13\x01"
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def tls_alert() -> list[Packet]:
    """A ClientHello with SNI split over two segments, answered by a fatal alert."""
    hello = client_hello(b"www.example.com")
    alert = b"\x15\x03\x03\x00\x02\x02\x28"  # fatal handshake_failure
    c = Conv(EDGE4, 40400, ORIGIN4, 443, 3_000_000, 8_000_000).handshake()
    c.send(True, "PA", hello[:40])
    c.send(True, "PA", hello[40:])
    c.send(False, "PA", alert)
    c.send(False, "RA")
    return c.packets


def ipv6_ext_frag() -> list[Packet]:
    """IPv6 with hop-by-hop and destination options, and a SYN in two fragments."""
    c = Conv(EDGE6, 40500, ORIGIN6, 80, 4_000_000, 6_000_000, v6=True)
    syn = TCP(sport=40500, dport=80, flags="S", seq=4_000_000, options=TS_OPTS)
    base = IPv6(src=EDGE6, dst=ORIGIN6, hlim=64)
    tcp_bytes = bytes(syn.__class__(bytes(base / syn)[40:]))  # with its checksum
    frag1 = base / IPv6ExtHdrFragment(nh=6, offset=0, m=1, id=77) / tcp_bytes[:16]
    frag2 = base / IPv6ExtHdrFragment(nh=6, offset=2, m=0, id=77) / tcp_bytes[16:]
    out = [(0.001, bytes(frag1)), (0.002, bytes(frag2))]
    c.cseq += 1
    c.t = 0.002
    c.send(False, "SA")
    ext = IPv6(src=EDGE6, dst=ORIGIN6, hlim=64) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
    ack = TCP(sport=40500, dport=80, flags="A", seq=c.cseq, ack=c.sseq)
    out += [*c.packets, (0.004, bytes(ext / ack))]
    c.t = 0.004
    c.send(True, "PA", REQUEST)
    c.send(False, "PA", RESPONSE)
    return out + c.packets[len(c.packets) - 2 :]


def ipv4_options_frag() -> list[Packet]:
    """IPv4 with options (record route), and a request split into IP fragments."""
    c = Conv(EDGE4, 40600, ORIGIN4, 80, 5_000_000, 5_500_000).handshake()
    req = (
        IP(src=EDGE4, dst=ORIGIN4, id=999, ttl=64)
        / TCP(sport=40600, dport=80, flags="PA", seq=c.cseq, ack=c.sseq)
        / REQUEST
    )
    whole = bytes(req)
    body = whole[20:]
    head = IP(whole[:20])
    f1 = IP(src=EDGE4, dst=ORIGIN4, id=999, ttl=64, flags="MF", frag=0, proto=6) / body[:48]
    f2 = IP(src=EDGE4, dst=ORIGIN4, id=999, ttl=64, frag=6, proto=6) / body[48:]
    del head
    out = [*c.packets, (0.01, bytes(f1)), (0.011, bytes(f2))]
    c.cseq += len(REQUEST)
    c.t = 0.011
    opt = IP(src=ORIGIN4, dst=EDGE4, ttl=55, options=b"\x07\x07\x04\x00\x00\x00\x00\x00")
    resp = opt / TCP(sport=80, dport=40600, flags="PA", seq=c.sseq, ack=c.cseq) / RESPONSE
    out.append((0.012, bytes(resp)))
    return out


def damaged_packet() -> list[Packet]:
    """A good conversation with one garbage packet (IPv4 header length 8) in the middle."""
    packets = http_ok().packets
    bad = bytearray(packets[3][1])
    bad[0] = 0x42
    return [*packets[:3], (packets[3][0] - 0.0005, bytes(bad)), *packets[3:]]


# --- link layers and containers -----------------------------------------------------

MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def ether(ip: bytes, vlan: str = "") -> bytes:
    ethertype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    if vlan == "dot1q":
        return (
            bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q(vlan=42))[:-2]
            + struct.pack("!H", ethertype)
            + ip
        )
    if vlan == "qinq":
        frame = (
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x88A8)
            / Dot1AD(vlan=100, type=0x8100)
            / Dot1Q(vlan=42)
        )
        return bytes(frame)[:-2] + struct.pack("!H", ethertype) + ip
    return MAC_B + MAC_A + struct.pack("!H", ethertype) + ip


def sll(ip: bytes) -> bytes:
    proto = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHH8sH", 0, 1, 6, MAC_A + b"\0\0", proto) + ip


def sll2(ip: bytes) -> bytes:
    proto = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHIHBB8s", proto, 0, 2, 1, 0, 6, MAC_A + b"\0\0") + ip


def null(ip: bytes, big_endian: bool = False) -> bytes:
    family = 30 if ip[0] >> 4 == 6 else 2  # macOS AF_INET6 is 30
    return struct.pack(">I" if big_endian else "<I", family) + ip


def write_pcap(
    path: Path,
    linktype: int,
    frames: Iterable[tuple[float, bytes]],
    *,
    nanosecond: bool = False,
    big_endian: bool = False,
) -> None:
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for t, data in frames:
        sec, ns = divmod(_ns(t), 1_000_000_000)
        frac = ns if nanosecond else ns // 1000
        out.append(struct.pack(e + "IIII", sec, frac, len(data), len(data)) + data)
    _write(path, b"".join(out))


def _block(block_type: int, body: bytes, e: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(e + "II", block_type, length) + body + struct.pack(e + "I", length)


def write_pcapng(
    path: Path,
    interfaces: list[tuple[int, int]],
    frames: Iterable[tuple[int, float, bytes]],
    *,
    big_endian: bool = False,
    drops: int | None = None,
) -> None:
    """interfaces: (linktype, if_tsresol exponent); frames: (interface, time, bytes)."""
    e = ">" if big_endian else "<"
    out = [_block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)]
    for linktype, resol in interfaces:
        opts = struct.pack(e + "HHB3x", 9, 1, resol) + struct.pack(e + "HH", 0, 0)
        out.append(_block(1, struct.pack(e + "HHI", linktype, 0, 262144) + opts, e))
    last = 0.0
    for iface, t, data in frames:
        ticks = _ns(t) * 10 ** interfaces[iface][1] // 1_000_000_000
        out.append(
            _block(
                6,
                struct.pack(
                    e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
                )
                + data,
                e,
            )
        )
        last = t
    if drops is not None:
        ticks = _ns(last) * 10 ** interfaces[0][1] // 1_000_000_000
        opts = struct.pack(e + "HHQ", 4, 8, 100) + struct.pack(e + "HHQ", 5, 8, drops)
        opts += struct.pack(e + "HH", 0, 0)
        out.append(_block(5, struct.pack(e + "III", 0, ticks >> 32, ticks & 0xFFFFFFFF) + opts, e))
    _write(path, b"".join(out))


def _ns(t: float) -> int:
    """Offset seconds -> integer epoch nanoseconds, without float error at 1.7e9."""
    return T0_NS + round(t * 1e6) * 1000


def write_pcapng_sections(path: Path, frames: list[tuple[float, bytes]]) -> None:
    """Three sections: packets as obsolete Packet Blocks (type 2), then a section of
    version 2.0 that readers must skip, then packets as Enhanced Packet Blocks."""
    half = len(frames) // 2

    def section(version: int) -> list[bytes]:
        opts = struct.pack("<HHB3x", 9, 1, 6) + struct.pack("<HH", 0, 0)
        return [
            _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, version, 0, -1)),
            _block(1, struct.pack("<HHI", 1, 0, 262144) + opts),
        ]

    out = section(1)
    for t, data in frames[:half]:
        ticks = _ns(t) // 1000
        out.append(
            _block(
                2,
                struct.pack("<HHIIII", 0, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
                + data,
            )
        )
    out += section(2)
    out.append(_block(6, struct.pack("<IIIII", 0, 0, 0, 4, 4) + b"junk"))
    out += section(1)
    for t, data in frames[half:]:
        ticks = _ns(t) // 1000
        out.append(
            _block(
                6,
                struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
                + data,
            )
        )
    _write(path, b"".join(out))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    assert len(data) < 10_240, f"{path} is {len(data)} bytes; fixtures stay under 10 KB"


def main() -> None:
    ok = http_ok().packets
    ok6 = http_ok(EDGE6, ORIGIN6, v6=True).packets
    files = {
        "http_ok.pcap": lambda p: write_pcap(p, 1, ((t, ether(ip)) for t, ip in ok)),
        "http_ok_ns_be.pcap": lambda p: write_pcap(
            p, 1, ((t, ether(ip)) for t, ip in ok), nanosecond=True, big_endian=True
        ),
        "http_ok.pcap.gz": lambda p: write_pcap(p, 1, ((t, ether(ip)) for t, ip in ok)),
        "http_ok_dot1q.pcap": lambda p: write_pcap(p, 1, ((t, ether(ip, "dot1q")) for t, ip in ok)),
        "http_ok_qinq.pcap": lambda p: write_pcap(p, 1, ((t, ether(ip, "qinq")) for t, ip in ok)),
        "http_ok_sll.pcap": lambda p: write_pcap(p, 113, ((t, sll(ip)) for t, ip in ok)),
        "http_ok_sll2.pcap": lambda p: write_pcap(p, 276, ((t, sll2(ip)) for t, ip in ok)),
        "http_ok_raw101.pcap": lambda p: write_pcap(p, 101, ok),
        "http_ok_raw12.pcap": lambda p: write_pcap(p, 12, ok),
        "http_ok_raw14.pcap": lambda p: write_pcap(p, 14, ok),
        "http_ok_ipv4_228.pcap": lambda p: write_pcap(p, 228, ok),
        "http_ok_ipv6_229.pcap": lambda p: write_pcap(p, 229, ok6),
        "http_ok_null.pcap": lambda p: write_pcap(p, 0, ((t, null(ip)) for t, ip in ok6)),
        "http_ok_loop.pcap": lambda p: write_pcap(p, 108, ((t, null(ip, True)) for t, ip in ok)),
        "http_ok_ipv6.pcap": lambda p: write_pcap(p, 1, ((t, ether(ip)) for t, ip in ok6)),
        # Two interfaces, Ethernet in microseconds and SLL2 in nanoseconds, interleaved;
        # and an ISB reporting drops.
        "two_interfaces.pcapng": lambda p: write_pcapng(
            p,
            [(1, 6), (276, 9)],
            sorted(
                [(0, t, ether(ip)) for t, ip in ok]
                + [(1, t + 0.0005, sll2(ip)) for t, ip in http_ok(cport=40313).packets],
                key=lambda f: f[1],
            ),
            drops=3,
        ),
        "http_ok_be.pcapng": lambda p: write_pcapng(
            p, [(1, 6)], [(0, t, ether(ip)) for t, ip in ok], big_endian=True
        ),
        "sections.pcapng": lambda p: write_pcapng_sections(p, [(t, ether(ip)) for t, ip in ok]),
        "every_state.pcap": lambda p: write_pcap(p, 1, ((t, ether(ip)) for t, ip in every_state())),
        "port_reuse.pcap": lambda p: write_pcap(p, 1, ((t, ether(ip)) for t, ip in port_reuse())),
        "tls_alert.pcap": lambda p: write_pcap(p, 1, ((t, ether(ip)) for t, ip in tls_alert())),
        "ipv6_ext_frag.pcap": lambda p: write_pcap(
            p, 1, ((t, ether(ip)) for t, ip in ipv6_ext_frag())
        ),
        "ipv4_options_frag.pcap": lambda p: write_pcap(
            p, 1, ((t, ether(ip)) for t, ip in ipv4_options_frag())
        ),
        "damaged_packet.pcap": lambda p: write_pcap(
            p, 1, ((t, ether(ip)) for t, ip in damaged_packet())
        ),
    }
    for name, make in files.items():
        make(OUT / name)
    # A capture cut off inside its last record, as when tcpdump is killed.
    whole = (OUT / "http_ok.pcap").read_bytes()
    _write(OUT / "truncated_tail.pcap", whole[:-30])
    print(f"wrote {len(files) + 1} fixtures to {OUT}")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(
        description=(__doc__ or "").strip().splitlines()[0],
        epilog="It takes no arguments: it rewrites the files under fixtures/pcaps/conns.",
    ).parse_args()
    main()
