"""framing: where HTTP/1.x messages and TLS records end, and what track makes of it."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapdiff.framing import HttpFramer, TlsFramer, tls_exchange
from pcapdiff.model import ACK, FIN, PSH, RST, Exchange
from pcapdiff.track import track

from .test_track import handshake, seg

GET = b"GET /a.jpg HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
HEAD_REQ = b"HEAD /a.jpg HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
BODY = b"x" * 5000
LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + BODY
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1000;ext=1\r\n" + b"y" * 4096 + b"\r\n" + b"a\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"
)


def frame_all(
    stream: bytes, cuts: list[int], is_request: bool = False, methods: str = "GET"
) -> HttpFramer:
    """Feed ``stream`` split at ``cuts``, skipping what the framer allows as the fast
    path does (the skipped bytes are told, not shown)."""
    framer = HttpFramer(is_request, deque(methods.split() if not is_request else []))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    allowed = 0
    for piece in pieces:
        if len(piece) <= allowed:
            framer.skipped(len(piece))
            allowed -= len(piece)
        else:
            allowed = framer.feed(piece)
    return framer


@pytest.mark.parametrize(
    ("stream", "methods", "messages"),
    [
        (LENGTH, "GET", 1),
        (CHUNKED, "GET", 1),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD", 1),  # no body after HEAD
        (b"HTTP/1.1 204 No Content\r\n\r\n", "GET", 1),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "GET", 1),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + LENGTH, "GET", 1),  # interim, then the answer
        (LENGTH + CHUNKED + LENGTH, "GET GET GET", 3),  # keep-alive / pipelined
    ],
)
def test_responses_end_where_their_framing_says(stream: bytes, methods: str, messages: int) -> None:
    framer = frame_all(stream, [], methods=methods)
    assert framer.exchange_part() == (messages, 0, None, "")


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_segmentation_frames_the_same(data: st.DataObject) -> None:
    stream = LENGTH + CHUNKED + b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nabc"
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=40))))
    framer = frame_all(stream, cuts, methods="GET GET GET")
    assert framer.exchange_part() == (2, 3 + 38, 45, "")


def test_a_response_framed_by_close_ends_at_the_fin() -> None:
    framer = frame_all(b"HTTP/1.0 200 OK\r\n\r\nsome body", [])
    assert framer.exchange_part()[0] == 0
    framer.close()
    assert framer.exchange_part() == (1, 0, None, "")


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "malformed HTTP status line"),
        (b"HTTP/1.1 " + b"9" * 4301 + b" OK\r\n\r\n", "malformed HTTP status line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20000, "head over"),
    ],
)
def test_invalid_answers_stop_framing_and_say_why(stream: bytes, why: str) -> None:
    problem = frame_all(stream, []).exchange_part()[3]
    assert problem.startswith("invalid: ")
    assert why in problem


def test_an_oversized_content_length_is_not_a_length() -> None:
    """40 digits are no length a server means: the answer is framed by the close."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 40 + b"\r\n\r\n"
    framer = frame_all(head + b"abc", [])
    assert framer.exchange_part() == (0, len(head) + 3, None, "")
    framer.close()
    assert framer.exchange_part() == (1, 0, None, "")


def test_requests_are_counted_and_their_methods_kept_for_the_answers() -> None:
    methods: deque[str] = deque()
    client = HttpFramer(True, methods)
    post = b"POST /f HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    client.feed(GET + HEAD_REQ + post)
    assert client.messages == 3
    assert list(methods) == ["GET", "HEAD", "POST"]
    server = HttpFramer(False, methods)
    server.feed(LENGTH + b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n" + LENGTH)
    assert server.exchange_part() == (3, 0, None, "")


# --- through track: the fast path counts bodies off, RSTs snapshot the exchange -------


def exchange_of(segments: list) -> tuple[Exchange | None, Exchange | None]:  # type: ignore[type-arg]
    (conn,) = list(track(segments))
    return conn.exchange, conn.exchange_at_rst


def response_segments(body: bytes, mss: int = 1448, first_frame: int = 5) -> list:  # type: ignore[type-arg]
    out = []
    seq = 901
    for i in range(0, len(body), mss):
        out.append(
            seg(first_frame + len(out), False, ACK | PSH, seq, 101 + len(GET), body[i : i + mss])
        )
        seq += len(body[i : i + mss])
    return out


def test_track_frames_a_response_over_many_segments() -> None:
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 52000\r\n\r\n" + b"z" * 52000
    segments = [*handshake(), seg(4, True, ACK | PSH, 101, 901, GET), *response_segments(body)]
    end, at_rst = exchange_of(segments)
    assert end == Exchange(1, 1, 0, None, "", 5, end.answer_ts_ns if end else None)
    assert at_rst is None


def test_a_rst_mid_body_is_seen_with_how_much_had_come() -> None:
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 52317\r\n\r\n" + b"z" * 52317
    head_len = len(body) - 52317
    sent = response_segments(body[:1448])
    rst = seg(6, False, RST | ACK, 901 + 1448, 101 + len(GET))
    _, at_rst = exchange_of([*handshake(), seg(4, True, ACK | PSH, 101, 901, GET), *sent, rst])
    assert at_rst is not None
    assert (at_rst.requests, at_rst.responses) == (1, 0)
    assert at_rst.response_bytes == 1448
    assert at_rst.response_expected == 52317 + head_len


def test_a_rst_after_a_complete_response_finds_it_complete() -> None:
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    rst = seg(6, False, RST | ACK, 901 + len(body), 101 + len(GET))
    _, at_rst = exchange_of(
        [*handshake(), seg(4, True, ACK | PSH, 101, 901, GET), *response_segments(body), rst]
    )
    assert at_rst is not None
    assert (at_rst.requests, at_rst.responses, at_rst.response_bytes) == (1, 1, 0)


def test_a_hole_loses_the_framing() -> None:
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"z" * 5000
    segments = response_segments(body, mss=1000)
    del segments[2]  # never captured
    end, _ = exchange_of([*handshake(), seg(4, True, ACK | PSH, 101, 901, GET), *segments])
    assert end is not None
    assert end.problem == "lost"


def test_a_close_framed_response_ends_with_the_fin() -> None:
    body = b"HTTP/1.0 200 OK\r\n\r\nsome body"
    fin = seg(6, False, FIN | ACK, 901 + len(body), 101 + len(GET))
    end, _ = exchange_of(
        [*handshake(), seg(4, True, ACK | PSH, 101, 901, GET), *response_segments(body), fin]
    )
    assert end is not None
    assert (end.requests, end.responses) == (1, 1)


# --- TLS records ------------------------------------------------------------------------


def record(ctype: int, length: int) -> bytes:
    return bytes([ctype, 3, 3]) + length.to_bytes(2, "big") + b"\0" * length


def tls_framers(
    client_records: list[tuple[int, bytes]], server_records: list[tuple[int, bytes]]
) -> tuple[TlsFramer, TlsFramer]:
    client, server = TlsFramer(), TlsFramer()
    for frame, data in client_records:
        client.feed(data, frame, frame * 1000)
    for frame, data in server_records:
        server.feed(data, frame, frame * 1000)
    return client, server


HELLO = record(22, 512)
SERVER_FLIGHT = (
    record(22, 122)
    + record(20, 1)
    + record(23, 23)
    + record(23, 823)
    + record(23, 281)
    + record(23, 69)
)
FINISHED = record(20, 1) + record(23, 69)
TICKETS = record(23, 250) + record(23, 250)
REQUEST = record(23, 58)
RESPONSE = record(23, 57)


def test_tls13_tickets_are_not_an_answer() -> None:
    """As measured in the lab (OpenSSL): two 250-byte tickets after the client's
    Finished, then (or not) the 57-byte response."""
    silent = tls_framers(
        [(4, HELLO), (8, FINISHED), (10, REQUEST)], [(6, SERVER_FLIGHT), (9, TICKETS)]
    )
    assert tls_exchange(*silent, tls13=True)[:2] == (1, 0)
    answered = tls_framers(
        [(4, HELLO), (8, FINISHED), (10, REQUEST)],
        [(6, SERVER_FLIGHT), (9, TICKETS), (12, RESPONSE)],
    )
    got = tls_exchange(*answered, tls13=True)
    assert got[:2] == (1, 1)
    assert got.answer_frame == 12
    together = tls_framers(
        [(4, HELLO), (8, FINISHED), (10, REQUEST)], [(6, SERVER_FLIGHT), (11, TICKETS + RESPONSE)]
    )
    assert tls_exchange(*together, tls13=True)[:2] == (1, 1)


def test_tls12_application_data_after_the_request_is_the_answer() -> None:
    client, server = tls_framers(
        [(4, HELLO), (8, record(22, 70) + record(20, 1) + record(22, 40)), (10, REQUEST)],
        [(6, record(22, 3000)), (9, record(20, 1) + record(22, 40)), (12, RESPONSE)],
    )
    assert tls_exchange(client, server, tls13=False)[:2] == (1, 1)
    client, server = tls_framers([(4, HELLO), (10, REQUEST)], [(6, record(22, 3000))])
    assert tls_exchange(client, server, tls13=False)[:2] == (1, 0)


def test_garbage_is_not_a_tls_record() -> None:
    client, _ = tls_framers([(4, b"GET / HTTP/1.1\r\n\r\n")], [])
    assert client.problem == "invalid: not a TLS record"
