"""The lab's scenarios: one origin pull each through the middle box's rules, and
the verdicts compare must give."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from ..meta import sidecar_path
from .net import (
    EDGE_ADDR,
    EDGE_ADDR6,
    HIJACK_PORT,
    HIJACK_PROXY,
    ORIGIN_ADDR,
    ORIGIN_ADDR6,
    REWRITE_PORT,
    REWRITE_PROXY,
    RST_INJECTOR,
    SLOW_PORT,
    Lab,
    stop_capture,
)


class Scenario(NamedTuple):
    """One origin pull through the lab, and what it must be judged."""

    name: str
    port: int
    rules: tuple[tuple[str, tuple[str, ...]], ...]  # (edge|mid|origin, iptables rule)
    probe: str  # what the CDN would have answered
    outcome: str
    culprit: str
    origin_capture: tuple[str, ...] = ("-i", "origin0")
    probe_ip: str = ORIGIN_ADDR  # where the edge connects (a VIP for DNAT)
    scheme: str = "http"
    probe_args: tuple[str, ...] = ()  # the CDN's settings, e.g. its TLS versions
    mid_service: tuple[str, ...] = ()  # a module (and its arguments) the middle runs meanwhile
    ipv6: bool = False  # the rules are ip6tables rules
    origin_sniffer: str = "tcpdump"  # "scapy": the origin has no tcpdump
    # An attempt that works first (to this port), then the origin capture stops, then
    # ``rules`` are set and the scenario's own attempt is made.
    first_probe_port: int | None = None
    keep_origin_sidecar: bool = True  # False: as tcpdump alone writes it, no end recorded
    edge_stops_after_s: float | None = None  # stop the edge capture this long after its SYN
    mid_mtu: int | None = None  # the MTU of mid's interface towards the edge
    peers: bool = False  # capture with --peer (the other end) as well as --port

    def expected(self) -> list[tuple[str, str]]:
        """The verdicts compare must give, attempt by attempt."""
        first = [("ok", "none")] if self.first_probe_port is not None else []
        return [*first, (self.outcome, self.culprit)]


VIP_ADDR = "203.0.113.100"
# The path (mid) drops every SYN towards the origin: an ISP's or firewall's 522.
DROP_SYNS_TO_ORIGIN = (
    ("mid", ("-A", "FORWARD", "-p", "tcp", "--syn", "-d", ORIGIN_ADDR, "-j", "DROP")),
)


def redirect_to_mid(port: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """mid takes the edge's connections to the origin's port 80 to its own ``port``
    (iptables REDIRECT): where a transparent proxy listens."""
    rule = ("-t", "nat", "-A", "PREROUTING", "-i", "mid0", "-p", "tcp", "-d", ORIGIN_ADDR)
    return (("mid", (*rule, "--dport", "80", "-j", "REDIRECT", "--to-ports", str(port))),)


SCENARIOS = (
    Scenario("ok", 80, (), "ok", "ok", "none"),
    Scenario(
        "syn_dropped_in_path",
        80,
        DROP_SYNS_TO_ORIGIN,
        "522",
        "syn_not_received",
        "path",
    ),
    Scenario(
        "origin_firewall_drops_syn",
        80,
        (("origin", ("-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP")),),
        "522",
        "syn_not_answered",
        "origin",
    ),
    Scenario("port_closed", 81, (), "521", "rst_on_connect", "origin"),
    Scenario(
        "synack_dropped_on_way_back",
        80,
        (
            (
                "mid",
                (
                    "-A",
                    "FORWARD",
                    "-p",
                    "tcp",
                    "-s",
                    ORIGIN_ADDR,
                    "--tcp-flags",
                    "SYN,ACK",
                    "SYN,ACK",
                    "-j",
                    "DROP",
                ),
            ),
        ),
        "522",
        "synack_not_received",
        "path",
    ),
    Scenario(
        "in_path_reject",
        80,
        (
            (
                "mid",
                (
                    "-A",
                    "FORWARD",
                    "-p",
                    "tcp",
                    "-d",
                    ORIGIN_ADDR,
                    "-j",
                    "REJECT",
                    "--reject-with",
                    "tcp-reset",
                ),
            ),
        ),
        "521",
        "rst_on_connect",
        "path",
    ),
    Scenario("origin_resets_after_request", 8084, (), "520", "rst_after_request", "origin"),
    Scenario("origin_never_answers", 8083, (), "524", "no_response", "origin"),
    Scenario(
        "snat_random_ports",
        80,
        (
            (
                "mid",
                (
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-o",
                    "mid1",
                    "-j",
                    "MASQUERADE",
                    "--random-fully",
                ),
            ),
        ),
        "ok",
        "ok",
        "none",
    ),
    Scenario(
        "origin_any_pcapng",
        8084,
        (),
        "520",
        "rst_after_request",
        "origin",
        ("-i", "any", "--pcapng"),
    ),
    # The origin has no tcpdump: `pcapdiff capture -i any` falls back to scapy.
    Scenario(
        "origin_without_tcpdump",
        8084,
        (),
        "520",
        "rst_after_request",
        "origin",
        ("-i", "any"),
        origin_sniffer="scapy",
    ),
    # The middle blocks the request with a reset: the origin got the handshake but
    # never the request. The CDN says 520; the RST is not the origin's (the evidence
    # says the request never reached it).
    Scenario(
        "request_blocked_with_reset",
        80,
        (
            (
                "mid",
                (
                    "-A",
                    "FORWARD",
                    "-p",
                    "tcp",
                    "-d",
                    ORIGIN_ADDR,
                    "-m",
                    "string",
                    "--string",
                    "GET ",
                    "--algo",
                    "bm",
                    "-j",
                    "REJECT",
                    "--reject-with",
                    "tcp-reset",
                ),
            ),
        ),
        "520",
        "rst_after_request",
        "path",
    ),
    # A load balancer VIP in the middle: the origin sees its own address.
    Scenario(
        "dnat_vip",
        80,
        (
            (
                "mid",
                (
                    "-t",
                    "nat",
                    "-A",
                    "PREROUTING",
                    "-d",
                    VIP_ADDR,
                    "-p",
                    "tcp",
                    "--dport",
                    "80",
                    "-j",
                    "DNAT",
                    "--to-destination",
                    f"{ORIGIN_ADDR}:80",
                ),
            ),
        ),
        "ok",
        "ok",
        "none",
        probe_ip=VIP_ADDR,
    ),
    # The origin's certificate is self-signed: the edge refuses it (a 525).
    Scenario(
        "tls_untrusted_certificate",
        8443,
        (),
        "525",
        "tls_handshake_failed",
        "origin",
        scheme="https",
    ),
    # The origin speaks only TLS 1.3, the CDN's origin pull at most TLS 1.2: the
    # origin answers the ClientHello with a protocol_version alert (a 525).
    Scenario(
        "tls_version_mismatch",
        8445,
        (),
        "525",
        "tls_handshake_failed",
        "origin",
        scheme="https",
        probe_args=("--tls-max", "1.2"),
    ),
    # A box in the path lets the request through but sends the edge a RST in the
    # origin's name at once (as censors do); the origin answers 0.5 s later, to a
    # connection the edge has already dropped.
    Scenario(
        "reset_injected_after_request",
        SLOW_PORT,
        (),
        "520",
        "rst_after_request",
        "path",
        mid_service=RST_INJECTOR,
    ),
    # A transparent proxy in the path answers for the origin (an ISP's block page):
    # the edge gets a response, the origin never sees the connection.
    Scenario(
        "transparent_proxy_hijack",
        80,
        redirect_to_mid(HIJACK_PORT),
        "ok",
        "request_not_seen",
        "path",
        mid_service=HIJACK_PROXY,
    ),
    # A load balancer in the path passes the request on with Host set to its back
    # end's name and X-Forwarded-For to the edge's address: the pull works, and
    # `flows EDGE ORIGIN` must show exactly those two headers changed.
    Scenario(
        "rewriting_proxy",
        80,
        redirect_to_mid(REWRITE_PORT),
        "ok",
        "ok",
        "none",
        mid_service=REWRITE_PROXY,
        probe_args=("--header", "X-Forwarded-For: 192.0.2.99"),
    ),
    Scenario("ipv6_ok", 80, (), "ok", "ok", "none", probe_ip=ORIGIN_ADDR6, ipv6=True),
    # --- what the framing of the answer says ---
    Scenario("origin_resets_mid_body", 8086, (), "520", "rst_after_request", "origin"),
    Scenario("complete_response_then_rst", 8087, (), "ok", "ok", "none"),
    # --- HTTPS after the handshake (the CDN skips certificate checks here: -k) ---
    Scenario(
        "https_origin_silent",
        8446,
        (),
        "524",
        "no_response",
        "origin",
        scheme="https",
        probe_args=("-k",),
    ),
    Scenario(
        "https_origin_resets_after_request",
        8447,
        (),
        "520",
        "rst_after_request",
        "origin",
        scheme="https",
        probe_args=("-k",),
    ),
    # --- ICMP says where: captured with --peer, so the filter keeps a router's errors
    # for quoting the peer's packets ---
    Scenario(
        "syn_icmp_host_unreachable",
        80,
        (
            (
                "mid",
                (
                    "-A",
                    "FORWARD",
                    "-p",
                    "tcp",
                    "--syn",
                    "-d",
                    ORIGIN_ADDR,
                    "-j",
                    "REJECT",
                    "--reject-with",
                    "icmp-host-unreachable",
                ),
            ),
        ),
        "522",
        "syn_not_received",
        "path",
        peers=True,
    ),
    # The path towards the edge takes 1280 bytes; the origin's firewall drops the
    # routers' "fragmentation needed", so it keeps sending full-size segments.
    Scenario(
        "path_mtu_blackhole",
        8088,
        (
            (
                "origin",
                ("-A", "INPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP"),
            ),
        ),
        "524",
        "no_response",
        "path",
        mid_mtu=1280,
        peers=True,
    ),
    # --- a capture that stopped early: no verdict rests on what it could not see ---
    # The origin capture stops (its sidecar records when) before the last attempt,
    # whose SYN the path then drops: nothing can be said of it.
    Scenario(
        "origin_capture_stopped_early",
        80,
        DROP_SYNS_TO_ORIGIN,
        "522",
        "inconclusive",
        "unknown",
        first_probe_port=80,
    ),
    # The same with tcpdump's file alone (no sidecar): the origin capture is taken to
    # have run as long as the edge's, and the verdict says it assumes so.
    Scenario(
        "origin_capture_stopped_early_no_sidecar",
        80,
        DROP_SYNS_TO_ORIGIN,
        "522",
        "syn_not_received",
        "path",
        first_probe_port=80,
        keep_origin_sidecar=False,
    ),
    # The edge capture is stopped while the origin's (slow) answer is on its way.
    Scenario(
        "edge_capture_stopped_mid_response",
        SLOW_PORT,
        (),
        "ok",
        "inconclusive",
        "unknown",
        edge_stops_after_s=0.05,  # after the SYN: the answer comes 0.5 s after it
    ),
    Scenario(
        "ipv6_syn_dropped_in_path",
        80,
        (("mid", ("-A", "FORWARD", "-p", "tcp", "--syn", "-d", ORIGIN_ADDR6, "-j", "DROP")),),
        "522",
        "syn_not_received",
        "path",
        probe_ip=ORIGIN_ADDR6,
        ipv6=True,
    ),
)


class Run(NamedTuple):
    """What one scenario produced."""

    edge: Path
    origin: Path
    attempts: list[dict[str, object]]  # pcapdiff probe --json, one per attempt
    probe_stderr: str


def _wait_for_syn(capture: Path, timeout_s: float) -> None:
    """Until the capture being written (tcpdump -U: each packet at once) holds a SYN;
    bounded, and silent at the bound (the test's verdict then says what is missing)."""
    from ..conns import read_connections
    from ..errors import PcapdiffError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if any(c.syns for c in read_connections(capture)[0]):
                return
        except PcapdiffError:
            pass  # not even a file header yet
        time.sleep(0.02)


def run_scenario(lab: Lab, scenario: Scenario, folder: Path) -> Run:
    """Set the rules, capture both ends, probe from the edge, stop the captures."""
    lab.reset_rules()
    if scenario.first_probe_port is None:
        _set_rules(lab, scenario)
    service = lab.start_service(lab.mid, *scenario.mid_service) if scenario.mid_service else None
    folder.mkdir(parents=True, exist_ok=True)
    edge = folder / "edge.pcap"
    origin = folder / ("origin.pcapng" if "--pcapng" in scenario.origin_capture else "origin.pcap")
    ports = {scenario.port, scenario.first_probe_port or scenario.port}
    port = [arg for p in sorted(ports) for arg in ("--port", str(p))]
    edge_peer = ["--peer", scenario.probe_ip] if scenario.peers else []
    origin_peer = ["--peer", EDGE_ADDR6 if scenario.ipv6 else EDGE_ADDR] if scenario.peers else []
    edge_cap = lab.start_capture(lab.edge, "edge", "edge0", edge, [*port, *edge_peer])
    origin_cap = lab.start_capture(
        lab.origin,
        "origin",
        scenario.origin_capture[1],
        origin,
        [*scenario.origin_capture[2:], *port, *origin_peer],
        sniffer=scenario.origin_sniffer,
    )
    attempts: list[dict[str, object]] = []
    stderr = ""
    try:
        if scenario.first_probe_port is not None:
            first = lab.run(
                lab.edge, *_probe_argv(scenario, scenario.first_probe_port), check=False
            )
            attempts += [json.loads(line) for line in first.stdout.splitlines()]
            time.sleep(0.5)
            stop_capture(origin_cap)  # the origin capture stops before the last attempt
            _set_rules(lab, scenario)
        probe = subprocess.Popen(
            lab.argv(lab.edge, *_probe_argv(scenario, scenario.port)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if scenario.edge_stops_after_s is not None:
            # From the SYN on, not from the probe's start: a loaded machine starts the
            # probe's interpreter slower than the answer takes.
            _wait_for_syn(edge, timeout_s=20.0)
            time.sleep(scenario.edge_stops_after_s)
            stop_capture(edge_cap)  # while the answer is still on its way
        out, stderr = probe.communicate(timeout=60)
        attempts += [json.loads(line) for line in out.splitlines()]
        time.sleep(0.5)  # the last ACKs and RSTs reach both captures
    finally:
        stop_capture(edge_cap)
        stop_capture(origin_cap)
        if service is not None:
            lab.stop_service(service)
    if not scenario.keep_origin_sidecar:
        sidecar_path(origin).unlink()
    return Run(edge, origin, attempts, stderr)


def _set_rules(lab: Lab, scenario: Scenario) -> None:
    for role, rule in scenario.rules:
        lab.iptables(getattr(lab, role), *rule, ipv6=scenario.ipv6)
    if scenario.mid_mtu is not None:
        lab.run(lab.mid, "ip", "link", "set", "mid0", "mtu", str(scenario.mid_mtu))


def _probe_argv(scenario: Scenario, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pcapdiff",
        "probe",
        "--json",
        "--connect-timeout",
        "2",
        "--read-timeout",
        "2",
        *scenario.probe_args,
        f"{scenario.scheme}://www.example.com:{port}/a.jpg",
        "--origin-ip",
        scenario.probe_ip,
    ]
