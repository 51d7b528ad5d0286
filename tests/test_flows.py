"""`pcapdiff flows` (issue 12, first slices): reassembled streams held to tcpflow byte
for byte, HTTP/1.x messages found in them, hostile bytes shown inert."""

from __future__ import annotations

import filecmp
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.utils import wrpcap

from pcapdiff.flows import FlowOptions, scan_flows, tcpflow_name, write_tcpflow_files

from .conftest import CORPUS, FIXTURES, IN_CI, ROOT, drain_terminal

COMPARE = ROOT / "fixtures" / "pcaps" / "compare"
RECORDED = ROOT / "fixtures" / "pcaps" / "recorded"
CAPTURES = sorted(
    p
    for folder in (FIXTURES, COMPARE, RECORDED)
    for p in folder.rglob("*")
    if p.is_file() and ".pcap" in p.name and not p.name.endswith(".json")
)

AS_OUT_DIR = FlowOptions(messages=False)  # what --out-dir reads with: bytes only

# Where our files differ from tcpflow's on purpose (each must differ, or the entry goes).
DELIBERATE = {
    "conns/damaged_packet.pcap": "a packet whose TCP header is damaged is counted as "
    "malformed, not followed: tcpflow makes a flow of its garbage ports",
    "conns/http_ok_dot1q.pcap": "tcpflow appends the VLAN id (--42) to the names of "
    "tagged flows; pcapdiff names a flow by its endpoints only",
    "conns/http_ok_null.pcap": "BSD loopback frames of IPv6 (address family 24/28/30): "
    "tcpflow's NULL link handler takes only AF_INET and writes nothing",
    "conns/sections.pcapng": "libpcap (tcpflow's reader) stops at the second section, "
    "of pcapng version 2.0, which pcapdiff skips with a warning and reads on past",
    "conns/two_interfaces.pcapng": "libpcap stops at the second interface: its link type "
    "differs from the first's; pcapdiff reads every interface with its own",
    "conns/ipv4_options_frag.pcap": "pcapdiff reassembles IP fragments; tcpflow writes "
    "only the first fragment's bytes",
    "compare/port_reuse/edge.pcap": "a new SYN on a used 4-tuple is a new connection: "
    "tcpflow keeps the first attempt's ISN and writes the second one's bytes 777,777 "
    "bytes into a sparse file",
}


PADDING = (
    "tcpflow takes the Ethernet padding of short frames (an ACK, a FIN or a RST in a "
    "60-byte frame) as stream bytes; pcapdiff takes the IP length's payload"
)
SNAP_CUT = (
    "segments cut by the snap length: pcapdiff writes the bytes the capture lacks as "
    "NULs (a gap, said as [N bytes missing]); tcpflow leaves the last ones out"
)
PORT_REUSE = "a new SYN on a used 4-tuple is a new connection (tcpflow: the same flow)"
VLAN = "tcpflow appends the VLAN id (--N) to the names of tagged flows"
CORPUS_DELIBERATE = {
    "dpkt/nb6-http.pcap": "PPPoE: tcpflow does not decode it and writes nothing",
    "pcapplusplus/one_http_stream_rst.pcap": "QinQ + PPPoE: tcpflow writes nothing",
    "gopacket/pcap/test_loopback.pcap": "BSD loopback IPv6: tcpflow takes only AF_INET",
    "pcapplusplus/NullLoopback.pcap": "BSD loopback IPv6: tcpflow takes only AF_INET",
    "pcapplusplus/null_loopback.pcap": "BSD loopback IPv6: tcpflow takes only AF_INET",
    "zeek/connect-with-header.pcap": "BSD loopback IPv6: tcpflow takes only AF_INET",
    "pcap-parser/wireshark_samples-test.pcapng": f"{PORT_REUSE}; and {PADDING}",
    "pcapplusplus/SllPacket.pcap": "a segment cut by the snap length: tcpflow fills the "
    "uncaptured bytes with its own heap memory (its compiler flags show in the file); "
    "pcapdiff with NULs",
    "pcapplusplus/many_interfaces-1.pcapng": "libpcap stops at an interface of another "
    "link type; pcapdiff reads each interface with its own",
    "pcapplusplus/pcapng-example.pcapng": "libpcap stops at an interface of another "
    "link type; pcapdiff reads each interface with its own",
    "zeek/gap-data-missing.pcapng": "libpcap stops at an interface of another snap "
    "length; pcapdiff reads on",
    "tcpdump/bgp_vpn_rt-oobr.pcap": f"{SNAP_CUT} (tcpflow gives up on the file)",
    "tcpdump/tcp_rst_diag_payload-trunc.pcap": SNAP_CUT,
    "zeek/timestamp.pcap": SNAP_CUT,
    "zeek/truncated-header.pcap": f"{SNAP_CUT}: here inside the first segments, which "
    "tcpflow drops whole",
    "tcpdump/bigtcp-ipv6-hbh.pcap": "an IPv6 hop-by-hop header (a BIG TCP jumbogram): "
    "tcpflow does not follow extension headers",
    "zeek/ipv6-http-atomic-frag.pcap": "IPv6 atomic fragments (a fragment header, "
    "offset 0, no more): tcpflow does not follow the fragment header",
    "tcpdump/ipv4_tcp_http_xml.pcap": VLAN,
    "zeek/vlan-qinqinq.pcap": VLAN,
    "zeek/mixed-vlan-mpls.pcap": f"{VLAN}; and data on a SYN (below)",
    "zeek/options.pcap": "4 bytes of data on the SYN: pcapdiff places them at ISN+1, as "
    "RFC 9293 does, where the next segment carries them again; tcpflow writes both",
    "tcpdump/pptp.pcap": PADDING,
    "pcapplusplus/many-protocols.pcap": f"{PADDING}; and a keep-alive probe's one byte "
    "(sent again below the next sequence number) made a new tcpflow file",
    "zeek/get-to-ssh-server.pcap": PADDING,
    "zeek/rst-inject-rae.pcap": PADDING,
}
CORPUS_FILES = sorted(
    p
    for p in CORPUS.rglob("*")
    if p.is_file() and p.suffix not in (".tsv", ".md") and p.stat().st_size < 3_000_000
)


def tcpflow_files(capture: Path, out: Path) -> tuple[set[str], str]:
    done = subprocess.run(
        ["tcpflow", "-r", str(capture), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    names = (
        {p.name for p in out.iterdir()} - {"report.xml", "alerts.txt"} if out.exists() else set()
    )
    return names, done.stderr


def flows_text(*args: str) -> str:
    """`pcapdiff flows ARGS` at 120 columns: what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "pcapdiff", "flows", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "120"},
    ).stdout


def tcpflow_cannot_read(stderr: str) -> bool:
    """tcpflow refuses link types and containers libpcap's reader lacks."""
    return any(
        why in stderr
        for why in ("unknown datalink", "unknown data link", "unknown file format", "bad dump file")
    )


@pytest.mark.requires_tcpflow
@pytest.mark.parametrize(
    "capture", CAPTURES, ids=lambda p: str(p.relative_to(ROOT / "fixtures" / "pcaps"))
)
def test_out_dir_is_tcpflows_files_byte_for_byte(capture: Path, tmp_path: Path) -> None:
    key = str(capture.relative_to(ROOT / "fixtures" / "pcaps"))
    ours = {
        p.name
        for p in write_tcpflow_files(iter(scan_flows(capture, AS_OUT_DIR)), tmp_path / "ours")
    }
    theirs, stderr = tcpflow_files(capture, tmp_path / "theirs")
    if not theirs and tcpflow_cannot_read(stderr):
        assert key not in DELIBERATE
        return  # nothing to hold us to
    same = ours == theirs and all(
        filecmp.cmp(tmp_path / "ours" / n, tmp_path / "theirs" / n, shallow=False) for n in ours
    )
    assert same != (key in DELIBERATE), (key, sorted(ours ^ theirs), stderr[-200:])


@pytest.mark.requires_tcpflow
def test_corpus_streams_are_tcpflows_but_for_the_listed_reasons(tmp_path: Path) -> None:
    """Every public corpus capture under 3 MB: the same files with the same bytes as
    tcpflow -r writes, or a difference listed with its reason (and each listed file
    does differ); a capture pcapdiff refuses, tcpflow cannot read either."""
    if not CORPUS_FILES:
        if IN_CI:
            raise RuntimeError(f"CI must run the corpus oracle, but {CORPUS} is empty")
        pytest.skip(f"public corpus not found at {CORPUS} (set PCAPDIFF_CORPUS)")
    from pcapdiff.errors import PcapdiffError

    unexplained, stale = [], []
    for n, capture in enumerate(CORPUS_FILES):
        key = str(capture.relative_to(CORPUS))
        folder = tmp_path / str(n)
        try:
            ours = {
                p.name
                for p in write_tcpflow_files(iter(scan_flows(capture, AS_OUT_DIR)), folder / "o")
            }
        except PcapdiffError:
            ours = None
        theirs, stderr = tcpflow_files(capture, folder / "t")
        if ours is None:
            if theirs:
                unexplained.append(f"{key}: refused, but tcpflow wrote {sorted(theirs)[:2]}")
            continue
        if not theirs and tcpflow_cannot_read(stderr):
            continue
        same = ours == theirs and all(
            filecmp.cmp(folder / "o" / name, folder / "t" / name, shallow=False) for name in ours
        )
        if not same and key not in CORPUS_DELIBERATE:
            unexplained.append(f"{key}: {sorted(ours ^ theirs)[:3]}")
        if same and key in CORPUS_DELIBERATE:
            stale.append(key)
    assert unexplained == []
    assert stale == []  # a listed difference that is gone: take it off the list
    assert len(CORPUS_FILES) > 50


def test_tcpflow_names() -> None:
    assert tcpflow_name("198.51.100.7", 40000, "203.0.113.10", 80) == (
        "198.051.100.007.40000-203.000.113.010.00080"
    )
    assert tcpflow_name("2001:db8:1::7", 40312, "2001:db8:2::10", 80) == (
        "2001:db8:1::7.40312-2001:db8:2::10.00080"
    )


def crafted(path: Path, client: list[tuple[int, bytes]], server: list[tuple[int, bytes]]) -> Path:
    """A connection: handshake, then the client's and the server's (offset, bytes)
    segments in the order given, each side's sequence starting near the 2**32 wrap."""
    c, s = ("198.51.100.7", 40000), ("203.0.113.10", 80)
    cisn, sisn = 2**32 - 30, 2**32 - 5

    def seg(
        src: tuple[str, int],
        dst: tuple[str, int],
        flags: str,
        seq: int,
        ack: int,
        data: bytes = b"",
    ) -> object:
        return (
            IP(src=src[0], dst=dst[0])
            / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq % 2**32, ack=ack % 2**32)
            / data
        )

    pkts = [
        seg(c, s, "S", cisn, 0),
        seg(s, c, "SA", sisn, cisn + 1),
        seg(c, s, "A", cisn + 1, sisn + 1),
    ]
    for offset, data in client:
        pkts.append(seg(c, s, "PA", cisn + 1 + offset, sisn + 1, data))
    for offset, data in server:
        pkts.append(seg(s, c, "PA", sisn + 1 + offset, cisn + 1, data))
    for i, p in enumerate(pkts):
        p.time = 1_700_000_000 + i * 0.001  # type: ignore[attr-defined]
    wrpcap(str(path), pkts)
    return path


def test_http_messages_pipelined_chunked_and_head(tmp_path: Path) -> None:
    requests = (
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    )
    answers = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"  # HEAD: no body whatever it says
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    )
    # The client's bytes out of order and partly twice; the server's in two segments.
    cut = 40
    pcap = crafted(
        tmp_path / "h.pcap",
        [(cut, requests[cut:]), (0, requests[:cut]), (10, requests[10:20])],
        [(0, answers[:50]), (50, answers[50:])],
    )
    [flow] = list(scan_flows(pcap))
    assert [m.start_line for m in flow.requests] == [
        "GET /a HTTP/1.1",
        "HEAD /b HTTP/1.1",
        "POST /c HTTP/1.1",
    ]
    assert [m.body_bytes for m in flow.requests] == [0, 0, 5]
    assert [(m.start_line, m.body_bytes, m.framing) for m in flow.responses] == [
        ("HTTP/1.1 200 OK", 7, "chunked"),
        ("HTTP/1.1 200 OK", 0, "no body"),
        ("HTTP/1.1 100 Continue", 0, "no body"),
        ("HTTP/1.1 201 Created", 2, "content-length"),
    ]
    assert flow.client.retransmitted == 10
    assert all(m.complete for m in flow.requests + flow.responses)
    assert flow.requests[0].first_frame == 5  # the segment at offset 0, sent second
    assert flow.responses[-1].last_frame == 8  # 3 handshake, 3 client, 2 server


def test_gaps_and_injected_bytes_are_said(tmp_path: Path) -> None:
    request = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"
    pcap = crafted(
        tmp_path / "g.pcap",
        [(0, request)],
        [(0, answer[:20]), (9, b"302"), (30, answer[30:])],  # 10 bytes never seen
    )
    done = subprocess.run(
        [sys.executable, "-m", "pcapdiff", "flows", str(pcap)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert done.returncode == 0, done.stderr
    assert "! server bytes 20-30: [10 bytes missing]" in done.stdout
    assert "! server bytes 9-12: frame 6 carries other bytes than frame 5 did" in done.stdout
    doc = json.loads(
        subprocess.run(
            [sys.executable, "-m", "pcapdiff", "flows", "--json", str(pcap)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    [flow] = doc["flows"]
    assert flow["server_stream"]["gaps"] == [[20, 30]]
    assert flow["server_stream"]["conflicts"] == [
        {"start": 9, "end": 12, "kept_frame": 5, "frame": 6}
    ]
    assert flow["requests"][0]["start_line"] == "GET /a HTTP/1.1"


def test_hostile_bytes_are_inert_and_raw_never_reaches_a_terminal(tmp_path: Path) -> None:
    evil = b"GET /\x1b]0;owned\x07\x1b[2J\xe2\x80\xae HTTP/1.1\r\nHost: \x00x\x9b31m\r\n\r\n"
    pcap = crafted(tmp_path / "e.pcap", [(0, evil)], [])
    done = subprocess.run(
        [sys.executable, "-m", "pcapdiff", "flows", str(pcap)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert not set(done.stdout) & (set(range(0x20)) - {0x0A})  # no control byte but \n
    assert b"\\x1b]0;owned\\x07\\x1b[2J\\u202e" in done.stdout
    raw = subprocess.run(
        [sys.executable, "-m", "pcapdiff", "flows", "--raw", str(pcap)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert raw.stdout == evil  # exact bytes, to a pipe
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcapdiff", "flows", "--raw", str(pcap)],
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = drain_terminal(leader)
    proc.wait(timeout=60)
    os.close(leader)
    assert proc.returncode == 2
    assert b"--raw writes exact bytes" in seen
    assert b"\x1b]0;owned" not in seen


def test_filters_pick_connections_by_the_ids_conns_prints() -> None:
    capture = COMPARE / "every_outcome" / "edge.pcap"
    ids = [f.connection.id for f in scan_flows(capture, FlowOptions(conn_ids=frozenset({1, 9})))]
    assert sorted(ids) == [1, 9]
    tls = list(scan_flows(capture, FlowOptions(request="TLS")))
    assert {f.connection.server.port for f in tls} == {443}
    conns = subprocess.run(
        [sys.executable, "-m", "pcapdiff", "conns", "--json", str(capture)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    by_id = {c["id"]: c["client"] for c in json.loads(conns.stdout)["connections"]}
    for flow in scan_flows(capture):
        assert by_id[flow.connection.id] == str(flow.connection.client)


def test_tls_is_shown_as_its_records() -> None:
    """The edge refusing the origin's certificate, recorded in the lab (TLS 1.3)."""
    capture = RECORDED / "tls_untrusted_certificate" / "edge.pcap"
    [flow] = list(scan_flows(capture))
    client = [(r.kind, r.what) for r in flow.client_tls]
    server = [(r.kind, r.what) for r in flow.server_tls]
    assert client[0] == ("handshake", "ClientHello")
    assert ("alert", "fatal unknown_ca") in client
    assert server[:2] == [("handshake", "ServerHello"), ("change cipher spec", "")]
    assert server[2][0] == "application data"  # the encrypted rest of the handshake
    assert sum(r.payload_bytes + 5 * r.records for r in flow.server_tls) == flow.server.length
    text = flows_text(str(capture))
    assert "> TLS handshake: ClientHello, 1 record" in text
    assert "> TLS alert: fatal unknown_ca, 1 record, 2 bytes" in text
    assert "(server name www.example.com)" in text


def kept_flows(kept: Path) -> str:
    """What a live test's kept capture holds: its size, and each flow's requests."""
    if not kept.exists():
        return "no kept capture"
    try:
        flows = [(str(f.connection.client), len(f.requests)) for f in scan_flows(kept)]
    except Exception as exc:  # a diagnostic: whatever the file holds, say it
        return f"kept capture of {kept.stat().st_size} bytes: {exc}"
    return f"kept capture of {kept.stat().st_size} bytes: {flows}"


@pytest.mark.requires_root
@pytest.mark.requires_tcpdump
@pytest.mark.parametrize("sniffer", ["tcpdump", "scapy"])
def test_live_flows_print_each_message_and_a_summary(tmp_path: Path, sniffer: str) -> None:
    """tcpflow -cp port 80 on an origin, replaced: live in a namespace of its own; with
    tcpdump hidden from PATH, through scapy's sniffer (the capture fallback)."""
    from pcapdiff.lab import origin_servers_argv, self_signed_certificate

    from .conftest import loopback_namespace

    addr = "192.0.2.1"
    cert, key = self_signed_certificate(tmp_path, "origin.example")
    kept = tmp_path / "live.pcap"
    with loopback_namespace("fl", addr) as ns:
        inside = ["ip", "netns", "exec", ns]
        server = subprocess.Popen(
            [*inside, *origin_servers_argv(cert, key, addr)], stdout=subprocess.PIPE, text=True
        )
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        no_tcpdump = tmp_path / "bin"  # a PATH without tcpdump
        no_tcpdump.mkdir()
        hide = ["env", f"PATH={no_tcpdump}"] if sniffer == "scapy" else []
        live = subprocess.Popen(
            [
                *inside,
                *hide,
                sys.executable,
                "-m",
                "pcapdiff",
                "flows",
                "-i",
                "lo",
                "--port",
                "80",
                "-w",
                str(kept),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        import threading

        fired = threading.Event()

        def hung() -> None:
            fired.set()
            live.kill()

        watchdog = threading.Timer(60, hung)  # bounded: a hung read ends the test
        watchdog.start()
        assert live.stderr is not None
        heading = live.stderr.readline()
        expected = "capturing: tcpdump -i lo" if sniffer == "tcpdump" else "capturing: scapy"
        assert heading.startswith(expected), heading + live.stderr.read()
        probe = [*inside, sys.executable, "-m", "pcapdiff", "probe", "--json", "--count", "2"]
        done = subprocess.run(
            [*probe, "http://origin.example/a.jpg", "--origin-ip", addr],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        locals_ = [json.loads(line)["local"] for line in done.stdout.splitlines()]
        assert live.stdout is not None
        lines = [live.stdout.readline().rstrip("\n") for _ in range(4)]  # before Ctrl-C
        live.send_signal(2)
        _out, err = live.communicate(timeout=30)
        watchdog.cancel()
    # A hang says where it was: the lines shown, and whether the kept capture holds
    # the exchanges (the capture's side) or not (the sniffer's).
    assert not fired.is_set(), (lines, err[-500:], kept_flows(kept), done.stdout)
    assert live.returncode == 0, err
    for client in locals_:
        assert any(f"{client} > GET /a.jpg HTTP/1.1 (Host origin.example)" in ln for ln in lines)
        assert any(f"{client} < HTTP/1.1 200 OK" in ln for ln in lines)
    assert "1 client: 192.0.2.1 2 requests (2 answered)" in err
    [first, *_] = list(scan_flows(kept))  # -w kept a capture pcapdiff reads
    assert first.requests[0].start_line == "GET /a.jpg HTTP/1.1"
    sidecar = json.loads(kept.with_name(kept.name + ".json").read_text())  # and its sidecar
    assert sidecar["sniffer"] == sniffer
    assert sidecar["role"] == "origin"
    assert sidecar["start"] < sidecar["stop"]
    assert "port 80" in sidecar["filter"]


def test_edge_and_origin_side_by_side_show_what_a_proxy_changed(tmp_path: Path) -> None:
    """A transparent proxy that rewrites Host, adds X-Forwarded-For and drops a header:
    the same connection (4-tuple and ISNs) in both captures, the bytes differing."""
    sent = b"GET /a.jpg HTTP/1.1\r\nHost: www.example.com\r\nX-Trace: 7\r\n\r\n"
    got = b"GET /a.jpg HTTP/1.1\r\nHost: origin.internal\r\nX-Forwarded-For: 198.51.100.7\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    edge = crafted(tmp_path / "edge.pcap", [(0, sent)], [(0, answer)])
    origin = crafted(tmp_path / "origin.pcap", [(0, got)], [(0, answer)])
    from pcapdiff.pairdiff import paired_flows

    [pair] = list(paired_flows(edge, origin))
    [request] = pair.requests
    assert request.changed == (("Host", "www.example.com", "origin.internal"),)
    assert request.added == (("X-Forwarded-For", "198.51.100.7"),)
    assert request.removed == (("X-Trace", "7"),)
    assert request.start_line is None
    assert [r.same for r in pair.responses] == [True]
    text = flows_text(str(edge), str(origin))
    assert "~ request 1: GET /a.jpg HTTP/1.1, changed on the way:" in text
    assert "+   X-Forwarded-For: 198.51.100.7  (added)" in text
    assert "-   X-Trace: 7  (removed)" in text
    assert "~   Host: www.example.com  ->  origin.internal" in text
    assert "= response 1: HTTP/1.1 200 OK (the same at both ends)" in text
    assert "1 paired connection shown, 1 changed on the way" in text


def test_compare_says_a_request_was_modified_in_transit(tmp_path: Path) -> None:
    """The same pair through compare: a finding of its own, with the origin's frame."""
    from pcapdiff import compare

    sent = b"GET /a.jpg HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
    got = b"GET /cache/a.jpg HTTP/1.1\r\nHost: origin.internal\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    edge = crafted(tmp_path / "edge.pcap", [(0, sent)], [(0, answer)])
    origin = crafted(tmp_path / "origin.pcap", [(0, got)], [(0, answer)])
    [verdict] = compare(edge, origin).verdicts
    changed = "Host 'www.example.com' -> 'origin.internal', path '/a.jpg' -> '/cache/a.jpg'"
    assert any(
        ev.capture.value == "origin" and ev.frame == 4 and changed in ev.what
        for ev in verdict.evidence
    ), verdict.evidence
    assert any("rewritten between the edge and the origin" in h for h in verdict.hints)
    unchanged = crafted(tmp_path / "same.pcap", [(0, sent)], [(0, answer)])
    [plain] = compare(edge, unchanged).verdicts
    assert not any("rewritten" in h for h in plain.hints)


def test_live_reports_a_response_framed_by_the_close(tmp_path: Path) -> None:
    """HTTP/1.0 without Content-Length ends when the server closes: the live feed
    reports it at the server's FIN, not never."""
    from pcapdiff.live import LiveMessage, _follow, _Tee

    from .craft import exchange, write_pcap

    request = b"GET /old HTTP/1.0\r\nHost: origin.example\r\n\r\n"
    response = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 300
    path = write_pcap(tmp_path / "close.pcap", exchange(request, response))
    seen: list[LiveMessage] = []
    with path.open("rb") as raw:
        summary = _follow(_Tee(raw, None), seen.append)
    assert [(m.is_request, m.message.start_line) for m in seen] == [
        (True, "GET /old HTTP/1.0"),
        (False, "HTTP/1.0 200 OK"),
    ]
    answer = seen[1].message
    assert (answer.framing, answer.body_bytes, answer.complete) == ("until close", 300, True)
    assert summary.responses["198.51.100.7"] == 1


def test_compare_says_a_response_was_modified_in_transit(tmp_path: Path) -> None:
    """The origin sent 200, the edge received 403 on the same connection: a rewrite in
    the path, cited at the edge's frame; the same answer at both ends says nothing."""
    from pcapdiff import compare

    request = b"GET /a.jpg HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
    sent = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    got = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nabc"
    origin = crafted(tmp_path / "origin.pcap", [(0, request)], [(0, sent)])
    edge = crafted(tmp_path / "edge.pcap", [(0, request)], [(0, got)])
    [verdict] = compare(edge, origin).verdicts
    change = "status 200 'OK' -> 403 'Forbidden'"
    assert any(
        ev.capture.value == "edge" and ev.frame == 5 and change in ev.what
        for ev in verdict.evidence
    ), verdict.evidence
    assert any("response was rewritten between the origin and the edge" in h for h in verdict.hints)
    same = crafted(tmp_path / "same.pcap", [(0, request)], [(0, sent)])
    [plain] = compare(same, origin).verdicts
    assert not any("rewritten" in h for h in plain.hints)


@given(st.binary(max_size=300), st.binary(max_size=300), st.integers(1, 5))
@settings(max_examples=300, deadline=None)
def test_differing_spans_are_exactly_the_differing_bytes(a: bytes, b: bytes, limit: int) -> None:
    """Held to the byte-by-byte definition: every span's bytes differ (or exist on
    one side only), every byte outside the spans is the same, spans are ordered and
    apart, and the list stops at the limit saying so."""
    from pcapdiff import pairdiff

    spans, more = pairdiff.differing_spans(a, b, limit)
    differs = [i >= len(a) or i >= len(b) or a[i] != b[i] for i in range(max(len(a), len(b)))]
    expected: list[tuple[int, int]] = []
    for i, d in enumerate(differs):
        if d and expected and expected[-1][1] == i:
            expected[-1] = (expected[-1][0], i + 1)
        elif d:
            expected.append((i, i + 1))
    assert list(spans) == expected[:limit]
    assert more == (len(expected) > limit)


def test_differing_spans_skip_equal_blocks_fast() -> None:
    from pcapdiff.pairdiff import differing_spans

    a = bytes(8 << 20)
    b = bytearray(a)
    b[5_000_000] = 1
    assert differing_spans(a, bytes(b)) == (((5_000_000, 5_000_001),), False)
    assert differing_spans(a, a[:-10]) == (((len(a) - 10, len(a)),), False)


def test_pair_json_is_the_documented_schema(tmp_path: Path) -> None:
    sent = b"GET /a.jpg HTTP/1.1\r\nHost: www.example.com\r\nX-Trace: 7\r\n\r\n"
    got = b"GET /b.jpg HTTP/1.1\r\nHost: origin.internal\r\nX-Forwarded-For: 198.51.100.7\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nabcdefgh"
    altered = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabXdefghij"
    edge = crafted(tmp_path / "edge.pcap", [(0, sent)], [(0, altered)])
    origin = crafted(tmp_path / "origin.pcap", [(0, got)], [(0, answer)])
    done = subprocess.run(
        [sys.executable, "-m", "pcapdiff", "flows", "--json", str(edge), str(origin)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"] == "pcapdiff/flowdiff/1"
    assert doc["summary"] == {"pairs": 1, "changed": 1}
    [pair] = doc["pairs"]
    [request] = pair["requests"]
    assert request["start_line"] == {
        "sent": "GET /a.jpg HTTP/1.1",
        "received": "GET /b.jpg HTTP/1.1",
    }
    assert request["added"] == [["X-Forwarded-For", "198.51.100.7"]]
    assert request["removed"] == [["X-Trace", "7"]]
    assert request["changed"] == [["Host", "www.example.com", "origin.internal"]]
    [response] = pair["responses"]
    assert response["changed"] == [["Content-Length", "8", "10"]]
    assert response["body_spans"] == [[2, 3], [8, 10]]  # a changed byte; two added
    assert (response["sent"]["first_frame"], response["received"]["first_frame"]) == (5, 5)

    def fields(value: Any, prefix: str = "") -> set[str]:
        out: set[str] = set()
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{prefix}.{key}" if prefix else key
                out.add(name)
                if key not in ("sent", "received", "summary", "start_line"):  # leaves
                    out |= fields(item, name)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                out |= fields(item, prefix + "[]")
        return out

    emitted = {f.replace("pairs[].responses[]", "pairs[].requests[]") for f in fields(doc)}
    emitted = (emitted | {"pairs[].responses"}) - {"pairs"}
    text = (ROOT / "docs" / "json.md").read_text()
    section = next(
        s for s in re.split(r"^## ", text, flags=re.M) if "`pcapdiff/flowdiff/1`" in s[:200]
    )
    documented = set(re.findall(r"^\| `([a-z_.\[\]]+)` \|", section, flags=re.M))
    assert emitted == documented


def test_a_rewriting_proxy_in_the_lab_shows_exactly_its_two_headers() -> None:
    """Recorded in the lab: mid's load balancer sets Host and X-Forwarded-For and
    passes the request on; the ok scenario, with nothing in the path, shows nothing."""
    from pcapdiff.pairdiff import paired_flows

    folder = RECORDED / "rewriting_proxy"
    [pair] = list(paired_flows(folder / "edge.pcap", folder / "origin.pcap"))
    assert pair.verdict.outcome.value == "ok"
    assert pair.verdict.pair.confidence == "weak"  # the proxy kept no TCP identity
    [request] = pair.requests
    edge_client = pair.edge.connection.client.addr
    assert request.changed == (
        ("Host", "www.example.com", "origin.internal"),
        ("X-Forwarded-For", "192.0.2.99", edge_client),
    )
    assert (request.added, request.removed, request.start_line, request.body_spans) == (
        (),
        (),
        None,
        (),
    )
    assert [r.same for r in pair.responses] == [True]
    assert any("rewritten between the edge and the origin" in h for h in pair.verdict.hints)
    plain = RECORDED / "ok"
    pairs = list(paired_flows(plain / "edge.pcap", plain / "origin.pcap"))
    assert pairs
    assert all(d.same for p in pairs for d in (*p.requests, *p.responses))
