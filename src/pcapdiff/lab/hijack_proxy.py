"""The lab's transparent proxy that answers for the origin: an ISP's block page.

The middle namespace redirects the edge's connections to it (iptables REDIRECT); it
answers every request with a 302 to a block page the origin never sent.

    python -m pcapdiff.lab.hijack_proxy --listen 198.51.100.1 --port 3129

Prints "ready" once it listens; runs until killed (the lab stops it by its PID).
"""

from __future__ import annotations

import argparse
import socket

from .listener import serve_forever

BLOCK_PAGE = (
    b"HTTP/1.1 302 Found\r\nLocation: http://192.0.2.80/blocked.html\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
)


def answer(conn: socket.socket) -> None:
    with conn:
        conn.recv(65536)
        conn.sendall(BLOCK_PAGE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="the address to listen on")
    parser.add_argument("--port", type=int, required=True, help="the port to listen on")
    args = parser.parse_args(argv)
    serve_forever(args.listen, args.port, lambda conn, _peer: answer(conn))


if __name__ == "__main__":
    main()
