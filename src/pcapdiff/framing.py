"""Where each message of one direction of a TCP stream begins and ends (part of track).

``track`` feeds a framer the stream's bytes in sequence order. It looks only at
message boundaries: an HTTP/1.x head, a chunk-size line, a TLS record header. For
the bytes in between it returns how many may pass unseen (``feed``'s result), which
the tracker's fast path counts off with one subtraction per packet.

- HTTP/1.x (RFC 9112 section 6): a message ends by Content-Length, the chunked
  terminator, no body (1xx, 204, 304, a response to HEAD), or, for a response with
  none of these, the server's FIN. A response that does not start ``HTTP/1.`` is
  invalid; so is a head over ``MAX_HTTP_HEAD_BYTES``.
- TLS (RFC 8446 section 5.1): records by their 5-byte headers; application data
  after the handshake is what the client asks and the server answers. Which records
  are still handshake depends on the version, which the tracker tells the framer.

A hole in the stream (bytes the capture never saw) loses the framing: the framer
says so and stops looking. Nothing here raises on garbage.

The framers are the Rust core's (core/src/framing.rs: ``HttpFramer(is_request,
methods)`` with the connection's shared deque of request methods, ``TlsFramer()``);
the constants below are theirs, and ``tls_exchange`` reads their records.
"""

from __future__ import annotations

from . import _core
from ._core import HttpFramer, TlsFramer
from .model import Exchange

__all__ = ["HttpFramer", "TlsFramer", "tls_exchange"]

# The framers' states and limits, as the core defines them.
HEAD, BODY, CHUNK_SIZE, CHUNK_DATA = _core.HEAD, _core.BODY, _core.CHUNK_SIZE, _core.CHUNK_DATA
TRAILER, UNTIL_CLOSE, DONE = _core.TRAILER, _core.UNTIL_CLOSE, _core.DONE
UNBOUNDED = _core.UNBOUNDED  # "skip everything from here on"
MAX_HTTP_HEAD_BYTES = _core.MAX_HTTP_HEAD_BYTES  # a longer head is not one a server takes
MAX_LINE_BYTES = _core.MAX_LINE_BYTES  # a chunk-size or trailer line
MAX_METHODS = _core.MAX_METHODS  # requests kept waiting for their responses (pipelining)
MAX_RECORDS_KEPT = _core.MAX_RECORDS_KEPT  # TLS application data records remembered


def tls_exchange(client: TlsFramer, server: TlsFramer, tls13: bool) -> Exchange:
    """What the application data records say: the requests the client sent after its
    Finished, and whether the server answered one.

    TLS 1.2 sends no handshake message as application data. TLS 1.3 (RFC 8446) sends
    the client's Finished as its first application data record, the server's first
    flight before it, and the server's session tickets (section 4.6.1) right after it.
    A server record counts as an answer when it comes after the client's request,
    less a leading run of two or more equal-length records of at most
    ``TICKET_MAX_BYTES`` after the client's Finished: the tickets. (Measured in the lab:
    OpenSSL sends two 250-byte tickets, then the response. A lone record after the
    Finished counts as an answer: were it a ticket, a silent origin goes unblamed.)
    """
    skip = 1 if tls13 else 0
    records = client.app_records
    requests = max(0, client.app_count - skip)
    request = records[skip] if len(records) > skip else None
    after = server.app_records
    if tls13 and records:
        finished_frame = records[0][0]
        after = [r for r in after if r[0] >= finished_frame]
        run = 0
        while run < len(after) and after[run][2] == after[0][2] and after[0][2] <= TICKET_MAX_BYTES:
            run += 1
        if run >= 2:
            after = after[run:]
    answers = [r for r in after if request is not None and r[0] >= request[0]]
    first = answers[0] if answers else None
    return Exchange(
        requests=requests,
        responses=1 if first is not None and requests else 0,
        response_bytes=0,
        response_expected=None,
        problem=client.problem or server.problem,
        answer_frame=first[0] if first is not None else None,
        answer_ts_ns=first[1] if first is not None else None,
    )


TICKET_MAX_BYTES = 512
