"""What the first bytes of each direction say: HTTP request/status, TLS hellos and alerts.

Used by ``track`` on the reassembled start of each stream. Every parser is total: it
returns a record, or ``None`` when it needs more bytes, and never raises on garbage.
The parsing is the Rust core's (core/src/payload.rs); text from the wire comes back
escaped as ``text.wire_text`` escapes it. The tables stay here for the renderers.
"""

from __future__ import annotations

from . import _core
from .model import Request, Response

TLS_VERSIONS = {
    0x0300: "SSL 3.0",
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
}
# RFC 8446 section 6.2 and the TLS Alert registry.
TLS_ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    21: "decryption_failed",
    22: "record_overflow",
    30: "decompression_failure",
    40: "handshake_failure",
    41: "no_certificate",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    60: "export_restriction",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    100: "no_renegotiation",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    113: "bad_certificate_status_response",
    115: "unknown_psk_identity",
    116: "certificate_required",
    120: "no_application_protocol",
}
HTTP_METHODS = (
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PRI",
    b"PROPFIND",
    b"MKCOL",
    b"COPY",
    b"MOVE",
)
MAX_HEAD_BYTES = 8192  # how much of a stream's start we reassemble and look at


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
