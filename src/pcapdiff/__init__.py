"""pcapdiff: pair the connections of two packet captures and say whose fault a 52x was.

Library first: everything the command line does is a call here.

>>> from pcapdiff import compare
>>> result = compare("edge.pcap", "origin.pcap")
>>> [(v.outcome.value, v.culprit.value) for v in result.verdicts]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .conns import ConnectionScan, ScanOptions, read_connections, scan_connections
from .errors import CaptureError, PcapdiffError, PcapFormatError, UnsupportedLinkType
from .model import (
    CaptureSummary,
    Comparison,
    Connection,
    Culprit,
    Endpoint,
    Outcome,
    Verdict,
)

__all__ = [
    "CaptureError",
    "CaptureSummary",
    "Comparison",
    "Connection",
    "ConnectionScan",
    "Culprit",
    "Endpoint",
    "Outcome",
    "PcapFormatError",
    "PcapdiffError",
    "ScanOptions",
    "UnsupportedLinkType",
    "Verdict",
    "compare",
    "compare_streaming",
    "read_connections",
    "scan_connections",
]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .comparison import compare, compare_streaming


def __getattr__(name: str) -> object:
    # compare's modules are imported when first asked for: `pcapdiff conns` (a tenth
    # of a second in all, against tcpdump's third of one) does not pay for them.
    if name in ("compare", "compare_streaming"):
        from . import comparison

        return getattr(comparison, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
