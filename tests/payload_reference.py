"""The Python first-message parsers the Rust core's replaced (core/src/payload.rs),
kept as the reference its differential test holds it to (tests/test_core.py)."""

from __future__ import annotations

import struct

from pcapdiff.model import Request, Response
from pcapdiff.text import wire_text

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


def _text(raw: bytes) -> str:
    return wire_text(raw)  # attacker-controlled: never raw to a terminal (text.py)


def parse_request(
    data: bytes, frame: int, final: bool = False, ts_ns: int | None = None
) -> Request | None:
    """The client's first message; ``None`` while more bytes could complete it."""
    if not data:
        return None
    if data[0] == 0x16 and len(data) > 1 and data[1] == 3:
        hello = _tls_handshake(data, 1)
        if hello is None:
            if final or len(data) >= MAX_HEAD_BYTES:
                return Request("tls", frame, ts_ns=ts_ns)
            return None
        return Request("tls", frame, version=_client_version(hello), host=_sni(hello), ts_ns=ts_ns)
    method = data.split(b" ", 1)[0]
    if method in HTTP_METHODS:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0 and not final and len(data) < MAX_HEAD_BYTES:
            return None
        line_end = data.find(b"\r\n")
        if line_end < 0:
            line_end = len(data)
        parts = data[:line_end].split(b" ")
        target = _text(parts[1]) if len(parts) > 1 else ""
        version = _text(parts[2]) if len(parts) > 2 else ""
        host = ""
        headers = data[line_end + 2 : head_end if head_end >= 0 else len(data)]
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"host":
                host = _text(value.strip())
                break
        return Request(
            "http",
            frame,
            method=_text(method),
            target=target,
            version=version,
            host=host,
            ts_ns=ts_ns,
        )
    return Request("other", frame, first_bytes=data[:16].hex(), ts_ns=ts_ns)


def parse_response(
    data: bytes, frame: int, final: bool = False, ts_ns: int | None = None
) -> Response | None:
    """The server's first message; ``None`` while more bytes could complete it."""
    if not data:
        return None
    if data.startswith(b"HTTP/"):
        line_end = data.find(b"\r\n")
        if line_end < 0:
            if not final and len(data) < MAX_HEAD_BYTES:
                return None
            line_end = len(data)
        line = data[:line_end]
        parts = line.split(b" ", 2)
        # A status is three digits (RFC 9110 section 15); anything else is a malformed
        # status line: status 0, the line itself (escaped) as the reason.
        if len(parts) > 1 and len(parts[1]) == 3 and parts[1].isdigit():
            status, reason = int(parts[1]), _text(parts[2]) if len(parts) > 2 else ""
        else:
            status, reason = 0, "malformed status line: " + _text(line[:200])
        return Response("http", frame, status=status, reason=reason, ts_ns=ts_ns)
    if len(data) > 1 and data[1] == 3 and data[0] in (0x15, 0x16):
        alert = tls_alert(data)
        if alert:
            return Response("tls", frame, alert=alert, ts_ns=ts_ns)
        hello = _tls_handshake(data, 2)
        if hello is None:
            if final or len(data) >= MAX_HEAD_BYTES:
                return Response("tls", frame, ts_ns=ts_ns)
            return None
        return Response("tls", frame, tls_version=_server_version(hello), ts_ns=ts_ns)
    return Response("other", frame, first_bytes=data[:16].hex(), ts_ns=ts_ns)


def tls_alert(payload: bytes) -> str:
    """'fatal handshake_failure' if ``payload`` starts with a cleartext TLS alert, else ''."""
    if len(payload) >= 7 and payload[0] == 0x15 and payload[1] == 3 and payload[3:5] == b"\x00\x02":
        level = {1: "warning", 2: "fatal"}.get(payload[5], f"level{payload[5]}")
        return f"{level} {TLS_ALERTS.get(payload[6], f'alert{payload[6]}')}"
    return ""


def _tls_handshake(data: bytes, msg_type: int) -> bytes | None:
    """The body of the first handshake message, joined across TLS records."""
    joined = bytearray()
    pos = 0
    while pos + 5 <= len(data):
        ctype, _ver, length = struct.unpack_from("!BHH", data, pos)
        if ctype != 0x16:
            break
        joined += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if len(joined) >= 4:
            if joined[0] != msg_type:
                return b""
            need = 4 + int.from_bytes(joined[1:4], "big")
            if len(joined) >= need:
                return bytes(joined[4:need])
    return None


def _extensions(hello: bytes, pos: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    if pos + 2 > len(hello):
        return out
    end = min(len(hello), pos + 2 + int.from_bytes(hello[pos : pos + 2], "big"))
    pos += 2
    while pos + 4 <= end:
        ext_type, length = struct.unpack_from("!HH", hello, pos)
        out.setdefault(ext_type, hello[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return out


def _client_extensions(hello: bytes) -> dict[int, bytes]:
    try:
        pos = 2 + 32
        pos += 1 + hello[pos]  # session id
        pos += 2 + int.from_bytes(hello[pos : pos + 2], "big")  # cipher suites
        pos += 1 + hello[pos]  # compression methods
    except IndexError:
        return {}
    return _extensions(hello, pos)


def _sni(hello: bytes) -> str:
    ext = _client_extensions(hello).get(0, b"")
    # server_name_list: u16 length, then (u8 type, u16 length, name)*
    pos = 2
    while pos + 3 <= len(ext):
        name_type, length = ext[pos], int.from_bytes(ext[pos + 1 : pos + 3], "big")
        if name_type == 0:
            return _text(ext[pos + 3 : pos + 3 + length])
        pos += 3 + length
    return ""


def _client_version(hello: bytes) -> str:
    if len(hello) < 2:
        return ""
    versions = _client_extensions(hello).get(43, b"")  # supported_versions
    offered = [int.from_bytes(versions[i : i + 2], "big") for i in range(1, len(versions) - 1, 2)]
    known = [v for v in offered if v in TLS_VERSIONS]
    best = max(known) if known else int.from_bytes(hello[:2], "big")
    return TLS_VERSIONS.get(best, f"0x{best:04x}")


def _server_version(hello: bytes) -> str:
    if len(hello) < 2:
        return ""
    version = int.from_bytes(hello[:2], "big")
    try:
        pos = 2 + 32
        pos += 1 + hello[pos]  # session id
        pos += 3  # cipher suite, compression method
        chosen = _extensions(hello, pos).get(43, b"")
        if len(chosen) == 2:
            version = int.from_bytes(chosen, "big")
    except IndexError:
        pass
    return TLS_VERSIONS.get(version, f"0x{version:04x}")
