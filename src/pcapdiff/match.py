"""--origin HOST[:PORT]: which edge connections are origin pulls, by their server.

Stage 4 itself (pairing the edge's connections with the origin's, the clock offset)
is the core's (core/src/compare/matching.rs, driven by stream.rs); match.py as it was
is the reference the tests hold the core to (tests/match_reference.py).
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from .model import Connection


class OriginSpec(NamedTuple):
    """--origin HOST[:PORT]: a network and an optional port."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None

    def admits(self, conn: Connection) -> bool:
        addr = ipaddress.ip_address(conn.server.addr)
        return (
            addr.version == self.network.version
            and addr in self.network
            and (self.port is None or self.port == conn.server.port)
        )


def parse_origin(text: str) -> OriginSpec:
    """'203.0.113.10', '203.0.113.0/24:443', '[2001:db8::1]:80' -> OriginSpec."""
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else None
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = int(p)
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return OriginSpec(ipaddress.ip_network(host, strict=False), port)
