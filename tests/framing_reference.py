"""The Python framers the Rust core's replaced (core/src/framing.rs), kept as the
reference its differential test holds it to (tests/test_core.py)."""

from __future__ import annotations

from collections import deque

from pcapdiff.framing import (
    BODY,
    CHUNK_DATA,
    CHUNK_SIZE,
    DONE,
    HEAD,
    MAX_HTTP_HEAD_BYTES,
    MAX_LINE_BYTES,
    MAX_METHODS,
    MAX_RECORDS_KEPT,
    TRAILER,
    UNBOUNDED,
    UNTIL_CLOSE,
)

STATUS_PREFIX = b"HTTP/1."  # every HTTP/1.x response starts so (RFC 9112 section 4)
# TLS record content types (RFC 8446 section 5.1).
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
RECORD_HEADER = 5


class HttpFramer:
    """HTTP/1.x message boundaries of one direction of a connection."""

    __slots__ = (
        "buf",
        "expected",
        "is_request",
        "message_bytes",
        "messages",
        "methods",
        "problem",
        "remaining",
        "state",
    )

    def __init__(self, is_request: bool, methods: deque[str]) -> None:
        self.is_request = is_request
        self.methods = methods  # the requests' methods in order, shared with the peer
        self.state = HEAD
        self.buf = bytearray()  # the head or line being read
        self.remaining = 0  # body or chunk bytes still to come
        self.messages = 0  # complete messages (interim 1xx responses not counted)
        self.message_bytes = 0  # bytes of the message in progress so far
        self.expected: int | None = None  # its whole size, once its head says
        self.problem = ""  # "lost" or "invalid: ..." once framing stopped

    def skipped(self, n: int) -> None:
        """``n`` bytes went by on the fast path, inside what ``feed`` allowed."""
        if self.state in (BODY, CHUNK_DATA):
            self._body(n)
        elif self.state == UNTIL_CLOSE:
            self.message_bytes += n

    def _body(self, n: int) -> None:
        """``n`` bytes of a body or chunk (no more than remain), seen or skipped."""
        self.remaining -= n
        self.message_bytes += n
        if not self.remaining:
            if self.state == BODY:
                self._complete()
            else:
                self.state = CHUNK_SIZE

    def feed(self, data: bytes | memoryview) -> int:
        """The next in-order bytes; returns how many after them may pass unseen."""
        view = memoryview(data)
        while view and self.state != DONE:
            if self.state == HEAD:
                view = self._head(view)
            elif self.state in (BODY, CHUNK_DATA):
                take = min(self.remaining, len(view))
                self._body(take)
                view = view[take:]
            elif self.state in (CHUNK_SIZE, TRAILER):
                view = self._line(view)
            else:  # UNTIL_CLOSE
                self.message_bytes += len(view)
                break
        return self.allowance()

    def allowance(self) -> int:
        if self.state in (BODY, CHUNK_DATA):
            return self.remaining
        if self.state in (UNTIL_CLOSE, DONE):
            return UNBOUNDED
        return 0

    def lose(self) -> None:
        """A hole in the stream: where the messages end is unknown from here on."""
        if not self.problem:
            self.problem = "lost"
        self.state = DONE

    def close(self) -> None:
        """The sender's FIN: a response framed by the close is complete."""
        if self.state == UNTIL_CLOSE:
            self._complete()

    def exchange_part(self) -> tuple[int, int, int | None, str]:
        """(complete messages, bytes of the one in progress, its size, problem)."""
        in_progress = self.message_bytes if self._started() else 0
        return self.messages, in_progress, self.expected if in_progress else None, self.problem

    def _started(self) -> bool:
        return (self.message_bytes > 0 and self.state != DONE) or self.state == UNTIL_CLOSE

    def _invalid(self, why: str) -> memoryview:
        self.problem = f"invalid: {why}"
        self.state = DONE
        return memoryview(b"")

    def _complete(self) -> None:
        self.messages += 1
        self.message_bytes = 0
        self.expected = None
        self.state = HEAD

    def _head(self, view: memoryview) -> memoryview:
        start = max(0, len(self.buf) - 3)
        self.buf += view
        if not self.is_request and not self.buf.startswith(STATUS_PREFIX[: len(self.buf)]):
            return self._invalid("the answer is not an HTTP/1.x status line")
        end = self.buf.find(b"\r\n\r\n", start)
        if end < 0:
            if len(self.buf) > MAX_HTTP_HEAD_BYTES:
                return self._invalid(f"a message head over {MAX_HTTP_HEAD_BYTES} bytes")
            self.message_bytes += len(view)
            return memoryview(b"")
        head_len = end + 4
        used = head_len - (len(self.buf) - len(view))  # of this view
        head = bytes(self.buf[:head_len])
        self.buf.clear()
        self.message_bytes += used
        rest = view[used:]
        if not self._begin(head, head_len):
            return memoryview(b"")
        return rest

    def _begin(self, head: bytes, head_len: int) -> bool:
        """A whole head read: decide how its body is framed. False: stop framing."""
        line, _, fields = head[:-4].partition(b"\r\n")
        headers = _headers(fields)
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        length = _content_length(headers.get(b"content-length"))
        if self.is_request:
            method = line.split(b" ", 1)[0].decode("latin-1")
            if len(self.methods) < MAX_METHODS:
                self.methods.append(method)
            no_body = not chunked and length is None
        else:
            if not line.startswith(b"HTTP/1."):
                self._invalid("the answer is not an HTTP/1.x status line")
                return False
            status_text = line[9:12]
            if len(line) < 12 or not status_text.isdigit() or line[12:13] not in (b"", b" "):
                self._invalid("a malformed HTTP status line")
                return False
            status = int(status_text)
            if 100 <= status < 200 and status != 101:
                self.message_bytes = 0  # an interim answer: the real one follows
                return True
            method = self.methods.popleft() if self.methods else ""
            if status == 101:  # the stream is another protocol from here
                self.state = UNTIL_CLOSE
                return True
            no_body = method == "HEAD" or status in (204, 304)
            if not no_body and not chunked and length is None:
                self.state = UNTIL_CLOSE
                return True
        if no_body:
            self._complete()
        elif chunked:
            self.state = CHUNK_SIZE
        else:
            assert length is not None
            if length == 0:
                self._complete()
            else:
                self.state, self.remaining, self.expected = BODY, length, head_len + length
        return True

    def _line(self, view: memoryview) -> memoryview:
        """A chunk-size line (then the chunk) or a trailer line (an empty one ends it)."""
        start = max(0, len(self.buf) - 1)
        self.buf += view
        end = self.buf.find(b"\r\n", start)
        if end < 0:
            if len(self.buf) > MAX_LINE_BYTES:
                return self._invalid("a chunk line over 4096 bytes")
            self.message_bytes += len(view)
            return memoryview(b"")
        used = end + 2 - (len(self.buf) - len(view))
        line = bytes(self.buf[:end])
        self.buf.clear()
        self.message_bytes += used
        rest = view[used:]
        if self.state == TRAILER:
            if not line:
                self._complete()
            return rest
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16) if len(size_text) <= 16 else -1
        except ValueError:
            size = -1
        if size < 0:
            return self._invalid("a malformed chunk size")
        if size == 0:
            self.state = TRAILER
        else:
            self.state, self.remaining = CHUNK_DATA, size + 2  # the chunk and its CRLF
        return rest


def _headers(fields: bytes) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for line in fields.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep:
            out.setdefault(name.strip().lower(), value.strip())
    return out


def _content_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    value = value.split(b",", 1)[0].strip()  # repeated identical values are allowed
    return int(value) if value.isdigit() and len(value) <= 18 else None


class TlsFramer:
    """TLS record boundaries of one direction; counts application data records."""

    __slots__ = (
        "app_count",
        "app_records",
        "buf",
        "problem",
        "remaining",
        "state",
    )

    def __init__(self) -> None:
        self.buf = bytearray()
        self.remaining = 0  # bytes of the current record's body still to come
        self.state = HEAD
        # (frame, ts_ns, length) of the first application data records, and their count
        self.app_records: list[tuple[int, int, int]] = []
        self.app_count = 0
        self.problem = ""

    def skipped(self, n: int) -> None:
        if self.state == BODY:
            self.remaining -= n
            if not self.remaining:
                self.state = HEAD

    def feed(self, data: bytes | memoryview, frame: int, ts_ns: int) -> int:
        view = memoryview(data)
        while view and self.state != DONE:
            if self.state == BODY:
                take = min(self.remaining, len(view))
                self.remaining -= take
                view = view[take:]
                if not self.remaining:
                    self.state = HEAD
                continue
            need = RECORD_HEADER - len(self.buf)
            self.buf += view[:need]
            view = view[need:]
            if len(self.buf) < RECORD_HEADER:
                break
            ctype, major = self.buf[0], self.buf[1]
            length = int.from_bytes(self.buf[3:5], "big")
            self.buf.clear()
            if ctype not in (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA) or major != 3:
                self.problem = "invalid: not a TLS record"
                self.state = DONE
                break
            if ctype == APPLICATION_DATA:
                self.app_count += 1
                if len(self.app_records) < MAX_RECORDS_KEPT:
                    self.app_records.append((frame, ts_ns, length))
            if length:
                self.state, self.remaining = BODY, length
        return self.remaining if self.state == BODY else 0

    def lose(self) -> None:
        if not self.problem:
            self.problem = "lost"
        self.state = DONE
