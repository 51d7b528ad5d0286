"""The lab's origin: a small server per failure an origin can have, on each address given.

    python -m pcapdiff.lab.origin --cert CERT --key KEY ADDR [ADDR ...]

Prints "ready" once every port listens. Each port is one behaviour (``SERVICES``);
the lab's scenarios and the probe tests connect to the one they need. Runs inside a
network namespace the lab made; it never exits on its own before an hour.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable

OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
BODY_BYTES = 50_000  # the body of the mid-body reset and of the large answer
SLOW_S = 0.5
LIFETIME_S = 3600

Handler = Callable[[socket.socket], None]


def reset(sock: socket.socket) -> None:
    """Close with a RST: SO_LINGER with a zero timeout (RFC 9293 section 3.6, abort)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def ok(sock: socket.socket) -> None:
    sock.recv(65536)
    sock.sendall(OK_RESPONSE)
    sock.close()


def slow(sock: socket.socket) -> None:
    time.sleep(SLOW_S)
    ok(sock)


def silent(sock: socket.socket) -> None:
    sock.recv(65536)
    time.sleep(120)


def reset_after_request(sock: socket.socket) -> None:
    sock.recv(65536)
    reset(sock)


def reset_mid_body(sock: socket.socket) -> None:
    """The head and the first part of a 50,000-byte body, then a RST."""
    sock.recv(65536)
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {BODY_BYTES}\r\n\r\n".encode()
    sock.sendall(head + b"x" * 1000)
    time.sleep(0.1)
    reset(sock)


def reset_after_response(sock: socket.socket) -> None:
    """The whole answer, then a RST instead of a FIN: no failure for the CDN."""
    sock.recv(65536)
    sock.sendall(OK_RESPONSE)
    time.sleep(0.1)
    reset(sock)


def trickle(sock: socket.socket) -> None:
    """The answer's head one byte every 0.4 s: alive, and never in time."""
    sock.recv(65536)
    for byte in OK_RESPONSE:
        sock.sendall(bytes([byte]))
        time.sleep(0.4)
    sock.close()


def huge_status(sock: socket.socket) -> None:
    """A status code of 5,000 digits: once an int() crash in the probe."""
    sock.recv(65536)
    sock.sendall(b"HTTP/1.1 " + b"9" * 5000 + b" OK\r\nContent-Length: 0\r\n\r\n")
    sock.close()


def large(sock: socket.socket) -> None:
    """An answer in full-size segments: what a path MTU black hole swallows."""
    sock.recv(65536)
    sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {BODY_BYTES}\r\n\r\n".encode())
    sock.sendall(b"y" * BODY_BYTES)
    time.sleep(30)  # keep the connection while the edge waits in vain
    sock.close()


def tls(context: ssl.SSLContext, then: Handler) -> Handler:
    """Complete the TLS handshake, then behave as ``then`` on the TLS socket."""

    def handle(sock: socket.socket) -> None:
        try:
            then(context.wrap_socket(sock, server_side=True))
        except (OSError, ssl.SSLError):
            sock.close()

    return handle


def services(cert: str, key: str) -> dict[int, Handler]:
    any_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    any_tls.load_cert_chain(cert, key)
    tls13 = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls13.minimum_version = ssl.TLSVersion.TLSv1_3
    tls13.load_cert_chain(cert, key)
    return {
        80: ok,
        8083: silent,
        8084: reset_after_request,
        8085: slow,
        8086: reset_mid_body,
        8087: reset_after_response,
        8088: large,
        8089: trickle,
        8090: huge_status,
        8443: tls(any_tls, ok),  # self-signed: a CDN does not trust it
        8445: tls(tls13, ok),  # TLS 1.3 only
        8446: tls(any_tls, silent),  # the handshake, then nothing
        8447: tls(any_tls, reset_after_request),
    }


def serve(addr: str, port: int, handle: Handler) -> None:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((addr, port))
    listener.listen(64)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("addrs", nargs="+", metavar="ADDR")
    args = parser.parse_args()
    for addr in args.addrs:
        for port, handle in services(args.cert, args.key).items():
            serve(addr, port, handle)
    print("ready", flush=True)
    time.sleep(LIFETIME_S)


if __name__ == "__main__":
    main()
