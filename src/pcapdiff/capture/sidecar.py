"""The metadata sidecar FILE.json written beside every capture, read back by compare."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CaptureError

SCHEMA = "pcapdiff/capture-meta/1"


@dataclass
class CaptureMeta:
    """Who captured what, where, when, and whether the clock could be trusted."""

    role: str
    host: str
    interface: str
    filter: str
    argv: list[str]
    tool_version: str
    start: float
    stop: float | None = None
    packets_captured: int | None = None
    packets_dropped_by_kernel: int | None = None
    clock: dict[str, Any] = field(default_factory=dict)
    interfaces: dict[str, list[str]] = field(default_factory=dict)  # name: its addresses
    sniffer: str = ""  # tcpdump, dumpcap or scapy (the fallback)
    schema: str = SCHEMA


def sidecar_path(capture: Path | str) -> Path:
    return Path(f"{capture}.json")


def write_sidecar(capture: Path, meta: CaptureMeta) -> Path:
    """Write FILE.json beside the capture; CaptureError when the disk says no."""
    path = sidecar_path(capture)
    try:
        path.write_text(json.dumps(asdict(meta), indent=1) + "\n")
    except OSError as exc:
        raise CaptureError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def read_sidecar(capture: Path | str) -> CaptureMeta | None:
    """The sidecar of a capture, or None when there is none (or it is not ours).
    A rotated file (ring.pcap03, as tcpdump -C/-W names it) shares ring.pcap.json."""
    path = sidecar_path(capture)
    ring = re.fullmatch(r"(.+?)\d+", str(capture))
    if not path.exists() and ring is not None:
        path = sidecar_path(ring.group(1))
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    known = set(CaptureMeta.__dataclass_fields__)
    try:
        return CaptureMeta(**{k: v for k, v in data.items() if k in known})
    except TypeError:
        return None


def clock_state() -> dict[str, Any]:
    """Is this host's clock synchronised? From chronyc, else timedatectl, else unknown."""
    if shutil.which("chronyc"):
        out = _run(["chronyc", "tracking"])
        if out:
            offset = re.search(r"System time\s*:\s*([\d.]+) seconds (fast|slow)", out)
            leap = re.search(r"Leap status\s*:\s*(.+)", out)
            return {
                "source": "chronyc",
                "synchronized": bool(leap and leap.group(1).strip() == "Normal"),
                "offset_s": (
                    float(offset.group(1)) * (1 if offset.group(2) == "fast" else -1)
                    if offset
                    else None
                ),
            }
    if shutil.which("timedatectl"):
        out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
        if out.strip() in ("yes", "no"):
            return {"source": "timedatectl", "synchronized": out.strip() == "yes", "offset_s": None}
    return {"source": None, "synchronized": None, "offset_s": None}


def host_interfaces() -> dict[str, list[str]]:
    """This host's interfaces and their addresses ("198.51.100.7/24"), from `ip -j
    addr`; names only when iproute2 is missing. Says which addresses were this host's
    when the capture is read elsewhere (behind NAT, several addresses)."""
    out = _run(["ip", "-j", "addr", "show"]) if shutil.which("ip") else ""
    try:
        links = json.loads(out) if out else []
    except ValueError:
        links = []
    if isinstance(links, list) and links:
        return {
            str(link.get("ifname", "")): [
                f"{a.get('local')}/{a.get('prefixlen')}" for a in link.get("addr_info", [])
            ]
            for link in links
            if isinstance(link, dict)
        }
    try:
        return {name: [] for _, name in socket.if_nameindex()}
    except OSError:
        return {}


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
