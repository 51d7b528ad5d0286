"""The Python decoder the core's (core/src/decode.rs) replaced, kept as the reference
the tests hold it to: the per-frame path, which decided every frame the numpy batch
path did not take, and which a test held that path to.

Stage 2, decode: ``Frame`` -> ``Segment``, streamed.

Input: frames from ``read``. Output: one ``Segment`` per TCP segment, in frame order.
Link types: Ethernet (with 802.1Q / 802.1ad / QinQ tags, PPPoE sessions and MPLS),
Linux cooked SLL (113) and SLL2 (276), raw IP (101, 12, 14, 228, 229), BSD NULL (0)
and LOOP (108). IPv4 with options and fragments (TCP in fragments is reassembled,
bounded, and reported at the last fragment as Wireshark does), IPv6 with extension
headers. Payload length comes from the IP header, never from the captured length,
so snaplen-cut packets still count their bytes.

A frame that cannot be decoded never raises: it becomes an ``Anomaly`` in the
summary, with its frame number, and decoding goes on. Non-TCP packets are counted.
Checksums are never checked: packets captured on the sending host carry the
checksum the NIC has not filled in yet (DESIGN.md, "Checksum offload").
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from pcapdiff.errors import UnsupportedLinkType
from pcapdiff.model import (
    Anomaly,
    CaptureSummary,
    Frame,
    IcmpError,
    Segment,
    format_address,
)

LINKTYPE_NAMES = {
    0: "NULL",
    1: "ETHERNET",
    12: "RAW",
    14: "RAW",
    101: "RAW",
    108: "LOOP",
    113: "LINUX_SLL",
    228: "IPV4",
    229: "IPV6",
    276: "LINUX_SLL2",
    105: "IEEE802_11",
    127: "IEEE802_11_RADIOTAP",
    253: "NETLINK",
    220: "USB_LINUX_MMAPPED",
    9: "PPP",
    50: "PPP_HDLC",
    192: "PPI",
    239: "NFLOG",
    242: "IPOIB",
}

_ETH_IPV4, _ETH_IPV6 = 0x0800, 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100, 0x9200)
_IPV6_EXT_HEADERS = (0, 43, 60, 135, 139, 140)  # the (len + 1) * 8 kind
_AF_INET6 = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, macOS

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIHH")
_new_segment = tuple.__new__

# ICMP errors that quote the packet they are about (RFC 792, RFC 4443): (type, code)
# -> what happened to it; a type's own entry (code None) covers its other codes.
ICMP4_ERRORS: dict[tuple[int, int | None], str] = {
    (3, 0): "network unreachable",
    (3, 1): "host unreachable",
    (3, 2): "protocol unreachable",
    (3, 3): "port unreachable",
    (3, 4): "fragmentation needed",
    (3, 9): "network administratively prohibited",
    (3, 10): "host administratively prohibited",
    (3, 13): "communication administratively prohibited",
    (3, None): "destination unreachable",
    (11, 0): "TTL exceeded in transit",
    (11, None): "time exceeded",
    (12, None): "parameter problem",
}
ICMP6_ERRORS: dict[tuple[int, int | None], str] = {
    (1, 0): "no route to destination",
    (1, 1): "administratively prohibited",
    (1, 3): "address unreachable",
    (1, 4): "port unreachable",
    (1, 5): "source address failed policy",
    (1, 6): "reject route",
    (1, None): "destination unreachable",
    (2, None): "packet too big",
    (3, 0): "hop limit exceeded in transit",
    (3, None): "time exceeded",
    (4, None): "parameter problem",
}
_ICMP4, _ICMP6 = 1, 58

MAX_PENDING_FRAGMENTS = 256  # datagrams being reassembled at once
MAX_DATAGRAM_BYTES = 65_535 + 8


class _Malformed(Exception):
    """Internal: this frame cannot be decoded; carries the anomaly code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code)
        self.code, self.detail = code, detail


def decode(frames: Iterable[Frame], summary: CaptureSummary) -> Iterator[Segment]:
    """Yield the TCP segments in ``frames``; count everything else in ``summary``."""
    slow = _SlowPath(summary)
    for fr in frames:
        segment = slow.decode(fr)
        if segment is not None:
            summary.tcp_packets += 1
            yield segment


class _SlowPath:
    """Everything the fast path does not cover, decoded carefully."""

    def __init__(self, summary: CaptureSummary) -> None:
        self.summary = summary
        self.fragments: dict[tuple[bytes, bytes, int, int], _Datagram] = {}

    def decode(self, fr: Frame) -> Segment | None:
        try:
            return self._decode(fr)
        except _Malformed as bad:
            self.summary.add_anomaly(Anomaly(fr.frame, bad.code, bad.detail))
        except (struct.error, IndexError) as exc:  # a length check we did not foresee
            self.summary.add_anomaly(Anomaly(fr.frame, "malformed", str(exc)))
        return None

    def _decode(self, fr: Frame) -> Segment | None:
        data = fr.data
        l3, version = self._link(fr)
        if version == 4:
            return self._ipv4(fr, data, l3)
        if version == 6:
            return self._ipv6(fr, data, l3)
        self.summary.non_tcp_packets += 1
        return None

    # -- link layer: returns (offset of the IP header, IP version or 0) --

    def _link(self, fr: Frame) -> tuple[int, int]:
        data, linktype = fr.data, fr.linktype
        if linktype == 1:
            return _ethertype(data, 12, 14)
        if linktype == 113:
            _need(data, 16, "truncated_link_header", "Linux cooked header")
            return _ethertype(data, 14, 16)
        if linktype == 276:
            _need(data, 20, "truncated_link_header", "Linux cooked v2 header")
            return _ethertype(data, 0, 20)
        if linktype in (101, 12, 14):
            _need(data, 1, "truncated_ip_header", "empty raw IP packet")
            return 0, data[0] >> 4
        if linktype == 228:
            return 0, 4
        if linktype == 229:
            return 0, 6
        if linktype in (0, 108):
            _need(data, 4, "truncated_link_header", "loopback header")
            family = struct.unpack_from("!I" if linktype == 108 else "<I", data)[0]
            if family > 0xFFFF:  # NULL is in the writer's byte order, which may not be ours
                family = struct.unpack_from(">I", data)[0]
            if family == 2:
                return 4, 4
            if family in _AF_INET6:
                return 4, 6
            return 4, 0
        if linktype == 239:
            return _nflog(data)
        if linktype == 242:  # IP over InfiniBand: 40 bytes of addresses, EtherType, reserved
            return _ethertype(data, 40, 44)
        if self.summary.format != "pcapng":  # a pcap has one link type: nothing to decode
            raise UnsupportedLinkType(
                self.summary.path, linktype, LINKTYPE_NAMES.get(linktype, "unknown")
            )
        raise _Malformed(
            "unsupported_link_type",
            f"link type {linktype} ({LINKTYPE_NAMES.get(linktype, 'unknown')}) is not decoded",
        )

    # -- IPv4 --

    def _ipv4(self, fr: Frame, data: bytes, at: int) -> Segment | None:
        _need(data, at + 20, "truncated_ip_header", "IPv4 header cut off")
        vihl, _tos, total, ip_id, frag, ttl, proto, _sum, src, dst = _IPV4.unpack_from(data, at)
        if vihl >> 4 != 4:
            raise _Malformed("bad_ip_version", f"IP version {vihl >> 4} in an IPv4 frame")
        ihl = (vihl & 15) << 2
        if ihl < 20:
            raise _Malformed("bad_ip_header_length", f"IPv4 header length {ihl}")
        _need(data, at + ihl, "truncated_ip_header", "IPv4 options cut off")
        if total == 0:  # TSO: the stack left the length for the NIC to fill in
            total = len(data) - at
        if total < ihl:
            raise _Malformed("bad_ip_total_length", f"IPv4 total length {total} < header {ihl}")
        if proto != 6:
            self.summary.non_tcp_packets += 1
            if proto == _ICMP4 and not frag & 0x1FFF:
                self._icmp(fr, data, at + ihl, min(len(data), at + total), src, 4)
            return None
        more_fragments, frag_offset = frag & 0x2000, (frag & 0x1FFF) << 3
        if more_fragments or frag_offset:
            body = data[at + ihl : at + total]
            whole = self._reassemble(
                (src, dst, ip_id, proto), fr, frag_offset, more_fragments, body, total - ihl
            )
            if whole is None:
                return None
            return self._tcp(fr, whole, 0, len(whole), src, dst, ttl, ip_id)
        return self._tcp(fr, data, at + ihl, total - ihl, src, dst, ttl, ip_id)

    # -- IPv6 --

    def _ipv6(self, fr: Frame, data: bytes, at: int) -> Segment | None:
        _need(data, at + 40, "truncated_ip_header", "IPv6 header cut off")
        vtcfl, plen, next_header, hop_limit, src, dst = _IPV6.unpack_from(data, at)
        if vtcfl >> 28 != 6:
            raise _Malformed("bad_ip_version", f"IP version {vtcfl >> 28} in an IPv6 frame")
        end = at + 40 + plen if plen else len(data)  # 0: jumbogram, take what was captured
        pos = at + 40
        fragment: tuple[int, bool, int] | None = None
        while True:
            if next_header == 6:
                break
            if next_header in _IPV6_EXT_HEADERS or next_header == 51:
                _need(data, pos + 2, "truncated_ipv6_extension", f"extension header {next_header}")
                length = (data[pos + 1] + 2) * 4 if next_header == 51 else (data[pos + 1] + 1) * 8
                next_header = data[pos]
                pos += length
            elif next_header == 44:
                _need(data, pos + 8, "truncated_ipv6_extension", "fragment header")
                nh, _res, offset_flags, ident = struct.unpack_from("!BBHI", data, pos)
                next_header = nh
                pos += 8
                frag_offset, more = offset_flags & 0xFFF8, bool(offset_flags & 1)
                if frag_offset or more:  # an atomic fragment (0, no more) is just a packet
                    fragment = (frag_offset, more, ident)
            else:
                self.summary.non_tcp_packets += 1
                if next_header == _ICMP6 and fragment is None:
                    self._icmp(fr, data, pos, min(len(data), end), src, 6)
                return None
            if pos > end:
                raise _Malformed("bad_ipv6_extension", "extension headers run past the payload")
        if fragment is not None:
            frag_offset, more, ident = fragment
            body = data[pos:end]
            whole = self._reassemble((src, dst, ident, 6), fr, frag_offset, more, body, end - pos)
            if whole is None:
                return None
            return self._tcp(fr, whole, 0, len(whole), src, dst, hop_limit, -1)
        return self._tcp(fr, data, pos, end - pos, src, dst, hop_limit, -1)

    # -- ICMP errors: the quoted TCP packet says which connection they are about --

    def _icmp(self, fr: Frame, data: bytes, at: int, end: int, sender: bytes, version: int) -> None:
        """Record an ICMP(v6) error quoting a TCP packet; anything else is only counted.
        The quote is the offending packet's IP header and at least 8 bytes of TCP."""
        if end - at < 8:
            return
        icmp_type, code = data[at], data[at + 1]
        table = ICMP4_ERRORS if version == 4 else ICMP6_ERRORS
        kind = table.get((icmp_type, code)) or table.get((icmp_type, None))
        if kind is None:
            return  # echo, redirect, neighbour discovery: not an error about a packet
        mtu: int | None = None
        if version == 4 and (icmp_type, code) == (3, 4):
            mtu = int.from_bytes(data[at + 6 : at + 8], "big") or None
        elif version == 6 and icmp_type == 2:
            mtu = int.from_bytes(data[at + 4 : at + 8], "big")
        quote = at + 8
        if version == 4:
            if end - quote < 20 or data[quote] >> 4 != 4 or data[quote + 9] != 6:
                return
            tcp = quote + (data[quote] & 15) * 4
            src, dst = data[quote + 12 : quote + 16], data[quote + 16 : quote + 20]
        else:
            if end - quote < 40 or data[quote] >> 4 != 6 or data[quote + 6] != 6:
                return
            tcp = quote + 40
            src, dst = data[quote + 8 : quote + 24], data[quote + 24 : quote + 40]
        if end - tcp < 8:
            return
        sport, dport, seq = struct.unpack_from("!HHI", data, tcp)
        self.summary.add_icmp_error(
            IcmpError(
                fr.frame,
                fr.ts_ns,
                format_address(sender),
                kind,
                mtu,
                format_address(src),
                sport,
                format_address(dst),
                dport,
                seq,
            )
        )

    # -- TCP --

    def _tcp(
        self,
        fr: Frame,
        data: bytes,
        at: int,
        ip_payload_len: int,
        src: bytes,
        dst: bytes,
        ttl: int,
        ip_id: int,
    ) -> Segment:
        _need(data, at + 20, "truncated_tcp_header", "TCP header cut off")
        sport, dport, seq, ack, off_flags, win = _TCP.unpack_from(data, at)
        doff = (off_flags >> 12) << 2
        if doff < 20:
            raise _Malformed("bad_tcp_data_offset", f"TCP data offset {doff} < 20")
        if doff > ip_payload_len:
            raise _Malformed(
                "bad_tcp_data_offset", f"TCP header of {doff} bytes in {ip_payload_len} IP bytes"
            )
        if len(data) < at + doff:
            self.summary.add_anomaly(
                Anomaly(fr.frame, "truncated_tcp_options", "TCP options cut by snaplen")
            )
        return _new_segment(
            Segment,
            (
                fr.frame,
                fr.ts_ns,
                src,
                sport,
                dst,
                dport,
                off_flags & 0xFF,
                seq,
                ack,
                win,
                ip_payload_len - doff,
                ttl,
                ip_id,
                data,
                at,
                at + doff,
                len(data),
            ),
        )

    # -- fragments --

    def _reassemble(
        self,
        key: tuple[bytes, bytes, int, int],
        fr: Frame,
        offset: int,
        more: int | bool,
        body: bytes,
        body_len: int,
    ) -> bytes | None:
        """Collect TCP fragments; return the whole datagram at its last fragment."""
        self.summary.ip_fragments += 1
        if len(body) < body_len:
            raise _Malformed("truncated_fragment", "IP fragment cut by snaplen: cannot reassemble")
        datagram = self.fragments.get(key)
        if datagram is None:
            if len(self.fragments) >= MAX_PENDING_FRAGMENTS:
                oldest = next(iter(self.fragments))
                lost = self.fragments.pop(oldest)
                self.summary.add_anomaly(
                    Anomaly(lost.first_frame, "fragments_incomplete", "IP datagram never completed")
                )
            datagram = self.fragments[key] = _Datagram(fr.frame)
        if offset + len(body) > MAX_DATAGRAM_BYTES:
            del self.fragments[key]
            raise _Malformed("bad_fragment", "IP fragment beyond 64 KB")
        if not datagram.add(offset, body) and not datagram.overlap_reported:
            datagram.overlap_reported = True
            self.summary.add_anomaly(
                Anomaly(fr.frame, "fragment_overlap", "IP fragment overlaps one seen before")
            )
        if not more:
            datagram.total = offset + len(body)
        whole = datagram.assemble()
        if whole is None:
            return None
        del self.fragments[key]
        self.summary.ip_fragments -= 1  # the datagram's last fragment is reported as the packet
        return whole


class _Datagram:
    """One IP datagram being put together from its fragments, in bounded time and space:
    the bytes go into one 64 KiB buffer at their offset (a later fragment's bytes win
    where two overlap), and a map of 8-byte units (fragment offsets count in eights)
    says which are filled. Each fragment costs its own length; nothing is re-sorted."""

    __slots__ = ("buf", "filled", "first_frame", "overlap_reported", "total", "units")

    def __init__(self, first_frame: int) -> None:
        self.first_frame = first_frame
        self.buf = bytearray(MAX_DATAGRAM_BYTES)
        self.filled = bytearray(MAX_DATAGRAM_BYTES // 8 + 1)
        self.units = 0  # units filled so far
        self.total = -1
        self.overlap_reported = False

    def add(self, offset: int, body: bytes) -> bool:
        """Put a fragment in; False if it overlapped bytes seen before."""
        end = offset + len(body)
        self.buf[offset:end] = body
        first, last = offset // 8, (end + 7) // 8
        new = self.filled[first:last].count(0)
        self.filled[first:last] = b"\x01" * (last - first)
        self.units += new
        return new == last - first

    def assemble(self) -> bytes | None:
        if self.total < 0:
            return None
        need = (self.total + 7) // 8
        if self.units < need or self.filled.find(0, 0, need) != -1:
            return None  # a hole
        return bytes(self.buf[: self.total])


def _need(data: bytes, length: int, code: str, what: str) -> None:
    if len(data) < length:
        raise _Malformed(code, f"{what} ({len(data)} of {length} bytes captured)")


def _ethertype(data: bytes, at: int, end: int) -> tuple[int, int]:
    """Follow an EtherType through VLAN tags, PPPoE and MPLS to the IP header."""
    _need(data, end, "truncated_link_header", "link header")
    ethertype = (data[at] << 8) | data[at + 1]
    pos = end
    for _ in range(8):  # bounded: QinQinQ and a few MPLS labels at most in practice
        if ethertype == _ETH_IPV4:
            return pos, 4
        if ethertype == _ETH_IPV6:
            return pos, 6
        if ethertype in _VLAN_TAGS:
            _need(data, pos + 4, "truncated_link_header", "VLAN tag")
            ethertype = (data[pos + 2] << 8) | data[pos + 3]
            pos += 4
        elif ethertype == 0x8864:  # PPPoE session: 6-byte header, then a PPP protocol
            _need(data, pos + 8, "truncated_link_header", "PPPoE header")
            ppp = (data[pos + 6] << 8) | data[pos + 7]
            pos += 8
            return (pos, 4) if ppp == 0x0021 else (pos, 6) if ppp == 0x0057 else (pos, 0)
        elif ethertype in (0x8847, 0x8848):  # MPLS: labels until bottom of stack
            for _ in range(16):
                _need(data, pos + 4, "truncated_link_header", "MPLS label")
                bottom = data[pos + 2] & 1
                pos += 4
                if bottom:
                    break
            _need(data, pos + 1, "truncated_ip_header", "IP header after MPLS")
            version = data[pos] >> 4
            return pos, version if version in (4, 6) else 0
        else:
            return pos, 0
    return pos, 0


def _nflog(data: bytes) -> tuple[int, int]:
    """Linux NFLOG (iptables -j NFLOG): TLVs after a 4-byte header; type 9 is the packet."""
    _need(data, 4, "truncated_link_header", "NFLOG header")
    pos = 4
    for _ in range(64):  # bounded: a handful of TLVs per packet in practice
        if pos + 4 > len(data):
            break
        # TLV length and type are in the capturing host's byte order, nearly always little.
        length, tlv_type = struct.unpack_from("<HH", data, pos)
        if length < 4:
            raise _Malformed("bad_link_header", f"NFLOG TLV of length {length}")
        if tlv_type & 0x7FFF == 9:
            _need(data, pos + 5, "truncated_ip_header", "NFLOG payload")
            return pos + 4, data[pos + 4] >> 4
        pos += (length + 3) & ~3
    return pos, 0
