"""Write an edge and an origin capture of the same origin pulls, with the truth beside them.

    python scripts/synth_pair.py OUT_DIR [--connections N] [--seed S]

A world with two capture points, as scripts/make_compare_fixtures.py has, but at
scale and built with struct (tens of thousands of connections in seconds): each
packet is sent by the edge, the origin or a device in the path, and each capture
sees it (or not) after the path's delay, source NAT (the edge's address and port
rewritten), and a clock offset of hours at the origin. Connections carry 1-3 HTTP/1.1
requests for a few popular objects, so the same request line shows up on thousands
of connections. Both captures are cut mid-traffic, as Ctrl-C leaves them.

OUT_DIR gets edge.pcap, origin.pcap and truth.json: for each edge connection, what
really happened (outcome, culprit) and whether a capture's start or end cut into it
(``cut``: then `inconclusive`, or a verdict that says what it assumes, is right too).
"""

from __future__ import annotations

import argparse
import json
import random
import struct
from collections.abc import Callable
from pathlib import Path

from synth_capture import _packet as tcp_packet

FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16
EDGE_NET, NAT_NET = (198, 51, 100), (192, 0, 2)
ORIGIN = bytes([203, 0, 113, 10])
DELAY_S = 0.005  # one way, each way
CLOCK_OFFSET_S = 3 * 3600 + 17 * 60 + 0.25  # the origin's clock is this far ahead
GIVE_UP_S = 2.0  # the edge's read timeout in this world (no verdict may depend on it)
SYN_RETRIES_S = (1.0, 3.0)
POPULAR = [f"/static/{name}" for name in ("app.js", "logo.png", "favicon.ico", "a.jpg")]
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: image/jpeg\r\n\r\n"
# (fate, share, outcome, culprit): what happens to a connection, and what it is
FATES = (
    ("ok", 0.80, "ok", "none"),
    ("syn_dropped", 0.02, "syn_not_received", "path"),
    ("syn_unanswered", 0.02, "syn_not_answered", "origin"),
    ("synack_lost", 0.02, "synack_not_received", "path"),
    ("refused", 0.02, "rst_on_connect", "origin"),
    ("reset_after_request", 0.02, "rst_after_request", "origin"),
    ("reset_mid_body", 0.02, "rst_after_request", "origin"),
    ("reset_injected", 0.02, "rst_after_request", "path"),
    ("silent", 0.02, "no_response", "origin"),
    ("response_lost", 0.02, "no_response", "path"),
    ("hijacked", 0.02, "request_not_seen", "path"),
)
EDGE, ORIGIN_SIDE = "edge", "origin"

Packet = tuple[float, str, bytes]  # (true time seen, which capture, frame)


class Connection:
    """One origin pull: its packets as each capture sees them, and what it truly was."""

    def __init__(
        self,
        n: int,
        start: float,
        rng: random.Random,
        paths: tuple[str, ...] = tuple(POPULAR),
        bodies: tuple[int, ...] = (300, 5000, 20000),
    ) -> None:
        self.n, self.t, self.rng = n, start, rng
        self.paths, self.bodies = paths, bodies
        self.client = bytes([*EDGE_NET, 1 + n % 200])
        self.cport = 10000 + n % 50000
        self.nat = bytes([*NAT_NET, 1 + n % 200])
        self.nat_port = 1024 + (n * 7919) % 60000
        self.cseq, self.sseq = rng.getrandbits(32), rng.getrandbits(32)
        self.tsval = rng.getrandbits(32)
        self.ids = {EDGE: rng.getrandbits(16), ORIGIN_SIDE: rng.getrandbits(16)}
        self.seen: list[Packet] = []
        self.first = start
        self.ended = start

    def edge_client(self) -> str:
        return f"{'.'.join(map(str, self.client))}:{self.cport}"

    def _frame(
        self,
        at_edge: bool,
        from_edge: bool,
        flags: int,
        seq: int,
        ack: int,
        payload: bytes,
        ttl: int,
        ip_id: int,
    ) -> bytes:
        client, cport = (self.client, self.cport) if at_edge else (self.nat, self.nat_port)
        src, sport, dst, dport = (
            (client, cport, ORIGIN, 80) if from_edge else (ORIGIN, 80, client, cport)
        )
        options = b""
        if flags & SYN:  # MSS, SACK permitted, timestamps, window scale: what Linux sends
            tsecr = self.tsval if not from_edge else 0
            tsval = self.tsval if from_edge else self.tsval ^ 0x5A5A5A5A
            options = (
                b"\x02\x04\x05\xb4\x04\x02\x08\x0a"
                + struct.pack("!II", tsval, tsecr)
                + b"\x01\x03\x03\x07"
            )
        return tcp_packet(src, sport, dst, dport, flags, seq, ack, payload, ip_id, ttl, options)

    def send(
        self,
        from_edge: bool,
        flags: int,
        payload: bytes = b"",
        *,
        reaches: bool = True,
        after: float = 0.0005,
        advance: bool = True,
    ) -> None:
        """A packet one end sends; the other end's capture sees it if it arrives."""
        self.t += after
        seq = self.cseq if from_edge else self.sseq
        ack = (self.sseq if from_edge else self.cseq) if flags & ACK else 0
        own, other = (EDGE, ORIGIN_SIDE) if from_edge else (ORIGIN_SIDE, EDGE)
        self.ids[own] = ip_id = (self.ids[own] + 1) & 0xFFFF  # one packet, one IP ID
        frame = self._frame(from_edge, from_edge, flags, seq, ack, payload, 64, ip_id)
        self.seen.append((self.t, own, frame))
        if reaches:
            frame = self._frame(not from_edge, from_edge, flags, seq, ack, payload, 54, ip_id)
            self.seen.append((self.t + DELAY_S, other, frame))
        if advance:
            used = len(payload) + (1 if flags & (SYN | FIN) else 0)
            if from_edge:
                self.cseq = (self.cseq + used) & 0xFFFFFFFF
            else:
                self.sseq = (self.sseq + used) & 0xFFFFFFFF
        self.t += DELAY_S if reaches else 0  # the other end answers after it arrived
        self.ended = max(self.ended, self.t)

    def inject_to_edge(self, flags: int, payload: bytes = b"") -> None:
        """A packet forged by a device in the path in the origin's name, seen at the edge."""
        self.t += 0.0005
        frame = self._frame(True, False, flags, self.sseq, self.cseq, payload, 250, 0x3C3C)
        self.seen.append((self.t, EDGE, frame))
        self.sseq = (self.sseq + len(payload)) & 0xFFFFFFFF
        self.ended = max(self.ended, self.t)

    def handshake(self) -> None:
        self.send(True, SYN)
        self.send(False, SYN | ACK)
        self.send(True, ACK)

    def request(self, reaches: bool = True) -> None:
        path = self.rng.choice(self.paths)
        line = f"GET {path} HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: cdn\r\n\r\n"
        self.send(True, PSH | ACK, line.encode(), reaches=reaches)

    def respond(self, body: int, *, reaches: bool = True, cut_after: int | None = None) -> None:
        """The answer in 1448-byte segments; ``cut_after`` bytes of it, then stop."""
        data = (RESPONSE % body) + b"z" * body
        if cut_after is not None:
            data = data[: min(cut_after, len(data) // 2)]  # never the whole answer
        for i in range(0, len(data), 1448):
            self.send(False, ACK | PSH, data[i : i + 1448], reaches=reaches, after=0.0002)
        if reaches:
            self.send(True, ACK)

    def close(self) -> None:
        self.send(True, FIN | ACK)
        self.send(False, FIN | ACK)
        self.send(True, ACK)


def build(conn: Connection, fate: str) -> None:
    """Play one connection's fate."""
    body = conn.rng.choice(conn.bodies)
    plays: dict[str, Callable[[], None]] = {
        "ok": lambda: ok(conn, body),
        "syn_dropped": lambda: syn_only(conn, reaches=False),
        "syn_unanswered": lambda: syn_only(conn, reaches=True),
        "synack_lost": lambda: synack_lost(conn),
        "refused": lambda: refused(conn),
        "reset_after_request": lambda: reset_after(conn, body, partial=False),
        "reset_mid_body": lambda: reset_after(conn, body, partial=True),
        "reset_injected": lambda: reset_injected(conn),
        "silent": lambda: silent(conn),
        "response_lost": lambda: response_lost(conn, body),
        "hijacked": lambda: hijacked(conn),
    }
    plays[fate]()


def ok(conn: Connection, body: int) -> None:
    conn.handshake()
    for _ in range(conn.rng.randint(1, 3)):  # HTTP/1.1 keep-alive
        conn.request()
        conn.respond(body)
    conn.close()


def syn_only(conn: Connection, reaches: bool) -> None:
    start = conn.t
    for wait in (0.0, *SYN_RETRIES_S):
        conn.t = start + wait
        conn.send(True, SYN, reaches=reaches, advance=False)
    conn.ended = start + SYN_RETRIES_S[-1] + GIVE_UP_S  # the edge gives up, silently


def synack_lost(conn: Connection) -> None:
    start = conn.t
    for wait in (0.0, *SYN_RETRIES_S):
        conn.t = start + wait
        conn.send(True, SYN, advance=False)
        conn.send(False, SYN | ACK, reaches=False, advance=False)
    conn.ended = start + SYN_RETRIES_S[-1] + GIVE_UP_S


def refused(conn: Connection) -> None:
    conn.send(True, SYN)
    conn.sseq = 0
    conn.send(False, RST | ACK)


def reset_after(conn: Connection, body: int, partial: bool) -> None:
    conn.handshake()
    conn.request()
    conn.send(False, ACK)
    if partial:
        conn.respond(body, cut_after=1448)
    conn.send(False, RST | ACK, after=0.05)


def reset_injected(conn: Connection) -> None:
    conn.handshake()
    conn.request()  # reaches the origin, which is slow to answer
    conn.inject_to_edge(RST | ACK)
    conn.send(True, RST, reaches=True, after=0.3)  # the edge answers the late response


def silent(conn: Connection) -> None:
    conn.handshake()
    conn.request()
    conn.send(False, ACK)
    conn.send(True, FIN | ACK, after=GIVE_UP_S)
    conn.send(False, ACK)


def response_lost(conn: Connection, body: int) -> None:
    conn.handshake()
    conn.request()
    conn.send(False, ACK)
    conn.respond(body, reaches=False)
    conn.t -= DELAY_S
    conn.send(True, FIN | ACK, after=GIVE_UP_S)


def hijacked(conn: Connection) -> None:
    conn.handshake()
    conn.request(reaches=False)
    conn.inject_to_edge(PSH | ACK, b"HTTP/1.1 302 Found\r\nLocation: http://192.0.2.80/\r\n\r\n")
    conn.send(True, ACK, reaches=False)


def write_pcap(path: Path, packets: list[tuple[float, bytes]], shift_s: float) -> None:
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for t, frame in packets:
            usec = round((1_700_000_000 + t + shift_s) * 1_000_000)
            out.write(
                struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
            )
            out.write(frame)


def make_pair(
    out: Path,
    connections: int = 3000,
    seed: int = 7,
    *,
    span_s: float = 60.0,
    paths: tuple[str, ...] = tuple(POPULAR),
    bodies: tuple[int, ...] = (300, 5000, 20000),
) -> dict[str, int]:
    """Write OUT/edge.pcap, OUT/origin.pcap and OUT/truth.json; return packet counts.
    ``span_s``: how long the connections take to start; ``paths``: the objects they ask
    for (one path: every connection sends the same request); ``bodies``: their sizes."""
    rng = random.Random(seed)
    fates = [f for f, _, _, _ in FATES]
    weights = [w for _, w, _, _ in FATES]
    truth_of = {f: (o, c) for f, _, o, c in FATES}
    conns: list[tuple[Connection, str]] = []
    t = 0.0
    for n in range(connections):
        t += rng.expovariate(connections / span_s)
        conn = Connection(n, t, rng, paths, bodies)
        fate = rng.choices(fates, weights)[0]
        build(conn, fate)
        conns.append((conn, fate))
    span = max(c.ended for c, _ in conns)
    # Both captures cut mid-traffic: the origin starts late and stops first.
    windows = {EDGE: (2.0, span - 3.0), ORIGIN_SIDE: (3.5, span - 6.0)}
    margin = GIVE_UP_S + 0.5
    streams: dict[str, list[tuple[float, bytes]]] = {EDGE: [], ORIGIN_SIDE: []}
    truth = []
    for conn, fate in conns:
        for when, side, frame in conn.seen:
            lo, hi = windows[side]
            if lo <= when <= hi:
                streams[side].append((when, frame))
        outcome, culprit = truth_of[fate]
        cut = any(
            not (lo + 0.1 <= conn.first and conn.ended + margin <= hi)
            for lo, hi in windows.values()
        )
        in_edge = any(
            side == EDGE and windows[EDGE][0] <= w <= windows[EDGE][1] for w, side, _ in conn.seen
        )
        if in_edge:
            truth.append(
                {
                    "edge_client": conn.edge_client(),
                    "outcome": outcome,
                    "culprit": culprit,
                    "cut": cut,
                }
            )
    for side in streams:
        streams[side].sort(key=lambda p: p[0])
    out.mkdir(parents=True, exist_ok=True)
    write_pcap(out / "edge.pcap", streams[EDGE], 0.0)
    write_pcap(out / "origin.pcap", streams[ORIGIN_SIDE], CLOCK_OFFSET_S)
    (out / "truth.json").write_text(json.dumps({"connections": truth}, indent=0) + "\n")
    return {side: len(packets) for side, packets in streams.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for edge.pcap, origin.pcap, truth.json")
    parser.add_argument("--connections", type=int, default=3000, help="default 3000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--span", type=float, default=60.0, help="seconds over which connections start"
    )
    parser.add_argument(
        "--path", action="append", help="object asked for (repeatable; default: four popular)"
    )
    args = parser.parse_args()
    paths = tuple(args.path) if args.path else tuple(POPULAR)
    print(make_pair(args.out, args.connections, args.seed, span_s=args.span, paths=paths))


if __name__ == "__main__":
    main()
