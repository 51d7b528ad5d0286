"""track: connection identity, Zeek states and histories, first payloads, release."""

from __future__ import annotations

from itertools import islice

from pcapdiff import _core, read_connections
from pcapdiff.model import ACK, FIN, PSH, SYN, Segment
from pcapdiff.track import track

from .conftest import FIXTURES

A, B = bytes([198, 51, 100, 7]), bytes([203, 0, 113, 10])


def seg(
    frame: int,
    from_client: bool,
    flags: int,
    seq: int,
    ack: int = 0,
    payload: bytes = b"",
    ts_s: float = 0.0,
    win: int = 1000,
) -> Segment:
    src, sport, dst, dport = (A, 40000, B, 80) if from_client else (B, 80, A, 40000)
    data = b"\0" * 54 + payload
    return Segment(
        frame,
        int(1_700_000_000e9) + int(ts_s * 1e9),
        src,
        sport,
        dst,
        dport,
        flags,
        seq,
        ack,
        win,
        len(payload),
        64,
        frame,
        data,
        34,
        54,
        len(data),
    )


def handshake(cisn: int = 100, sisn: int = 900) -> list[Segment]:
    return [
        seg(1, True, SYN, cisn),
        seg(2, False, SYN | ACK, sisn, cisn + 1),
        seg(3, True, ACK, cisn + 1, sisn + 1),
    ]


def test_every_zeek_state() -> None:
    conns, _ = read_connections(FIXTURES / "every_state.pcap")
    got = [(c.client.port, c.conn_state, c.history) for c in conns]
    assert got == [
        (41000, "S0", "S"),
        (41001, "REJ", "Sr"),
        (41002, "S1", "ShADa"),
        (41003, "SF", "ShADdFf"),
        (41004, "S2", "ShAF"),
        (41005, "S3", "ShAf"),
        (41006, "RSTO", "ShAR"),
        (41007, "RSTR", "ShADr"),
        (41008, "RSTOS0", "SR"),
        (41009, "RSTRH", "^hr"),
        (41010, "SH", "SF"),
        (41011, "SHR", "^hf"),
        (41012, "OTH", "Da"),
    ]


def test_syn_retransmits_belong_to_the_first_attempt() -> None:
    conns, _ = read_connections(FIXTURES / "every_state.pcap")
    s0 = conns[0]
    assert [p.frame for p in s0.syns] == [1, 39, 45]  # as tshark numbers them
    assert s0.client_isn == 41000 * 1000


def test_port_reuse_is_a_new_connection() -> None:
    conns, _ = read_connections(FIXTURES / "port_reuse.pcap")
    assert [(c.client_isn, c.conn_state, c.first_frame) for c in conns] == [
        (1_000_000, "SF", 1),
        (2_000_000, "SF", 12),
    ]
    assert conns[0].client == conns[1].client
    assert conns[0].server == conns[1].server


def test_split_request_line_is_reassembled() -> None:
    (conn,), _ = read_connections(FIXTURES / "http_ok.pcap")
    req = conn.request
    assert req is not None
    assert (req.kind, req.method, req.host, req.target, req.version, req.frame) == (
        "http",
        "GET",
        "www.example.com",
        "/images/a.jpg",
        "HTTP/1.1",
        4,
    )
    assert conn.response is not None
    assert (conn.response.status, conn.response.frame) == (200, 7)
    assert conn.handshake_frame == 3
    assert conn.client_sent.payload_bytes == 71
    assert conn.server_sent.payload_bytes == 69
    assert conn.syn_options is not None
    assert conn.syn_options.mss == 1460
    assert conn.synack_options is not None
    assert conn.synack_options.wscale == 8


def test_tls_client_hello_and_alert() -> None:
    (conn,), _ = read_connections(FIXTURES / "tls_alert.pcap")
    assert conn.request is not None
    assert (conn.request.kind, conn.request.host, conn.request.version) == (
        "tls",
        "www.example.com",
        "TLS 1.3",
    )
    assert conn.response is not None
    assert conn.response.alert == "fatal handshake_failure"
    assert [(a.frame, a.sender, a.alert) for a in conn.tls_alerts] == [
        (6, "server", "fatal handshake_failure")
    ]
    assert conn.tls_alerts[0].ts_ns == 1_700_000_000_006_000_000
    assert [(r.sender, r.phase, r.frame) for r in conn.resets] == [("server", "after_response", 7)]


def test_rst_phases_and_ttl() -> None:
    conns, _ = read_connections(FIXTURES / "every_state.pcap")
    by_port = {c.client.port: c for c in conns}
    assert [(r.phase, r.ttl) for r in by_port[41001].resets] == [("handshake", 55)]
    assert [r.phase for r in by_port[41006].resets] == ["established"]
    assert [r.phase for r in by_port[41007].resets] == ["after_request"]


def test_retransmission_is_counted_and_marked() -> None:
    segs = [
        *handshake(),
        seg(4, True, PSH | ACK, 101, 901, b"GET / HTTP/1.1\r\n\r\n"),
        seg(5, True, PSH | ACK, 101, 901, b"GET / HTTP/1.1\r\n\r\n", ts_s=0.2),
    ]
    (conn,) = list(track(segs))
    assert conn.client_sent.retransmitted_bytes == 18
    assert conn.client_sent.payload_bytes == 36
    assert conn.history == "ShADT"


def test_acked_but_unseen_data_is_a_gap() -> None:
    segs = [
        *handshake(),
        seg(4, True, PSH | ACK, 101, 901, b"x" * 100),
        # The server acknowledges 200 more bytes than the capture holds.
        seg(5, False, ACK, 901, 401),
    ]
    (conn,) = list(track(segs))
    assert conn.gaps == 1
    assert conn.history == "ShADaG"


def test_out_of_order_data_fills_a_hole_without_a_retransmit() -> None:
    segs = [
        *handshake(),
        seg(4, True, ACK, 201, 901, b"b" * 100),
        seg(5, True, ACK, 101, 901, b"a" * 100),
    ]
    (conn,) = list(track(segs))
    assert conn.client_sent.retransmitted_bytes == 0
    assert conn.gaps == 0


def test_idle_connections_are_released_before_the_end() -> None:
    segs = [*handshake(), seg(4, True, FIN | ACK, 101, 901, ts_s=1.0)]
    # A second connection long after: the first is released on the way, not at the end.
    later = [seg(10 + i, True, SYN, 5000, ts_s=400.0 + i) for i in range(3)]
    later = [s._replace(sport=40001) for s in later]
    out = track(segs + later, idle_timeout_ns=300 * 10**9)
    first = next(out)
    assert first.ended_by == "idle_timeout"
    assert first.conn_state == "S2"


def test_memory_follows_live_connections_not_packets() -> None:
    """180,000 packets of short connections: only the recent ones stay alive."""
    from pcapdiff import track as track_module

    def stream(n: int):
        for i in range(n):
            port = 1024 + i
            base = i * 0.01
            client = (A, port, B, 80)
            for j, (fc, flags, seq, ack) in enumerate(
                [
                    (True, SYN, 1, 0),
                    (False, SYN | ACK, 5, 2),
                    (True, ACK, 2, 6),
                    (True, FIN | ACK, 2, 6),
                    (False, FIN | ACK, 6, 3),
                    (True, ACK, 3, 7),
                ]
            ):
                s, sp, d, dp = client if fc else (B, 80, A, port)
                yield Segment(
                    i * 6 + j,
                    int((1e9 + base) * 1e9) + j,
                    s,
                    sp,
                    d,
                    dp,
                    flags,
                    seq,
                    ack,
                    100,
                    0,
                    64,
                    0,
                    b"",
                    0,
                    0,
                    0,
                )

    # Count the core's live connections after every 1000 packets.
    tracker = _core.Tracker(track_module.IDLE_TIMEOUT_NS, track_module.CLOSE_DELAY_NS, False)
    sizes, n = [], 0
    rows = stream(30_000)
    while chunk := list(islice(rows, 1000)):
        n += sum(1 for event in tracker.feed_rows(chunk) if event[0] == 0)
        sizes.append(tracker.live)
    n += sum(1 for event in tracker.finish() if event[0] == 0)
    assert n == 30_000
    assert len(sizes) > 100
    # 100 connections start per second and close at once; 5 s close delay + 1 s sweep.
    assert max(sizes) < 800, f"live connections grew: {max(sizes)}"
