"""The metadata sidecar FILE.json that `pcapdiff capture` writes beside a capture.

The record and its reader live in the library, since ``compare`` reads them (the
capture's role, the time it ran, its clock, kernel drops); the writer lives in
``capture/``. A sidecar is input like the capture itself: a field of the wrong type
makes the whole sidecar unusable (``None``), never an exception.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .text import safe_text

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


# The type each field must have to be used; numbers must also be finite.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "role": (str,),
    "host": (str,),
    "interface": (str,),
    "filter": (str,),
    "argv": (list,),
    "tool_version": (str,),
    "start": (int, float),
    "stop": (int, float, type(None)),
    "packets_captured": (int, type(None)),
    "packets_dropped_by_kernel": (int, type(None)),
    "clock": (dict,),
    "interfaces": (dict,),
    "sniffer": (str,),
    "schema": (str,),
}


def sidecar_path(capture: Path | str) -> Path:
    return Path(f"{capture}.json")


def read_sidecar(capture: Path | str) -> CaptureMeta | None:
    """The sidecar of a capture, or None when there is none (or it is not ours).
    A rotated file (ring.pcap03, as tcpdump -C/-W names it) shares ring.pcap.json."""
    path = sidecar_path(capture)
    ring = re.fullmatch(r"(.+?)\d+", str(capture))
    if not path.exists() and ring is not None:
        path = sidecar_path(ring.group(1))
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    fields = {k: v for k, v in data.items() if k in _FIELD_TYPES}
    for name, value in fields.items():
        if isinstance(value, bool) and name not in ("clock",):
            return None  # JSON true is an int to Python
        if not isinstance(value, _FIELD_TYPES[name]):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return None
    for name, value in fields.items():  # a sidecar's text is input too: shown escaped
        if isinstance(value, str):
            fields[name] = safe_text(value)
    try:
        return CaptureMeta(**fields)
    except TypeError:  # a required field is missing
        return None


def capture_ports(meta: CaptureMeta | None) -> set[int]:
    """The ports a capture was filtered on (`pcapdiff capture --port N` writes
    ``port N`` into its filter): the user named them, so they are origin pulls."""
    if meta is None:
        return set()
    return {int(p) for p in re.findall(r"\bport (\d{1,5})\b", meta.filter) if 0 < int(p) < 65536}
