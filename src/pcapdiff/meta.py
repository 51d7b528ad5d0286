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
    """The sidecar of a capture, or None when there is none (or it is not usable).
    A rotated file (ring.pcap03, as tcpdump -C/-W names it) shares ring.pcap.json."""
    return load_sidecar(capture)[0]


def load_sidecar(capture: Path | str) -> tuple[CaptureMeta | None, str]:
    """The sidecar and, when one is there but cannot be used, why (naming the field)."""
    path = sidecar_path(capture)
    ring = re.fullmatch(r"(.+?)\d+", str(capture))
    if not path.exists() and ring is not None:
        path = sidecar_path(ring.group(1))
    if not path.exists():
        return None, ""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return None, f"{path}: not readable as JSON ({safe_text(str(exc))}); ignored"
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None, ""  # another tool's JSON beside the file: not ours to judge
    fields = {k: v for k, v in data.items() if k in _FIELD_TYPES}
    for name, value in fields.items():
        wanted = _FIELD_TYPES[name]
        wrong = (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted)
        if not wrong and isinstance(value, float) and not math.isfinite(value):
            wrong = True
        if wrong:
            kinds = " or ".join("null" if t is type(None) else t.__name__ for t in wanted)
            shown = safe_text(repr(value)[:40])
            return None, f"{path}: field {name!r} is {shown}, not {kinds}; the sidecar is ignored"
    for name, value in fields.items():  # a sidecar's text is input too: shown escaped
        if isinstance(value, str):
            fields[name] = safe_text(value)
    missing = [
        n
        for n in ("role", "host", "interface", "filter", "argv", "tool_version", "start")
        if n not in fields
    ]
    if missing:
        return None, f"{path}: field {missing[0]!r} is missing; the sidecar is ignored"
    return CaptureMeta(**fields), ""


def capture_ports(meta: CaptureMeta | None) -> set[int]:
    """The ports a capture was filtered on (`pcapdiff capture --port N` writes
    ``port N`` into its filter): the user named them, so they are origin pulls."""
    if meta is None:
        return set()
    return {int(p) for p in re.findall(r"\bport (\d{1,5})\b", meta.filter) if 0 < int(p) < 65536}
