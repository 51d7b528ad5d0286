"""The lab's transparent proxy that passes requests on, rewritten: a load balancer
that sets Host to its back end's name and X-Forwarded-For to the address it saw.

The middle namespace redirects the edge's connections to it (iptables REDIRECT); it
reads each request head, rewrites those two headers (adding X-Forwarded-For when the
request has none), opens its own connection to the origin, and relays the answer
back unchanged.

    python -m pcapdiff.lab.rewrite_proxy --listen 198.51.100.1 --port 3130 \\
        --origin 203.0.113.10 --host origin.internal

Prints "ready" once it listens; runs until killed (the lab stops it by its PID).
"""

from __future__ import annotations

import argparse
import socket

from .listener import serve_forever

MAX_HEAD = 65536
TIMEOUT_S = 10.0


def rewrite(head: bytes, host: str, client: str) -> bytes:
    """The request head with Host and X-Forwarded-For set; other lines as they were."""
    lines = head.split(b"\r\n")
    out = [lines[0]]
    forwarded = False
    for line in lines[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name == b"host":
            out.append(b"Host: " + host.encode())
        elif name == b"x-forwarded-for":
            out.append(b"X-Forwarded-For: " + client.encode())
            forwarded = True
        elif line:
            out.append(line)
    if not forwarded:
        out.append(b"X-Forwarded-For: " + client.encode())
    return b"\r\n".join(out) + b"\r\n\r\n"


def relay(conn: socket.socket, client: str, origin: str, port: int, host: str) -> None:
    with conn:
        conn.settimeout(TIMEOUT_S)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        request, _, rest = head.partition(b"\r\n\r\n")
        with socket.create_connection((origin, port), timeout=TIMEOUT_S) as upstream:
            upstream.sendall(rewrite(request, host, client) + rest)
            while True:
                answer = upstream.recv(65536)
                if not answer:
                    break
                conn.sendall(answer)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="the address to listen on")
    parser.add_argument("--port", type=int, required=True, help="the port to listen on")
    parser.add_argument("--origin", required=True, help="the origin's address")
    parser.add_argument("--origin-port", type=int, default=80, help="the origin's port")
    parser.add_argument("--host", required=True, help="the Host the origin is sent")
    args = parser.parse_args(argv)
    serve_forever(
        args.listen,
        args.port,
        lambda conn, peer: relay(conn, peer, args.origin, args.origin_port, args.host),
    )


if __name__ == "__main__":
    main()
