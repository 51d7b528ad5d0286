"""Reproduce the origin pull: `curl --resolve`, with a CDN's verdict for each attempt.

Each attempt connects to the origin's address directly (the URL's host goes in the
Host header and the TLS SNI), sends one request, and says what a CDN would have
answered: ok, 520 (reset or empty/garbled reply), 521 (refused), 522 (connect timed
out or unreachable), 524 (no response before the read timeout), 525 (TLS handshake
failed); or "local" when this host could not even try (no route, no permission):
that is not something a CDN would have seen. The timers default to EdgeOne's
(connect 5 s, read 15 s); no verdict elsewhere in pcapdiff depends on them.

Each socket is bound before it connects, so every attempt, the failed ones above all,
has the local address:port to find it by in a capture; and each ends with a normal
close (FIN both ways), not the abortive RST a bare close() sends when data is unread
(``abort=True`` resets on purpose).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from .framing import HEAD, HttpFramer

MAX_HEAD_BYTES = 64 * 1024
# A normal close waits this long, reading at most this much, for the origin's FIN.
CLOSE_WAIT_S = 1.0
CLOSE_DRAIN_BYTES = 1 << 20
# Errors of this host's own stack: the SYN never left (no route, no permission).
LOCAL_ERRNOS = {
    errno.ENETUNREACH,
    errno.EACCES,
    errno.EPERM,
    errno.EADDRNOTAVAIL,
    errno.EAFNOSUPPORT,
}
TLS_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class ProbeSpec:
    """What to request, from which address, how often, with which timers."""

    url: str
    origin_ip: str
    count: int = 1
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    insecure: bool = False  # do not verify the origin's certificate
    tls_min: str | None = None  # "1.0" .. "1.3": the TLS versions the CDN offers
    tls_max: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    interval_s: float = 0.0
    abort: bool = False  # end each connection with a RST instead of a normal close

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{self.url!r}: give an http:// or https:// URL with a host")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port is not None and not 0 < port < 65536:
            shown = parts.netloc.rpartition(":")[2]
            raise ValueError(f"{self.url!r}: {shown!r} is not a port (1-65535)")
        try:
            ascii_host(parts.hostname)
        except UnicodeError:
            raise ValueError(f"{self.url!r}: the host name cannot be encoded (IDNA)") from None
        if self.count < 1:
            raise ValueError("count must be at least 1")
        for version in (self.tls_min, self.tls_max):
            if version is not None and version not in TLS_VERSIONS:
                raise ValueError(f"TLS version {version!r}: give one of {', '.join(TLS_VERSIONS)}")
        if self.tls_min and self.tls_max and self.tls_min > self.tls_max:
            raise ValueError(f"--tls-min {self.tls_min} is above --tls-max {self.tls_max}")
        for name, value in self.headers:
            if not name or any(c in name + value for c in "\r\n"):
                raise ValueError(f"bad header {name!r}")
            if not (name + value).isascii():
                raise ValueError(f"header {name!r}: names and values must be ASCII")


class Attempt(NamedTuple):
    """One attempt and what a CDN would have answered."""

    n: int
    verdict: str  # "ok", "520", "521", "522", "524", "525"; "local": this host's error
    http_status: int | None
    local: str  # this host's addr:port, to find the attempt in a capture
    connect_ms: float | None
    tls_ms: float | None
    first_byte_ms: float | None
    total_ms: float
    detail: str


def _progress(framer: HttpFramer) -> str:
    """How far the answer came: "after 1,041 of 50,041 response bytes"."""
    _, got, expected, _ = framer.exchange_part()
    if expected:
        return f"after {got:,} of {expected:,} response bytes"
    return f"after {got:,} response bytes"


def ascii_host(host: str) -> str:
    """The host as it goes on the wire (IDNA; an address as it is). UnicodeError for a
    name IDNA cannot encode (a label over 63 characters, an empty one), which TLS
    would refuse as the server name."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return host.encode("idna").decode("ascii")


def host_header(host: str) -> str:
    """The Host header for the URL's host: an IPv6 literal goes in brackets."""
    host = ascii_host(host)
    return f"[{host}]" if ":" in host else host


def request_target(path: str, query: str) -> str:
    """The path and query as a client sends them: what is not ASCII, percent-encoded."""
    target = quote(path or "/", safe="/%:@!$&'()*+,;=-._~")
    if query:
        target += "?" + quote(query, safe="/%:@!$&'()*+,;=-._~?")
    return target


def probe(spec: ProbeSpec) -> Iterator[Attempt]:
    """Run ``spec.count`` attempts, one after another; each is yielded as it ends."""
    for n in range(1, spec.count + 1):
        if n > 1 and spec.interval_s:
            time.sleep(spec.interval_s)
        yield _attempt(spec, n)


def _attempt(spec: ProbeSpec, n: int) -> Attempt:
    parts = urlsplit(spec.url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    path = request_target(parts.path, parts.query)
    start = time.monotonic()

    def ms() -> float:
        return round((time.monotonic() - start) * 1000, 3)

    def result(
        verdict: str,
        detail: str,
        *,
        status: int | None = None,
        local: str = "",
        connect: float | None = None,
        tls: float | None = None,
        first: float | None = None,
    ) -> Attempt:
        return Attempt(n, verdict, status, local, connect, tls, first, ms(), detail)

    family = socket.AF_INET6 if ":" in spec.origin_ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(spec.connect_timeout_s)
    conn: socket.socket = sock
    try:
        try:
            local = _bind(sock, family, spec.origin_ip, port)
        except OSError as exc:
            return result("local", f"local error: {_local_reason(exc, spec.origin_ip)}")
        try:
            sock.connect((spec.origin_ip, port))
        except ConnectionRefusedError:
            return result("521", "connection refused (RST answered the SYN)", local=local)
        except TimeoutError:
            why = f"no answer to the SYN within {spec.connect_timeout_s:g} s"
            return result("522", why, local=local)
        except OSError as exc:
            if exc.errno in LOCAL_ERRNOS:
                why = f"local error: {_local_reason(exc, spec.origin_ip)}"
                return result("local", why, local=local)
            return result("522", f"cannot connect: {exc.strerror or exc}", local=local)
        connect_ms = ms()
        tls_ms = None
        if https:
            context = ssl.create_default_context()
            if spec.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if spec.tls_min:
                context.minimum_version = TLS_VERSIONS[spec.tls_min]
            if spec.tls_max:
                context.maximum_version = TLS_VERSIONS[spec.tls_max]
            if spec.tls_max in ("1.0", "1.1") or spec.tls_min in ("1.0", "1.1"):
                context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses them otherwise
            try:
                conn = context.wrap_socket(sock, server_hostname=ascii_host(host))
            except ssl.SSLCertVerificationError as exc:
                return result(
                    "525",
                    f"certificate rejected: {exc.verify_message}",
                    local=local,
                    connect=connect_ms,
                )
            except (ssl.SSLError, OSError) as exc:
                return result(
                    "525", f"TLS handshake failed: {exc}", local=local, connect=connect_ms
                )
            tls_ms = ms()
        extra = "".join(f"{k}: {v}\r\n" for k, v in spec.headers)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host_header(host)}\r\nUser-Agent: pcapdiff-probe\r\n"
            f"Accept: */*\r\nConnection: close\r\n{extra}\r\n"
        )
        conn.settimeout(spec.read_timeout_s)
        # The answer is read whole, framed as the tracker frames it (Content-Length,
        # chunked, or the close): a body cut short is the 520 a CDN would give.
        framer = HttpFramer(False, deque(["GET"]))
        head = b""
        received = 0
        first_ms = None

        def answered(
            verdict: str, detail: str, first: float | None, status: int | None = None
        ) -> Attempt:
            return result(
                verdict,
                detail,
                status=status,
                local=local,
                connect=connect_ms,
                tls=tls_ms,
                first=first,
            )

        # --read-timeout is a deadline for the answer's head (a trickle of one byte at a
        # time must not keep it waiting for ever), then the longest pause in its body.
        head_due = time.monotonic() + spec.read_timeout_s
        try:
            conn.sendall(request.encode("ascii"))
            while not framer.messages and not framer.problem:
                if framer.state == HEAD:
                    left = head_due - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    conn.settimeout(left)
                else:
                    conn.settimeout(spec.read_timeout_s)
                chunk = conn.recv(65536)
                if not chunk:
                    framer.close()
                    break
                first_ms = first_ms or ms()
                received += len(chunk)
                if len(head) < MAX_HEAD_BYTES:
                    head += chunk[: MAX_HEAD_BYTES - len(head)]
                framer.feed(chunk)
        except TimeoutError:
            if not received:
                return answered("524", f"no response within {spec.read_timeout_s:g} s", None)
            why = f"the answer stalled {_progress(framer)} for {spec.read_timeout_s:g} s"
            return answered("524", why, first_ms)
        except (ConnectionResetError, ssl.SSLError, OSError) as exc:
            where = "after the request" if not received else _progress(framer)
            return answered("520", f"connection reset {where} ({exc})", first_ms)
        if not received:
            return answered("520", "the origin closed without a response", None)
        if framer.problem:
            return answered("520", f"not an HTTP response: {head[:40]!r}", first_ms)
        if not framer.messages:
            return answered(
                "520", f"the origin closed the connection {_progress(framer)}", first_ms
            )
        status = int(head[9:12])  # three digits: the framer checked the status line
        return answered("ok", f"HTTP {status}", first_ms, status)
    finally:
        _close(conn, sock, spec.abort)


def _bind(sock: socket.socket, family: int, origin_ip: str, port: int) -> str:
    """Bind to the address the kernel would pick for the origin (a UDP socket's route
    lookup: nothing is sent) and a free port: the attempt's local address:port is
    known before the SYN leaves, whatever happens to it. OSError: no route here."""
    with socket.socket(family, socket.SOCK_DGRAM) as route:
        route.connect((origin_ip, port))
        source = route.getsockname()[0]
    sock.bind((source, 0))
    name = sock.getsockname()
    return f"[{name[0]}]:{name[1]}" if family == socket.AF_INET6 else f"{name[0]}:{name[1]}"


def _local_reason(exc: OSError, origin_ip: str) -> str:
    what = exc.strerror or str(exc)
    if exc.errno == errno.ENETUNREACH:
        return f"{what} (this host has no route to {origin_ip})"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{what} (a local firewall rule or policy refused the connection)"
    return what


def _close(conn: socket.socket, sock: socket.socket, abort: bool) -> None:
    """End the connection as a client should: our FIN, then read (briefly, boundedly)
    until the origin's, so nothing unread turns close() into a RST. No TLS
    close_notify: sent after the origin closed, it would draw the origin's RST.
    ``abort``: reset on purpose (SO_LINGER 0). ``conn`` is the TLS socket, when there
    is one (wrapping detached ``sock`` from the descriptor)."""
    with contextlib.suppress(OSError, ValueError):
        if abort:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            raw = socket.socket(fileno=conn.fileno()) if isinstance(conn, ssl.SSLSocket) else conn
            try:
                raw.shutdown(socket.SHUT_WR)
                raw.settimeout(CLOSE_WAIT_S)
                deadline, drained = time.monotonic() + CLOSE_WAIT_S, 0
                while drained < CLOSE_DRAIN_BYTES and time.monotonic() < deadline:
                    chunk = raw.recv(65536)  # TLS records after the answer: discarded
                    if not chunk:
                        break
                    drained += len(chunk)
            finally:
                if raw is not conn:
                    raw.detach()  # the descriptor stays conn's, closed below
    with contextlib.suppress(OSError):
        conn.close()
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def capturing(
    spec: ProbeSpec,
    output: Path | None,
    note: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Run `pcapdiff capture --role edge` on the attempts' traffic while the block
    runs (``output`` None: no capture): started before the first SYN, stopped after
    the last packets are in. Raises the capture's PcapdiffError if it cannot start."""
    if output is None:
        yield
        return
    from .capture import CaptureSpec, run_capture
    from .errors import PcapdiffError

    parts = urlsplit(spec.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    cap = CaptureSpec(role="edge", output=output, peers=(spec.origin_ip,), ports=(port,))
    stop, ready, failure = threading.Event(), threading.Event(), []

    def run() -> None:
        try:
            run_capture(cap, stop=stop, started=lambda _command: ready.set(), fallback=note)
        except PcapdiffError as exc:
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="probe-capture")
    thread.start()
    ready.wait(30)
    if failure:
        thread.join(30)
        raise failure[0]
    try:
        yield
    finally:
        stop.wait(0.5)  # let the last packets reach the capture
        stop.set()
        thread.join(60)
