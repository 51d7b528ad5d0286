"""Text off the wire, made safe to show: one function for every packet- and sidecar-derived string.

A capture is attacker-controlled: a Host header or a TLS server name can carry
terminal escape sequences (ESC[2J, OSC window titles, OSC 8 links), NUL, a bare
line feed that forges table rows, the 8-bit controls U+0080-U+009F (U+009B is CSI),
or bidi overrides (U+202E) that reorder what a reader sees. Bytes are decoded as
UTF-8; bytes that are not UTF-8 and every control or bidi character become visible
escapes (``\\x1b``, ``\\x9b``, ``\\u202e``), so the text reads the same in a terminal,
a pipe, JSON and HTML. Printable text, ASCII or not, is left as it is.
"""

from __future__ import annotations

import re

# C0 controls and DEL, C1 controls, bidi marks and overrides (U+061C, U+200E/F,
# U+202A-U+202E, U+2066-U+2069), line and paragraph separators, the BOM, and the
# surrogates that stand for bytes that were not UTF-8 (errors="surrogateescape").
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff"
    "\udc80-\udcff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """``text`` with every control, bidi or undecodable character as a visible escape."""
    return _UNSAFE.sub(_escape, text)


def wire_text(raw: bytes) -> str:
    """Bytes from a packet as text that is safe to show anywhere."""
    return safe_text(raw.decode("utf-8", errors="surrogateescape"))
