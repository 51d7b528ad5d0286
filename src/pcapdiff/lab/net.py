"""The lab's network: three namespaces joined by veth pairs, and the programs and
captures run in them. Every namespace, process and rule is removed by name."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

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

# The middle's programs (real modules: linted, typed, runnable by hand).
RST_INJECTOR = (
    "pcapdiff.lab.rst_injector",
    "--origin",
    ORIGIN_ADDR,
    "--port",
    str(SLOW_PORT),
    "--iface",
    "mid0",
)
HIJACK_PORT = 3129
HIJACK_PROXY = ("pcapdiff.lab.hijack_proxy", "--listen", MID_EDGE_ADDR, "--port", str(HIJACK_PORT))
REWRITE_PORT = 3130
BACKEND_HOST = "origin.internal"  # the Host the rewriting proxy sends the origin
REWRITE_PROXY = (
    "pcapdiff.lab.rewrite_proxy",
    "--listen",
    MID_EDGE_ADDR,
    "--port",
    str(REWRITE_PORT),
    "--origin",
    ORIGIN_ADDR,
    "--host",
    BACKEND_HOST,
)


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

    def start_service(self, ns: str, module: str, *args: str) -> subprocess.Popen[str]:
        """``python -m module args`` in a namespace; returns once it says "ready"."""
        return self.start_program(ns, [sys.executable, "-m", module, *args])

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
