"""decode: every link type and IP layout lands on the same TCP segments."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pcapdiff import read_connections
from pcapdiff.decode import decode, parse_tcp_options
from pcapdiff.model import SYN, CaptureSummary
from pcapdiff.read import read

from .conftest import FIXTURES

LINK_FIXTURES = [
    "http_ok.pcap",
    "http_ok_dot1q.pcap",
    "http_ok_qinq.pcap",
    "http_ok_sll.pcap",
    "http_ok_sll2.pcap",
    "http_ok_raw101.pcap",
    "http_ok_raw12.pcap",
    "http_ok_raw14.pcap",
    "http_ok_ipv4_228.pcap",
    "http_ok_loop.pcap",
    "http_ok_be.pcapng",
    "http_ok_ns_be.pcap",
]
IPV6_FIXTURES = ["http_ok_ipv6.pcap", "http_ok_ipv6_229.pcap", "http_ok_null.pcap"]


def segments(path: Path) -> tuple[list, CaptureSummary]:
    summary = CaptureSummary(path=str(path))
    return list(decode(read(path, summary), summary)), summary


def fields(seg: object) -> tuple:
    s = seg  # the fields that do not depend on the link layer
    return (
        s.frame,
        s.sport,
        s.dport,
        s.flags,
        s.seq,
        s.ack,
        s.payload_len,
        s.ttl,  # type: ignore[attr-defined]
        s.payload,
        s.options,
    )  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", LINK_FIXTURES + IPV6_FIXTURES)
def test_every_link_type_decodes_the_same_conversation(name: str) -> None:
    reference, _ = segments(
        FIXTURES / ("http_ok_ipv6.pcap" if name in IPV6_FIXTURES else "http_ok.pcap")
    )
    got, summary = segments(FIXTURES / name)
    assert [fields(s) for s in got] == [fields(s) for s in reference]
    assert summary.tcp_packets == 11
    assert not summary.anomalies


def test_fields_of_the_syn() -> None:
    got, _ = segments(FIXTURES / "http_ok.pcap")
    syn = got[0]
    assert syn.flags == SYN
    assert (syn.src, syn.sport, syn.dst, syn.dport) == (
        bytes([198, 51, 100, 7]),
        40312,
        bytes([203, 0, 113, 10]),
        80,
    )
    assert syn.seq == 1_000_000
    assert syn.ttl == 64
    assert syn.ip_id == 101
    opts = parse_tcp_options(syn.options)
    assert (opts.mss, opts.sack_permitted, opts.tsval, opts.tsecr, opts.wscale) == (
        1460,
        True,
        1000,
        0,
        7,
    )
    assert opts.layout == "M,S,T,N,W"


def test_request_split_in_ip_fragments_is_reassembled() -> None:
    got, summary = segments(FIXTURES / "ipv4_options_frag.pcap")
    request = [s for s in got if s.payload.startswith(b"GET")]
    assert len(request) == 1
    assert request[0].frame == 5  # reported at its last fragment, as Wireshark does
    assert request[0].payload_len == len(request[0].payload) == 71
    response = got[-1]
    assert response.payload.startswith(b"HTTP/1.1 200")  # IPv4 options skipped
    assert summary.ip_fragments == 1  # the first fragment; the last one is the packet


def test_ipv6_extension_headers_and_fragmented_syn() -> None:
    got, summary = segments(FIXTURES / "ipv6_ext_frag.pcap")
    assert got[0].flags == SYN
    assert got[0].frame == 2
    assert parse_tcp_options(got[0].options).tsval == 1000
    assert got[2].frame == 4
    assert got[2].ttl == 64
    assert summary.tcp_packets == 5


def test_damaged_packet_is_counted_and_the_rest_decoded() -> None:
    got, summary = segments(FIXTURES / "damaged_packet.pcap")
    assert summary.anomalies == {"bad_ip_header_length": 1}
    assert summary.anomaly_examples[0].frame == 4
    assert len(got) == 11


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", ""),
        (b"\x02\x04\x05\xb4\x01\x03\x03\x07", "M,N,W"),
        (b"\x01\x01\x05\x0a\x00\x00\x00\x01\x00\x00\x00\x05", "N,N,K"),
        (b"\x02\x04\x05", "?"),  # cut off
        (b"\x02\x00\x05\xb4", "?"),  # length 0 would loop forever
        (b"\x00\x02\x04\x05\xb4", "E"),
        (b"\xfe\x04\xab\xcd", "254"),
        (b"\x02\x04\x05\xb4\xfe\x02\x08\x0a" + bytes(8) + b"\x04\x02\x00", "M,254,T,S,E"),
    ],
)
def test_tcp_options_layouts(raw: bytes, expected: str) -> None:
    assert parse_tcp_options(raw).layout == expected


def test_sack_blocks() -> None:
    opts = parse_tcp_options(b"\x01\x01\x05\x0a\x00\x00\x00\x01\x00\x00\x00\x05")
    assert opts.sack_blocks == ((1, 5),)


# --- ICMP errors: the quoted packet names the connection -------------------------------


def test_icmp_errors_are_decoded_with_the_packet_they_quote(tmp_path: Path) -> None:
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6PacketTooBig, IPv6
    from scapy.layers.l2 import Ether

    syn = IP(src="198.51.100.7", dst="203.0.113.10", ttl=3) / TCP(
        sport=40100, dport=80, flags="S", seq=4242
    )
    big = IPv6(src="2001:db8:2::10", dst="2001:db8:1::7") / TCP(
        sport=443, dport=45000, flags="A", seq=777
    )
    packets = [
        IP(src="203.0.113.1", dst="198.51.100.7") / ICMP(type=3, code=1) / bytes(syn)[:28],
        IP(src="203.0.113.1", dst="203.0.113.10")
        / ICMP(type=3, code=4, nexthopmtu=1400)
        / bytes(syn)[:28],
        IPv6(src="2001:db8:ff::1", dst="2001:db8:2::10")
        / ICMPv6PacketTooBig(mtu=1280)
        / bytes(big)[:48],
        IPv6(src="2001:db8:ff::1", dst="2001:db8:1::7")
        / ICMPv6DestUnreach(code=1)
        / bytes(big)[:48],
        IP(src="203.0.113.1", dst="198.51.100.7") / ICMP(type=8),  # an echo: not an error
        IP(src="203.0.113.1", dst="198.51.100.7") / ICMP(type=3, code=1) / b"\x45\x00",  # cut
    ]
    path = tmp_path / "icmp.pcap"
    write_pcap(path, 1, [(i * 0.001, bytes(Ether() / p)) for i, p in enumerate(packets)])
    _, summary = read_connections(path)
    got = [
        (
            e.frame,
            e.sender,
            e.kind,
            e.mtu,
            e.quoted_src,
            e.quoted_sport,
            e.quoted_dport,
            e.quoted_seq,
        )
        for e in summary.icmp_errors
    ]
    assert got == [
        (1, "203.0.113.1", "host unreachable", None, "198.51.100.7", 40100, 80, 4242),
        (2, "203.0.113.1", "fragmentation needed", 1400, "198.51.100.7", 40100, 80, 4242),
        (3, "2001:db8:ff::1", "packet too big", 1280, "2001:db8:2::10", 443, 45000, 777),
        (
            4,
            "2001:db8:ff::1",
            "administratively prohibited",
            None,
            "2001:db8:2::10",
            443,
            45000,
            777,
        ),
    ]
    assert summary.non_tcp_packets == 6
    assert summary.malformed_packets == 0


def write_pcap(path: Path, linktype: int, frames: list[tuple[float, bytes]]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for t, data in frames:
        usec = round((1_700_000_000 + t) * 1e6)
        out.append(struct.pack("<IIII", usec // 10**6, usec % 10**6, len(data), len(data)) + data)
    path.write_bytes(b"".join(out))
