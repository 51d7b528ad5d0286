"""pcapdiff: pair the connections of two packet captures and say whose fault a 52x was.

Library first: everything the command line does is a call here.

>>> from pcapdiff import read_connections
>>> conns, summary = read_connections("fixtures/pcaps/conns/http_ok.pcap")
"""

from __future__ import annotations

from .conns import ConnectionScan, ScanOptions, read_connections, scan_connections
from .errors import CaptureError, PcapdiffError, PcapFormatError, UnsupportedLinkType
from .model import CaptureSummary, Connection, Endpoint

__all__ = [
    "CaptureError",
    "CaptureSummary",
    "Connection",
    "ConnectionScan",
    "Endpoint",
    "PcapFormatError",
    "PcapdiffError",
    "ScanOptions",
    "UnsupportedLinkType",
    "read_connections",
    "scan_connections",
]
__version__ = "0.1.0"
