"""The fallback when tcpdump (or dumpcap) is missing: scapy's sniffer, same options.

The sockets are the ones libpcap opens. On one Ethernet-framed interface (lo
included) a raw packet socket, so the file holds the frames as tcpdump -i writes them;
on "any" (or another framing) a cooked socket, so the kernel strips each link header
and every packet becomes one Linux SLL2 record, as tcpdump -i any writes. Outgoing
copies on loopback are dropped, as libpcap does, or each packet would appear twice.
The filter is bpf_filter() compiled by libpcap through scapy and run in the kernel;
without libpcap it runs in Python (PacketMatcher), which is slower and said so.
VLAN tags that the NIC strips are not put back (libpcap does).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import CaptureError
from .ring import LINKTYPE_LINUX_SLL2, RingWriter
from .run import CaptureResult
from .sidecar import begun, write_sidecar
from .spec import BUFFER_MB, CaptureSpec, PacketMatcher, bpf_filter

ETH_P_ALL = 0x0003
ARPHRD_LOOPBACK = 772
ETHERNET_FRAMED = (1, ARPHRD_LOOPBACK)  # ARPHRD_ETHER; lo has an all-zero Ethernet header
LINKTYPE_ETHERNET = 1
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_TIMESTAMPNS = 35
SO_ATTACH_FILTER = 26
MAX_SNAPLEN = 262144  # tcpdump's -s 0
RCVBUF = BUFFER_MB << 20
SO_RCVBUFFORCE = 33
POLL_S = 0.1


def scapy_version() -> str | None:
    """scapy's version, or None when it is not installed."""
    try:
        import scapy
    except ImportError:
        return None
    return str(getattr(scapy, "__version__", "unknown"))


def _tap_class() -> type[Any]:
    """Build the scapy socket class lazily: importing scapy costs ~0.5 s."""
    from scapy.config import conf
    from scapy.supersocket import SuperSocket

    class PacketTap(SuperSocket):
        """A packet socket as libpcap opens one: raw Ethernet frames on one Ethernet
        interface, cooked SLL2 records otherwise; recv() gives them ready to write."""

        desc = "AF_PACKET socket giving Ethernet frames or Linux SLL2 records"

        def __init__(self, interface: str, snaplen: int) -> None:
            self.outs = None
            self.snaplen = snaplen
            self.buffer = bytearray(snaplen)
            self.names: dict[str, int] = {}
            self.ancillary = socket.CMSG_SPACE(16)
            self.raw = conf.raw_layer
            self.linktype = LINKTYPE_LINUX_SLL2
            self.failures: list[str] = []
            self.ins = self._open(interface, socket.SOCK_RAW if interface != "any" else None)

        def _open(self, interface: str, kind: int | None) -> socket.socket:
            """One Ethernet-framed interface: its frames as they are, as tcpdump -i
            writes them; "any" or another framing: cooked SLL2, as tcpdump -i any."""
            sock = socket.socket(
                socket.AF_PACKET, kind or socket.SOCK_DGRAM, socket.htons(ETH_P_ALL)
            )
            try:
                try:  # as root past net.core.rmem_max, as libpcap's ring is
                    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
                except PermissionError:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                if interface != "any":
                    sock.bind((interface, ETH_P_ALL))
            except OSError:
                sock.close()
                raise
            if kind == socket.SOCK_RAW:
                if sock.getsockname()[3] in ETHERNET_FRAMED:
                    self.linktype = LINKTYPE_ETHERNET
                    return sock
                sock.close()
                return self._open(interface, socket.SOCK_DGRAM)
            return sock

        @property
        def network_at(self) -> int:
            return 14 if self.linktype == LINKTYPE_ETHERNET else 20

        def ethertype(self, frame: bytes) -> int:
            at = 12 if self.linktype == LINKTYPE_ETHERNET else 0
            return int.from_bytes(frame[at : at + 2], "big")

        def attach(self, flt: str) -> None:
            """Compile with libpcap for what the socket delivers: Ethernet frames, or
            raw IP (a cooked socket's data starts at the network header)."""
            from scapy.arch.common import compile_filter, free_filter
            from scapy.data import DLT_EN10MB, DLT_RAW

            try:
                from scapy.libs.structures import sock_fprog
            except ImportError:  # scapy < 2.5.1 kept it here
                from scapy.arch.common import sock_fprog  # type: ignore[attr-defined,no-redef]

            linktype = DLT_EN10MB if self.linktype == LINKTYPE_ETHERNET else DLT_RAW
            program = compile_filter(flt, linktype=linktype)
            self.ins.setsockopt(
                socket.SOL_SOCKET, SO_ATTACH_FILTER, sock_fprog(program.bf_len, program.bf_insns)
            )
            free_filter(program)

        def recv(self, x: int = 0, **kwargs: Any) -> Any:
            try:
                size, ancdata, _flags, addr = self.ins.recvmsg_into(
                    [self.buffer], self.ancillary, socket.MSG_TRUNC
                )
            except OSError as exc:
                self.failures.append(f"reading the packet socket: {exc.strerror or exc}")
                raise
            name, proto, pkttype, hatype, hwaddr = addr[:5]
            if pkttype == PACKET_OUTGOING and hatype == ARPHRD_LOOPBACK:
                return None  # seen again coming in, as libpcap reasons
            ts_ns = time.time_ns()
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("@qq", value[:16])
                    ts_ns = sec * 1_000_000_000 + nsec
            captured = min(size, self.snaplen)
            if self.linktype == LINKTYPE_ETHERNET:
                header = b""
            else:
                index = self.names.get(name)
                if index is None:
                    index = self.names[name] = socket.if_nametoindex(name)
                header = struct.pack(
                    ">HHIHBB8s", proto, 0, index, hatype, pkttype, len(hwaddr), hwaddr[:8]
                )
            pkt = self.raw(header + memoryview(self.buffer)[:captured])  # one copy
            pkt.time = ts_ns / 1e9
            pkt.wirelen = size + len(header)
            pkt.ts_ns = ts_ns
            return pkt

        def drops(self) -> int | None:
            try:
                _received, dropped = struct.unpack(
                    "II", self.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
                )
            except OSError:
                return None
            return int(dropped)

    return PacketTap


def sniff_capture(
    spec: CaptureSpec,
    *,
    started: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    kernel_filter: bool = True,
) -> CaptureResult:
    """Capture like run_capture, with scapy's AsyncSniffer on a cooked packet socket."""
    version = scapy_version()
    if version is None:
        raise CaptureError(
            "neither tcpdump nor scapy is installed (apt-get install tcpdump, "
            "or pip install scapy for the fallback sniffer)"
        )
    from scapy.sendrecv import AsyncSniffer

    flt = bpf_filter(spec.peers, spec.ports)
    snaplen = spec.snaplen or MAX_SNAPLEN
    try:
        tap = _tap_class()(spec.interface, snaplen)
    except PermissionError:
        raise CaptureError(
            "cannot open a packet socket: capturing needs root or CAP_NET_RAW"
        ) from None
    except OSError as exc:
        raise CaptureError(f"cannot capture on {spec.interface}: {exc.strerror or exc}") from None
    how = "kernel BPF compiled by libpcap"
    matcher: PacketMatcher | None = None
    why = "asked to"
    if kernel_filter:
        try:
            tap.attach(flt)
        except Exception as exc:  # scapy: ImportError or Scapy_Exception without libpcap
            kernel_filter = False
            why = str(exc).rstrip(". !") or type(exc).__name__
    if not kernel_filter:
        matcher = PacketMatcher(spec.peers, spec.ports)
        how = f"filtered in Python: slower, may drop under load; {why}"
    framing = "Ethernet" if tap.linktype == LINKTYPE_ETHERNET else "cooked SLL2"
    description = (
        f"scapy {version} sniffer on {spec.interface}, {framing}, snaplen {snaplen}, "
        f"filter {flt!r} ({how}) -> {spec.output}"
    )
    meta = begun(spec.role, spec.interface, flt, [], f"scapy {version}", "scapy")
    try:
        writer = RingWriter(
            spec.output,
            snaplen=snaplen,
            pcapng=spec.pcapng,
            max_size_mb=spec.max_size_mb,
            files=spec.files,
            linktype=tap.linktype,
        )
    except OSError as exc:
        tap.close()
        raise CaptureError(f"cannot write {spec.output}: {exc.strerror or exc}") from None
    failures: list[str] = []  # why the sniffer ended by itself, said in our own words

    def keep(pkt: Any) -> bool:
        assert matcher is not None
        data = pkt.load
        return matcher(tap.ethertype(data), data[tap.network_at :])

    def write(pkt: Any) -> None:
        try:
            writer.write(pkt.ts_ns, pkt.load, pkt.wirelen)
        except OSError as exc:
            failures.append(f"writing {writer.path(writer.index)}: {exc.strerror or exc}")
            raise  # scapy then closes the socket and the sniffer ends

    sniffer = AsyncSniffer(
        opened_socket={tap: spec.interface},
        prn=write,
        lfilter=keep if matcher is not None else None,
        store=False,
        count=spec.count or 0,
    )
    ended_by_itself = False
    quiet = logging.getLogger("scapy.runtime")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its "Socket failed" warning: we say why, once
    sniffer.start()
    try:
        if started is not None:
            started(description)
        deadline = None if spec.duration_s is None else time.monotonic() + spec.duration_s
        while deadline is None or time.monotonic() < deadline:
            if not sniffer.running:
                ended_by_itself = True  # --count reached, or a failure
                break
            if stop is not None and stop.is_set():
                break
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM: stop cleanly below
    finally:
        with contextlib.suppress(Exception):  # already stopped after --count
            sniffer.stop()
        quiet.setLevel(level)
        meta.packets_dropped_by_kernel = tap.drops()
        failures += tap.failures
        tap.close()
        with contextlib.suppress(OSError):  # the failure is reported below
            writer.close()
    meta.stop = time.time()
    meta.packets_captured = writer.packets
    if ended_by_itself and not (spec.count and writer.packets >= spec.count):
        reason = failures[0] if failures else "the packet socket closed"
        with contextlib.suppress(CaptureError):  # the same disk may refuse it too
            write_sidecar(spec.output, meta)
        raise CaptureError(
            f"the capture stopped after {writer.packets} packets ({reason}); "
            f"{spec.output} holds what was captured until then"
        )
    write_sidecar(spec.output, meta)
    return CaptureResult([], meta, description)
