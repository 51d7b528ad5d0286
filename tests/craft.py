"""Captures built byte by byte for tests that need hostile or exact packets (struct, no scapy)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from synth_capture import ETH
from synth_capture import _packet as tcp_packet

__all__ = [
    "ACK",
    "ETH",
    "FIN",
    "PSH",
    "RST",
    "SYN",
    "client_hello",
    "exchange",
    "tcp_frame",
    "write_pcap",
]

FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16
EDGE, ORIGIN = bytes([198, 51, 100, 7]), bytes([203, 0, 113, 10])


def tcp_frame(
    from_client: bool,
    flags: int,
    seq: int,
    ack: int,
    payload: bytes = b"",
    *,
    port: int = 80,
    cport: int = 40000,
) -> bytes:
    src, sport, dst, dport = (
        (EDGE, cport, ORIGIN, port) if from_client else (ORIGIN, port, EDGE, cport)
    )
    return tcp_packet(
        src, sport, dst, dport, flags, seq, ack, payload, 1, 64 if from_client else 54
    )


def exchange(
    request: bytes, response: bytes | None, *, port: int = 80, cport: int = 40000
) -> list[bytes]:
    """A whole connection: handshake, request, response (or none), close."""
    c, s = 1000, 5000
    out = [
        tcp_frame(True, SYN, c, 0, port=port, cport=cport),
        tcp_frame(False, SYN | ACK, s, c + 1, port=port, cport=cport),
        tcp_frame(True, ACK, c + 1, s + 1, port=port, cport=cport),
        tcp_frame(True, PSH | ACK, c + 1, s + 1, request, port=port, cport=cport),
    ]
    c += 1 + len(request)
    s += 1
    if response is not None:
        out.append(tcp_frame(False, PSH | ACK, s, c, response, port=port, cport=cport))
        s += len(response)
    out += [
        tcp_frame(True, FIN | ACK, c, s, port=port, cport=cport),
        tcp_frame(False, FIN | ACK, s, c + 1, port=port, cport=cport),
        tcp_frame(True, ACK, c + 1, s + 1, port=port, cport=cport),
    ]
    return out


def client_hello(sni: bytes) -> bytes:
    """A TLS 1.2 ClientHello record whose server_name is ``sni`` (any bytes)."""
    name = struct.pack("!BH", 0, len(sni)) + sni
    ext = struct.pack("!HHH", 0, len(name) + 2, len(name)) + name
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(ext)) + ext
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def write_pcap(path: Path, frames: list[bytes], *, start_s: float = 1_700_000_000.0) -> Path:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for i, frame in enumerate(frames):
        usec = round((start_s + i * 0.001) * 1e6)
        out.append(
            struct.pack("<IIII", usec // 10**6, usec % 10**6, len(frame), len(frame)) + frame
        )
    path.write_bytes(b"".join(out))
    return path
