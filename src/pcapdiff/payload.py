"""What the first bytes of each direction say: HTTP request/status, TLS hellos and alerts.

Used by ``track`` on the reassembled start of each stream. Every parser is total: it
returns a record, or ``None`` when it needs more bytes, and never raises on garbage.
The parsing is the Rust core's (core/src/payload.rs); text from the wire comes back
escaped as ``text.wire_text`` escapes it.
"""

from __future__ import annotations

from . import _core
from .model import Request, Response

MAX_HEAD_BYTES: int = _core.MAX_HEAD_BYTES  # how much of a stream's start is looked at


def parse_request(
    data: bytes, frame: int, final: bool = False, ts_ns: int | None = None
) -> Request | None:
    """The client's first message; ``None`` while more bytes could complete it."""
    fields = _core.parse_request(data, final)
    if fields is None:
        return None
    kind, method, target, version, host, first_bytes = fields
    return Request(kind, frame, method, target, version, host, first_bytes, ts_ns)


def parse_response(
    data: bytes, frame: int, final: bool = False, ts_ns: int | None = None
) -> Response | None:
    """The server's first message; ``None`` while more bytes could complete it."""
    fields = _core.parse_response(data, final)
    if fields is None:
        return None
    kind, status, reason, tls_version, alert, first_bytes = fields
    return Response(kind, frame, status, reason, tls_version, alert, first_bytes, ts_ns)


def tls_alert(payload: bytes) -> str:
    """'fatal handshake_failure' if ``payload`` starts with a cleartext TLS alert, else ''."""
    return _core.tls_alert(payload)
