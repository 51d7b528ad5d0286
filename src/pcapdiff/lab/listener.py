"""What the lab's programs in the middle share: listen, say "ready", and hand each
connection to a thread until killed (the lab stops them by their PIDs)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def serve_forever(address: str, port: int, handle: Callable[[socket.socket, str], None]) -> None:
    """Accept on ``address``:``port``; ``handle(conn, peer address)`` in a thread each."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(64)
    print("ready", flush=True)
    while True:
        conn, peer = server.accept()
        threading.Thread(target=handle, args=(conn, peer[0]), daemon=True).start()
