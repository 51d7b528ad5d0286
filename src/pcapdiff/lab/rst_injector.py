"""The lab's on-path RST injector, run in the middle namespace.

It watches requests to the origin pass and sends the edge a RST in the origin's
name, at the sequence number the edge expects next; the request itself is forwarded
untouched (a censor's or an IPS's reset). Plain sockets: no filter language needed.

    python -m pcapdiff.lab.rst_injector --origin 203.0.113.10 --port 8085 --iface mid0

Prints "ready" once it listens; runs until killed (the lab stops it by its PID).
"""

from __future__ import annotations

import argparse
import socket
import struct


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    data += b"\0" * (len(data) % 2)
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def forged_rst(origin: bytes, port: int, client: bytes, client_port: int, ack: int) -> bytes:
    """An IPv4 RST from origin:port to the client, at the sequence the client expects."""
    header = struct.pack("!HHIIBBHHH", port, client_port, ack, 0, 5 << 4, 0x04, 0, 0, 0)
    pseudo = origin + client + struct.pack("!BBH", 0, 6, len(header))
    header = header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, origin, client)
    return ip + header


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origin", required=True, help="the origin's IPv4 address")
    parser.add_argument("--port", type=int, required=True, help="the origin's port")
    parser.add_argument("--iface", required=True, help="the interface requests cross")
    args = parser.parse_args(argv)
    origin = socket.inet_aton(args.origin)
    tap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    tap.bind((args.iface, 0x0800))
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    print("ready", flush=True)
    while True:
        pkt, addr = tap.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING or pkt[9] != 6 or pkt[16:20] != origin:
            continue
        src, tcp = pkt[12:16], pkt[(pkt[0] & 15) * 4 :]
        sport, dport, _seq, ack = struct.unpack("!HHII", tcp[:12])
        if dport != args.port or not tcp[(tcp[12] >> 4) * 4 :].startswith(b"GET "):
            continue
        raw.sendto(forged_rst(origin, args.port, src, sport, ack), (socket.inet_ntoa(src), 0))


if __name__ == "__main__":
    main()
