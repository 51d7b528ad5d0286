"""Writing the metadata sidecar FILE.json beside every capture (read by ``meta``)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import CaptureError
from ..meta import CaptureMeta, read_sidecar, sidecar_path

__all__ = [
    "CaptureMeta",
    "begun",
    "clock_state",
    "host_interfaces",
    "read_sidecar",
    "sidecar_path",
    "write_sidecar",
]


def begun(
    role: str, interface: str, capture_filter: str, argv: list[str], version: str, sniffer: str
) -> CaptureMeta:
    """The sidecar of a capture starting now: who captures what, where, and the clock."""
    return CaptureMeta(
        role=role,
        host=socket.gethostname(),
        interface=interface,
        filter=capture_filter,
        argv=argv,
        tool_version=version,
        start=time.time(),
        clock=clock_state(),
        interfaces=host_interfaces(),
        sniffer=sniffer,
    )


def write_sidecar(capture: Path, meta: CaptureMeta) -> Path:
    """Write FILE.json beside the capture; CaptureError when the disk says no."""
    path = sidecar_path(capture)
    try:
        path.write_text(json.dumps(asdict(meta), indent=1) + "\n")
    except OSError as exc:
        raise CaptureError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


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
