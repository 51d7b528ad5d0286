"""A three-host lab in network namespaces: edge <-> mid <-> origin, real kernel TCP.

    edge  198.51.100.2/24 --- 198.51.100.1/24  mid  203.0.113.1/24 --- 203.0.113.10/24  origin
          2001:db8:100::2/64    2001:db8:100::1     2001:db8:113::1   2001:db8:113::10

Only documentation addresses, no default routes, nothing on the host's own
interfaces. ``mid`` forwards, and plays ISP, firewall, NAT or hijacking proxy with
iptables/ip6tables and a process of its own. Every
namespace, process and rule is removed by name when the lab closes, also on errors.
Needs root, iproute2 and iptables.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from ..meta import sidecar_path

EDGE_ADDR, MID_EDGE_ADDR = "198.51.100.2", "198.51.100.1"
MID_ORIGIN_ADDR, ORIGIN_ADDR = "203.0.113.1", "203.0.113.10"
EDGE_ADDR6, MID_EDGE_ADDR6 = "2001:db8:100::2", "2001:db8:100::1"
MID_ORIGIN_ADDR6, ORIGIN_ADDR6 = "2001:db8:113::1", "2001:db8:113::10"


def origin_servers_argv(cert: Path, key: Path, *addrs: str) -> list[str]:
    """The origin's servers (``pcapdiff.lab.origin``, one behaviour a port) on ``addrs``."""
    return [
        sys.executable,
        "-m",
        "pcapdiff.lab.origin",
        "--cert",
        str(cert),
        "--key",
        str(key),
        *addrs,
    ]


SLOW_PORT = 8085

# An on-path injector in the middle: it watches requests to the origin pass and sends
# the edge a RST in the origin's name, at the sequence number the edge expects next.
# The request itself is forwarded untouched. Plain sockets: no filter language needed.
RST_INJECTOR = f"""
import socket, struct
ORIGIN, PORT = socket.inet_aton("{ORIGIN_ADDR}"), {SLOW_PORT}
tap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
tap.bind(("mid0", 0x0800))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
def checksum(data):
    data += b"\\0" * (len(data) % 2)
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
print("ready", flush=True)
while True:
    pkt, addr = tap.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING or pkt[9] != 6 or pkt[16:20] != ORIGIN:
        continue
    src, tcp = pkt[12:16], pkt[(pkt[0] & 15) * 4:]
    sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
    if dport != PORT or not tcp[(tcp[12] >> 4) * 4:].startswith(b"GET "):
        continue
    header = struct.pack("!HHIIBBHHH", PORT, sport, ack, 0, 5 << 4, 0x04, 0, 0, 0)
    pseudo = ORIGIN + src + struct.pack("!BBH", 0, 6, len(header))
    header = header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, ORIGIN, src)
    raw.sendto(ip + header, (socket.inet_ntoa(src), 0))
"""

# A transparent proxy in the middle that answers for the origin: an ISP's block page.
HIJACK_PORT = 3129
HIJACK_PROXY = f"""
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("{MID_EDGE_ADDR}", {HIJACK_PORT}))
s.listen(64)
def answer(c):
    c.recv(65536)
    c.sendall(b"HTTP/1.1 302 Found\\r\\nLocation: http://192.0.2.80/blocked.html\\r\\n"
              b"Content-Length: 0\\r\\nConnection: close\\r\\n\\r\\n")
    c.close()
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=answer, args=(c,), daemon=True).start()
"""


def self_signed_certificate(folder: Path, name: str = "www.example.com") -> tuple[Path, Path]:
    """A throw-away certificate and key for ``name``, valid one day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    sh(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        f"/CN={name}",
        "-addext",
        f"subjectAltName=DNS:{name}",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    )
    return cert, key


class Lab:
    """The three namespaces; use as a context manager."""

    def __init__(self, prefix: str | None = None) -> None:
        prefix = prefix or f"pcapdiff-lab{os.getpid()}"
        self.edge, self.mid, self.origin = (f"{prefix}-edge", f"{prefix}-mid", f"{prefix}-origin")
        self.namespaces = (self.edge, self.mid, self.origin)
        self.servers: subprocess.Popen[str] | None = None
        self.services: list[subprocess.Popen[str]] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="pcapdiff-lab-"))

    def __enter__(self) -> Lab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)  # a leftover of a killed run
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh(
            "ip",
            "link",
            "add",
            "edge0",
            "netns",
            self.edge,
            "type",
            "veth",
            "peer",
            "name",
            "mid0",
            "netns",
            self.mid,
        )
        sh(
            "ip",
            "link",
            "add",
            "mid1",
            "netns",
            self.mid,
            "type",
            "veth",
            "peer",
            "name",
            "origin0",
            "netns",
            self.origin,
        )
        for ns, dev, addr, addr6 in (
            (self.edge, "edge0", EDGE_ADDR, EDGE_ADDR6),
            (self.mid, "mid0", MID_EDGE_ADDR, MID_EDGE_ADDR6),
            (self.mid, "mid1", MID_ORIGIN_ADDR, MID_ORIGIN_ADDR6),
            (self.origin, "origin0", ORIGIN_ADDR, ORIGIN_ADDR6),
        ):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            # nodad: usable at once, not after duplicate address detection (~2 s)
            sh("ip", "-n", ns, "-6", "addr", "add", f"{addr6}/64", "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", self.edge, "route", "add", "203.0.113.0/24", "via", MID_EDGE_ADDR)
        sh("ip", "-n", self.origin, "route", "add", "198.51.100.0/24", "via", MID_ORIGIN_ADDR)
        sh("ip", "-n", self.edge, "-6", "route", "add", "2001:db8:113::/64", "via", MID_EDGE_ADDR6)
        sh(
            "ip",
            "-n",
            self.origin,
            "-6",
            "route",
            "add",
            "2001:db8:100::/64",
            "via",
            MID_ORIGIN_ADDR6,
        )
        self.run(self.mid, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.run(self.mid, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        cert, key = self_signed_certificate(self.workdir)
        self.servers = self.start_program(
            self.origin, origin_servers_argv(cert, key, ORIGIN_ADDR, ORIGIN_ADDR6)
        )

    def start_service(self, ns: str, script: str, *args: str) -> subprocess.Popen[str]:
        """A Python program given as text, in a namespace; returns once it says "ready"."""
        return self.start_program(ns, [sys.executable, "-c", script, *args])

    def start_program(self, ns: str, argv: Sequence[str]) -> subprocess.Popen[str]:
        """A program in a namespace; returns once it prints "ready"."""
        proc = subprocess.Popen(self.argv(ns, *argv), stdout=subprocess.PIPE, text=True)
        self.services.append(proc)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"a service in {ns} did not start")
        return proc

    def stop_service(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        self.services.remove(proc)

    def argv(self, ns: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def run(
        self, ns: str, *argv: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return sh(*self.argv(ns, *argv), check=check, timeout=timeout)

    def iptables(self, ns: str, *rule: str, ipv6: bool = False) -> None:
        self.run(ns, "ip6tables" if ipv6 else "iptables", *rule)

    def reset_rules(self) -> None:
        """Flush every rule the previous scenario added, and put the MTUs back."""
        for ns in self.namespaces:
            for tool in ("iptables", "ip6tables"):
                self.run(ns, tool, "-F", check=False)
                self.run(ns, tool, "-t", "nat", "-F", check=False)
        for dev in ("mid0", "mid1"):
            self.run(self.mid, "ip", "link", "set", dev, "mtu", "1500", check=False)

    def close(self) -> None:
        for proc in list(self.services):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop_service(proc)
        for ns in self.namespaces:
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start_capture(
        self,
        ns: str,
        role: str,
        iface: str,
        out: Path,
        extra: Sequence[str] = (),
        sniffer: str = "tcpdump",
    ) -> subprocess.Popen[str]:
        """`pcapdiff capture` in a namespace; returns once tcpdump listens.
        ``sniffer="scapy"``: as on a host without tcpdump (an empty PATH)."""
        no_tools = self.workdir / "no-tools"
        no_tools.mkdir(exist_ok=True)
        hide = ["env", f"PATH={no_tools}"] if sniffer == "scapy" else []
        proc = subprocess.Popen(
            self.argv(
                ns,
                *hide,
                sys.executable,
                "-m",
                "pcapdiff",
                "capture",
                "--role",
                role,
                "-i",
                iface,
                "-o",
                str(out),
                *extra,
            ),
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if line.startswith("capturing:"):
                return proc
            if not line and proc.poll() is not None:
                break
        proc.kill()
        raise RuntimeError(f"capture in {ns} did not start")


def stop_capture(proc: subprocess.Popen[str]) -> None:
    """SIGINT, as Ctrl-C, so the file is flushed; a capture already stopped is left be."""
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)


def sh(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check)


@contextlib.contextmanager
def lab(prefix: str | None = None) -> Iterator[Lab]:
    with Lab(prefix) as running:
        yield running


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
    mid_service: str = ""  # a program the middle box runs meanwhile (a proxy)
    ipv6: bool = False  # the rules are ip6tables rules
    origin_sniffer: str = "tcpdump"  # "scapy": the origin has no tcpdump
    # An attempt that works first (to this port), then the origin capture stops, then
    # ``rules`` are set and the scenario's own attempt is made.
    first_probe_port: int | None = None
    keep_origin_sidecar: bool = True  # False: as tcpdump alone writes it, no end recorded
    edge_stops_after_s: float | None = None  # stop the edge capture while the probe runs
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
        (
            (
                "mid",
                (
                    "-t",
                    "nat",
                    "-A",
                    "PREROUTING",
                    "-i",
                    "mid0",
                    "-p",
                    "tcp",
                    "-d",
                    ORIGIN_ADDR,
                    "--dport",
                    "80",
                    "-j",
                    "REDIRECT",
                    "--to-ports",
                    str(HIJACK_PORT),
                ),
            ),
        ),
        "ok",
        "request_not_seen",
        "path",
        mid_service=HIJACK_PROXY,
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
        edge_stops_after_s=0.25,
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


def run_scenario(lab: Lab, scenario: Scenario, folder: Path) -> Run:
    """Set the rules, capture both ends, probe from the edge, stop the captures."""
    lab.reset_rules()
    if scenario.first_probe_port is None:
        _set_rules(lab, scenario)
    service = lab.start_service(lab.mid, scenario.mid_service) if scenario.mid_service else None
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
