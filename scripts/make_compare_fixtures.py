"""Generate the compare fixtures: fixtures/pcaps/compare/<scenario>/{edge,origin}.pcap*.

Each scenario is a small world with two capture points on one origin pull: packets
are sent by the edge or the origin, and each is seen (or not) by the capture at
either end, after the NAT, ISN rewriting and clock offset between them; an injected
packet is seen on one side only. expected.json states, by hand, what each edge
connection attempt is (outcome, culprit): it comes from what the scenario does, not
from pcapdiff's output.

    python scripts/make_compare_fixtures.py
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6

from make_fixtures import (
    REQUEST,
    RESPONSE,
    T0_NS,
    client_hello,
    ether,
    sll2,
    write_pcap,
    write_pcapng,
)

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "pcaps" / "compare"
EDGE, ORIGIN = "198.51.100.7", "203.0.113.10"
EDGE6, ORIGIN6 = "2001:db8:1::7", "2001:db8:2::10"
ALERT = b"\x15\x03\x03\x00\x02\x02\x28"  # fatal handshake_failure


class World:
    """Both ends of the origin pull and what each capture sees."""

    def __init__(
        self,
        *,
        offset_s: float = 0.0,
        delay_s: float = 0.010,
        snat: tuple[str, int] | None = None,
        dnat: tuple[str, int] | None = None,
        isn_delta: int = 0,
        timestamps: bool = True,
    ) -> None:
        self.offset_s, self.delay_s = offset_s, delay_s
        self.timestamps = timestamps  # False: the edge's stack sends no TCP timestamps
        self.snat = snat  # (address, port base) the edge's connections appear from
        self.dnat = dnat  # (real address, real port) behind the VIP the edge connects to
        self.isn_delta = isn_delta  # a firewall adds this to the client's sequence numbers
        self.edge: list[tuple[float, bytes]] = []
        self.origin: list[tuple[float, bytes]] = []
        self.expected: list[tuple[str, str, str]] = []  # edge client, outcome, culprit
        self.last: Flow | None = None

    def flow(
        self,
        cport: int,
        *,
        t: float,
        server: str = ORIGIN,
        port: int = 80,
        v6: bool = False,
        tsval: int | None = None,
    ) -> Flow:
        self.last = Flow(
            self,
            cport,
            server,
            port,
            t,
            v6,
            tsval if tsval is not None else cport * 7 + int(t * 1000),
        )
        return self.last

    def expect(self, outcome: str, culprit: str) -> None:
        """What the last flow built is; said by the scenario, not computed."""
        assert self.last is not None
        client = f"[{EDGE6}]" if self.last.v6 else EDGE
        self.expected.append((f"{client}:{self.last.cport}", outcome, culprit))


class Flow:
    """One TCP connection attempt, sequence numbers kept in the edge's terms."""

    def __init__(
        self, world: World, cport: int, server: str, port: int, t: float, v6: bool, tsval: int
    ) -> None:
        self.w, self.cport, self.server, self.port, self.t, self.v6 = (
            world,
            cport,
            server,
            port,
            t,
            v6,
        )
        self.client = EDGE6 if v6 else EDGE
        self.cseq, self.sseq = cport * 1000, cport * 3000
        self.tsval = tsval
        self.ids = {True: cport, False: cport * 2}
        # An end cannot answer before what it answers has arrived (true time).
        self.ready = {True: t, False: t}

    def _packet(
        self,
        from_edge: bool,
        view_edge: bool,
        flags: str,
        payload: bytes,
        seq: int,
        ack: int,
        ttl: int,
        options: list | None,  # type: ignore[type-arg]
        ip_id: int | None = None,
    ) -> bytes:
        w = self.w
        client, cport = self.client, self.cport
        server, sport = self.server, self.port
        if not view_edge:  # the origin's view: after NAT and ISN rewriting
            if w.snat is not None:
                client, cport = w.snat[0], w.snat[1] + (self.cport * 37) % 20000
            if w.dnat is not None:
                server, sport = w.dnat
            if from_edge:
                seq = (seq + w.isn_delta) & 0xFFFFFFFF
            else:
                ack = (ack + w.isn_delta) & 0xFFFFFFFF if ack else 0
        src, dst = (client, server) if from_edge else (server, client)
        sp, dp = (cport, sport) if from_edge else (sport, cport)
        tcp = TCP(
            sport=sp, dport=dp, flags=flags, seq=seq, ack=ack, window=64240, options=options or []
        )
        if ip_id is None:  # a packet of its own; send() gives both views one ID
            self.ids[from_edge] += 1
            ip_id = self.ids[from_edge]
        ip = (
            IPv6(src=src, dst=dst, hlim=ttl)
            if self.v6
            else IP(src=src, dst=dst, ttl=ttl, id=ip_id & 0xFFFF)
        )
        return bytes(ip / tcp / payload)

    def send(
        self,
        from_edge: bool,
        flags: str,
        payload: bytes = b"",
        *,
        reach: bool = True,
        dt: float = 0.001,
        advance: bool = True,
    ) -> None:
        """A packet one end sends; the other end's capture sees it if it arrives."""
        self.t = max(self.t, self.ready[from_edge]) + dt
        seq = self.cseq if from_edge else self.sseq
        ack = (self.sseq if from_edge else self.cseq) if "A" in flags else 0
        opts = None
        if "S" in flags:
            opts = (
                [
                    ("MSS", 1460),
                    ("SAckOK", b""),
                    *([("Timestamp", (self.tsval, 0))] if self.w.timestamps else []),
                    ("NOP", None),
                    ("WScale", 7),
                ]
                if from_edge
                else [("MSS", 1400), ("SAckOK", b""), ("WScale", 8)]
            )
        w = self.w
        sender_view, receiver_view = (True, False) if from_edge else (False, True)
        self.ids[from_edge] += 1  # one packet, one IP ID, whichever capture sees it
        ip_id = self.ids[from_edge]
        pkt_at_sender = self._packet(
            from_edge, sender_view, flags, payload, seq, ack, 64, opts, ip_id
        )
        pkt_at_receiver = self._packet(
            from_edge, receiver_view, flags, payload, seq, ack, 54, opts, ip_id
        )
        if from_edge:
            w.edge.append((self.t, pkt_at_sender))
            if reach:
                w.origin.append((self.t + w.delay_s + w.offset_s, pkt_at_receiver))
        else:
            w.origin.append((self.t + w.offset_s, pkt_at_sender))
            if reach:
                w.edge.append((self.t + w.delay_s, pkt_at_receiver))
        if advance:
            used = len(payload) + ("S" in flags) + ("F" in flags)
            if from_edge:
                self.cseq = (self.cseq + used) & 0xFFFFFFFF
            else:
                self.sseq = (self.sseq + used) & 0xFFFFFFFF
        if reach:
            other = not from_edge
            self.ready[other] = max(self.ready[other], self.t + w.delay_s)

    def inject(
        self,
        at_edge: bool,
        flags: str,
        payload: bytes = b"",
        *,
        ttl: int = 250,
        seq: int | None = None,
        dt: float = 0.001,
    ) -> None:
        """A packet forged by a device in the path, seen by one capture only: towards
        the edge it claims to come from the origin, towards the origin from the edge."""
        self.t += dt
        if at_edge:  # the edge answers it like anything else it receives
            self.ready[True] = max(self.ready[True], self.t)
        from_edge = not at_edge
        my_seq = seq if seq is not None else (self.cseq if from_edge else self.sseq)
        ack = (self.sseq if from_edge else self.cseq) if "A" in flags else 0
        pkt = self._packet(from_edge, at_edge, flags, payload, my_seq, ack, ttl, None)
        if at_edge:
            self.w.edge.append((self.t, pkt))
            self.sseq = (self.sseq + len(payload) + ("F" in flags)) & 0xFFFFFFFF
        else:
            self.w.origin.append((self.t + self.w.offset_s, pkt))

    def handshake(self) -> Flow:
        self.send(True, "S")
        self.send(False, "SA")
        self.send(True, "A")
        return self

    def request(self, payload: bytes = REQUEST, *, reach: bool = True) -> Flow:
        self.send(True, "PA", payload, reach=reach)
        return self

    def respond(self, *, reach: bool = True) -> Flow:
        self.send(False, "A", reach=reach)
        self.send(False, "PA", RESPONSE, reach=reach)
        self.send(True, "A", reach=reach)
        return self

    def close(self) -> Flow:
        self.send(True, "FA")
        self.send(False, "FA")
        self.send(True, "A")
        return self


# --- scenarios -----------------------------------------------------------------------


def ok(w: World, t: float = 0.0, cport: int = 40000, **kw: object) -> None:
    w.flow(cport, t=t, **kw).handshake().request().respond().close()  # type: ignore[arg-type]
    w.expect("ok", "none")


def syn_not_received(w: World, t: float = 0.0, cport: int = 40100, **kw: object) -> None:
    f = w.flow(cport, t=t, **kw)  # type: ignore[arg-type]
    for gap in (0.0, 1.0, 2.0):
        f.send(True, "S", reach=False, dt=gap or 0.001, advance=False)
    w.expect("syn_not_received", "path")


def syn_not_answered(w: World, t: float = 0.0, cport: int = 40200, **kw: object) -> None:
    f = w.flow(cport, t=t, **kw)  # type: ignore[arg-type]
    for gap in (0.0, 1.0, 2.0):
        f.send(True, "S", dt=gap or 0.001, advance=False)
    w.expect("syn_not_answered", "origin")


def synack_not_received(w: World, t: float = 0.0, cport: int = 40300) -> None:
    f = w.flow(cport, t=t)
    f.send(True, "S", advance=False)
    f.send(False, "SA", reach=False, advance=False)
    f.send(True, "S", dt=1.0, advance=False)
    f.send(False, "SA", reach=False, advance=False)
    w.expect("synack_not_received", "path")


def rst_on_connect_origin(w: World, t: float = 0.0, cport: int = 40400, **kw: object) -> None:
    f = w.flow(cport, t=t, **kw)  # type: ignore[arg-type]
    f.send(True, "S")
    f.sseq = 0
    f.send(False, "RA")
    w.expect("rst_on_connect", "origin")


def rst_on_connect_path(w: World, t: float = 0.0, cport: int = 40500) -> None:
    f = w.flow(cport, t=t)
    f.send(True, "S", reach=False)
    f.inject(True, "RA", seq=0, ttl=61)
    w.expect("rst_on_connect", "path")


def rst_after_request_origin(w: World, t: float = 0.0, cport: int = 40600, **kw: object) -> None:
    f = w.flow(cport, t=t, **kw).handshake().request()  # type: ignore[arg-type]
    f.send(False, "A")
    f.send(False, "RA", dt=0.2)
    w.expect("rst_after_request", "origin")


def rst_after_request_path(w: World, t: float = 0.0, cport: int = 40700) -> None:
    f = w.flow(cport, t=t).handshake().request()
    f.send(False, "A")
    f.inject(True, "RA", ttl=250)  # a forged RST, TTL far from the SYN-ACK's
    f.inject(True, "RA", ttl=250, seq=f.sseq + 1460)  # injectors send bursts, seq jumping
    w.expect("rst_after_request", "path")


def rst_injected_toward_origin(w: World, t: float = 0.0, cport: int = 41400) -> None:
    """The origin gets a RST in the edge's name; the edge never sent one and waits."""
    f = w.flow(cport, t=t).handshake().request()
    f.send(False, "A")
    f.inject(False, "RA", ttl=250)
    f.send(True, "FA", dt=15.0, reach=False)
    w.expect("no_response", "path")


def hijack(w: World, t: float = 0.0, cport: int = 40800) -> None:
    """The request never reaches the origin; a transparent proxy answers instead."""
    f = w.flow(cport, t=t).handshake().request(reach=False)
    f.inject(True, "PA", b"HTTP/1.1 302 Found\r\nLocation: http://ads.example/\r\n\r\n", ttl=62)
    f.inject(True, "FA", ttl=62)
    w.expect("request_not_seen", "path")


def hijack_whole_connection(w: World, t: float = 0.0, cport: int = 40900) -> None:
    """Nothing reaches the origin: a proxy in the path completes the handshake itself."""
    f = w.flow(cport, t=t)
    f.send(True, "S", reach=False)
    f.inject(True, "SA", ttl=62)
    f.sseq += 1
    f.send(True, "A", reach=False)
    f.request(reach=False)
    f.inject(True, "PA", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfake", ttl=62)
    w.expect("request_not_seen", "path")


def no_response_origin(w: World, t: float = 0.0, cport: int = 41000, **kw: object) -> None:
    f = w.flow(cport, t=t, **kw).handshake().request()  # type: ignore[arg-type]
    f.send(False, "A")
    f.send(True, "FA", dt=15.0)  # the edge's read timeout
    f.send(False, "A")
    w.expect("no_response", "origin")


def no_response_path(w: World, t: float = 0.0, cport: int = 41100) -> None:
    f = w.flow(cport, t=t).handshake().request()
    f.send(False, "A")
    f.send(False, "PA", RESPONSE, reach=False)
    f.send(True, "FA", dt=15.0)
    w.expect("no_response", "path")


def tls_origin(w: World, t: float = 0.0, cport: int = 41200) -> None:
    f = w.flow(cport, t=t, port=443).handshake().request(client_hello(b"www.example.com"))
    f.send(False, "PA", ALERT)
    f.send(False, "RA")
    w.expect("tls_handshake_failed", "origin")


def tls_path(w: World, t: float = 0.0, cport: int = 41300) -> None:
    f = w.flow(cport, t=t, port=443).handshake()
    f.request(client_hello(b"blocked.example.com"), reach=False)
    f.inject(True, "RA", ttl=250)
    w.expect("tls_handshake_failed", "path")


# --- the fixture set ---------------------------------------------------------------------

Build = Callable[[World], None]


def every_outcome(w: World) -> None:
    for i, make in enumerate(
        [
            ok,
            syn_not_received,
            syn_not_answered,
            synack_not_received,
            rst_on_connect_origin,
            rst_on_connect_path,
            rst_after_request_origin,
            rst_after_request_path,
            hijack,
            hijack_whole_connection,
            no_response_origin,
            no_response_path,
            tls_origin,
            tls_path,
            rst_injected_toward_origin,
        ]
    ):
        make(w, t=i * 0.5)


def snat(w: World) -> None:
    ok(w, 0.0, 42000)
    ok(w, 0.2, 42001)
    syn_not_answered(w, 0.4, 42002)
    rst_after_request_origin(w, 0.6, 42003)


def dnat_vip(w: World) -> None:
    mark_origin(w, 10.0)
    ok(w, 0.0, 43000, server="203.0.113.100")
    rst_after_request_origin(w, 0.3, 43001, server="203.0.113.100")
    syn_not_received(w, 0.6, 43002, server="203.0.113.100")


def isn_rewrite(w: World) -> None:
    ok(w, 0.0, 44000)
    no_response_origin(w, 0.3, 44001)
    rst_on_connect_origin(w, 0.6, 44002)


def snat_isn_rewrite(w: World) -> None:
    """Behind source NAT, no TCP timestamps (a Windows stack), and a firewall that adds
    one constant to every client ISN: only the request, the time and that constant
    delta are left to pair by. Every connection asks for the same object."""
    for i in range(4):
        ok(w, i * 0.4, 48000 + i)
    no_response_origin(w, 1.6, 48010)
    rst_after_request_origin(w, 2.0, 48011)


def ipv6(w: World) -> None:
    ok(w, 0.0, 45000, server=ORIGIN6, v6=True)
    syn_not_received(w, 0.3, 45001, server=ORIGIN6, v6=True)
    rst_after_request_origin(w, 0.6, 45002, server=ORIGIN6, v6=True)


def port_reuse(w: World) -> None:
    mark_origin(w, 0.0)
    syn_not_received(w, 0.0, 46000)
    f = w.flow(46000, t=120.0)  # the same 4-tuple two minutes later: a new attempt
    f.cseq += 777_777
    f.handshake().request().respond().close()
    w.expect("ok", "none")


def mixed_with_noise(w: World) -> None:
    """Concurrent origin pulls, plus traffic that must not become verdicts."""
    for i in range(4):
        ok(w, i * 0.05, 47000 + i)
    no_response_origin(w, 0.02, 47010)
    rst_after_request_origin(w, 0.03, 47011)
    # Noise at the edge: another service on another host.
    other = w.flow(47100, t=0.1, server="192.0.2.200", port=443)
    for when, pkt in ((0.11, other._packet(True, True, "S", b"", 1, 0, 64, None)),):
        w.edge.append((when, pkt))
    # Noise at the origin: a scanner's SYN to a closed port, answered with RST.
    scan = IP(src="192.0.2.99", dst=ORIGIN, ttl=50) / TCP(sport=5555, dport=8080, flags="S")
    rst = IP(src=ORIGIN, dst="192.0.2.99", ttl=64) / TCP(sport=8080, dport=5555, flags="RA", ack=1)
    w.origin += [(0.2 + w.offset_s, bytes(scan)), (0.2001 + w.offset_s, bytes(rst))]
    other_services(w)


def other_services(w: World) -> None:
    """The edge host's other connections to the origin: a closed MySQL port (RST) and an
    ssh session. They are not origin pulls: counted apart, never a 521."""
    mysql = w.flow(47200, t=0.25, port=3306)
    mysql.send(True, "S")
    mysql.sseq = 0
    mysql.send(False, "RA")
    ssh = w.flow(47201, t=0.3, port=22).handshake()
    ssh.send(False, "PA", b"SSH-2.0-OpenSSH_9.2p1\r\n")
    ssh.send(True, "PA", b"SSH-2.0-OpenSSH_9.6\r\n")
    ssh.close()


def mark_origin(w: World, t: float) -> None:
    """Other traffic the origin capture holds: it shows the capture was running."""
    ntp = IP(src="192.0.2.123", dst=ORIGIN) / UDP(sport=123, dport=123) / (b"\x00" * 48)
    w.origin.append((t + w.offset_s, bytes(ntp)))


def partial_overlap(w: World) -> None:
    """The origin capture starts 10 s late: the first attempt cannot be judged."""
    syn_not_received(w, 0.0, 48000)
    w.expected[-1] = (w.expected[-1][0], "inconclusive", "unknown")
    ok(w, 12.0, 48001)
    w.origin = [(t, p) for t, p in w.origin if t >= 10.0 + w.offset_s]
    marker = IP(src="192.0.2.99", dst=ORIGIN) / TCP(sport=1, dport=9, flags="S")
    w.origin.insert(0, (10.0 + w.offset_s, bytes(marker)))  # the capture's start


def origin_stopped_early(w: World) -> None:
    """The origin capture's last packet comes before the edge's failing attempts, and
    nothing records its end: taken to have run as long as the edge's (said in
    ``assumes``), so the attempts are judged."""
    ok(w, 0.0, 49000)
    ok(w, 0.3, 49001)
    syn_not_received(w, 3.0, 49002)
    rst_on_connect_path(w, 6.0, 49003)


def origin_stopped_early_sidecar(w: World) -> None:
    """The same, but the origin's sidecar says it stopped at 1 s: nothing can be said of
    the later attempts."""
    origin_stopped_early(w)
    w.expected[2:] = [(client, "inconclusive", "unknown") for client, _, _ in w.expected[2:]]


def origin_cut_mid_traffic(w: World) -> None:
    """The origin capture is stopped (Ctrl-C) while traffic goes on: the edge still
    sends on a paired connection afterwards, so the origin's capture had stopped, and
    what came later cannot be judged against it."""
    ok(w, 0.0, 49100)
    slow = w.flow(49101, t=0.2).handshake().request()
    slow.send(False, "A")
    slow.send(False, "PA", RESPONSE, dt=2.0)  # answered after the origin capture stopped
    slow.send(True, "A")
    slow.close()
    w.expect("inconclusive", "unknown")
    syn_not_received(w, 1.5, 49102)
    w.expected[-1] = (w.expected[-1][0], "inconclusive", "unknown")
    w.origin = [(t, p) for t, p in w.origin if t <= 1.0 + w.offset_s]


def edge_cut_mid_traffic(w: World) -> None:
    """The edge capture starts late and is stopped while connections are in flight: a
    request still waiting, a slow response on its way, a SYN just sent. None of these
    is anyone's fault yet; the origin's connection from before the edge capture is
    listed as unpaired."""
    w.flow(49200, t=0.0).handshake().request().respond().close()  # before the edge capture
    ok(w, 1.0, 49201)
    waiting = w.flow(49202, t=1.5).handshake().request()
    waiting.send(False, "A")
    waiting.send(True, "FA", dt=15.0)  # the edge's read timeout, after its capture ended
    w.expect("inconclusive", "unknown")
    slow = w.flow(49204, t=2.5).handshake().request()
    slow.send(False, "A")
    slow.send(False, "PA", RESPONSE, dt=0.48)  # leaves the origin 15 ms before the cut
    w.expect("inconclusive", "unknown")
    late = w.flow(49203, t=2.998)
    late.send(True, "S")
    late.send(False, "SA")
    w.expect("inconclusive", "unknown")
    w.edge = [(t, p) for t, p in w.edge if 0.5 <= t <= 3.0]


def response_framing(w: World) -> None:
    """What the framing of the answers says: a RST after part of the body, a RST after a
    complete one, a non-HTTP answer, a body cut short by the server's close, a RST
    before the answer to a kept-alive connection's second request, a chunked answer."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    f = w.flow(50000, t=0.0).handshake().request()
    f.send(False, "PA", head + b"a" * 1000)
    f.send(False, "RA", dt=0.05)
    w.expect("rst_after_request", "origin")
    f = w.flow(50001, t=0.3).handshake().request().respond()
    f.send(False, "RA", dt=0.05)
    w.expect("ok", "none")
    f = w.flow(50002, t=0.6).handshake().request()
    f.send(False, "PA", b"SSH-2.0-OpenSSH_9.2p1\r\n")
    f.send(False, "FA")
    w.expect("invalid_response", "origin")
    f = w.flow(50003, t=0.9).handshake().request()
    f.send(False, "PA", head + b"b" * 1000)
    f.send(False, "FA", dt=0.05)
    w.expect("invalid_response", "origin")
    f = w.flow(50004, t=1.2).handshake().request().respond().request()
    f.send(False, "RA", dt=0.05)
    w.expect("rst_after_request", "origin")
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    f = w.flow(50005, t=1.5).handshake().request()
    f.send(False, "PA", chunked)
    f.send(True, "A")
    f.close()
    w.expect("ok", "none")


SIDECAR_STOPS = {"origin_stopped_early_sidecar": 1.0}  # origin clock, seconds after T0

SCENARIOS: dict[str, tuple[Build, dict[str, object], str]] = {
    # name: (build, World options, origin format)
    "every_outcome": (every_outcome, {}, "pcap"),
    "snat_random_ports": (snat, {"snat": ("192.0.2.1", 30000)}, "pcap"),
    "dnat_vip": (dnat_vip, {"dnat": (ORIGIN, 8080)}, "pcap"),
    "isn_rewrite": (isn_rewrite, {"isn_delta": 0x12345678}, "pcap"),
    "snat_isn_rewrite": (
        snat_isn_rewrite,
        {"snat": ("192.0.2.1", 30000), "isn_delta": 0x2F00BA11, "timestamps": False},
        "pcap",
    ),
    "ipv6": (ipv6, {}, "pcap"),
    "sll2_pcapng_origin": (every_outcome, {"offset_s": -3.25}, "pcapng-sll2"),
    "port_reuse": (port_reuse, {}, "pcap"),
    "mixed_with_noise": (mixed_with_noise, {}, "pcap"),
    "partial_overlap": (partial_overlap, {}, "pcap"),
    "clock_offset_hours": (every_outcome, {"offset_s": 3 * 3600 + 17.5}, "pcap"),
    "origin_stopped_early": (origin_stopped_early, {}, "pcap"),
    "origin_stopped_early_sidecar": (origin_stopped_early_sidecar, {}, "pcap"),
    "origin_cut_mid_traffic": (origin_cut_mid_traffic, {}, "pcap"),
    "edge_cut_mid_traffic": (edge_cut_mid_traffic, {}, "pcap"),
    "response_framing": (response_framing, {}, "pcap"),
}


def origin_sidecar(start_s: float, stop_s: float) -> str:
    """What `pcapdiff capture --role origin --port 80` writes beside its file."""
    t0 = T0_NS / 1e9
    meta = {
        "schema": "pcapdiff/capture-meta/1",
        "role": "origin",
        "host": "origin.example",
        "interface": "eth0",
        "filter": "((tcp and (port 80)) or icmp or icmp6)",
        "argv": ["tcpdump", "-i", "eth0", "-w", "origin.pcap"],
        "tool_version": "tcpdump version 4.99.3",
        "start": t0 + start_s,
        "stop": t0 + stop_s,
        "packets_captured": None,
        "packets_dropped_by_kernel": 0,
        "clock": {"source": "chronyc", "synchronized": True, "offset_s": 0.0},
        "interfaces": {"eth0": ["203.0.113.10/24"]},
        "sniffer": "tcpdump",
    }
    return json.dumps(meta, indent=1) + "\n"


def main() -> None:
    for name, (build, options, origin_format) in SCENARIOS.items():
        w = World(**options)  # type: ignore[arg-type]
        build(w)
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("origin.*"):
            old.unlink()
        edge = sorted(w.edge, key=lambda p: p[0])
        origin = sorted(w.origin, key=lambda p: p[0])
        write_pcap(folder / "edge.pcap", 1, [(t, ether(p)) for t, p in edge])
        if origin_format == "pcapng-sll2":
            write_pcapng(folder / "origin.pcapng", [(276, 9)], [(0, t, sll2(p)) for t, p in origin])
        else:
            write_pcap(folder / "origin.pcap", 1, [(t, ether(p)) for t, p in origin])
        sidecar = folder / "origin.pcap.json"
        sidecar.unlink(missing_ok=True)
        if name in SIDECAR_STOPS:
            sidecar.write_text(origin_sidecar(0.0, SIDECAR_STOPS[name]))
        expected = {
            "connections": [
                {"edge_client": e, "outcome": o, "culprit": c} for e, o, c in w.expected
            ]
        }
        (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {len(SCENARIOS)} scenarios to {OUT}")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(
        description=(__doc__ or "").strip().splitlines()[0],
        epilog="It takes no arguments: it rewrites the files under fixtures/pcaps/compare.",
    ).parse_args()
    main()
