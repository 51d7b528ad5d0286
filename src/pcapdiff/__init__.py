"""pcapdiff: pair the connections of two packet captures and say whose fault a 52x was.

Library first: everything the command line does is a call here.

>>> from pcapdiff import compare
>>> result = compare("edge.pcap", "origin.pcap")
>>> [(v.outcome.value, v.culprit.value) for v in result.verdicts]
"""

from __future__ import annotations

from .compare import compare
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
    "read_connections",
    "scan_connections",
]
__version__ = "0.1.0"
