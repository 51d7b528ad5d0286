"""pcapdiff probe against real servers in a namespace this test creates: every verdict."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcapdiff import compare
from pcapdiff.capture import read_sidecar
from pcapdiff.cli import main
from pcapdiff.probe import ProbeSpec

ADDR = "192.0.2.1"

SERVERS = f"""
import socket, ssl, struct, sys, threading, time
def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("{ADDR}", port))
    s.listen(16)
    return s
def loop(s, handle):
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
def ok(c):
    c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
    c.close()
def silent(c):
    c.recv(65536)
    time.sleep(60)
def reset(c):
    c.recv(65536)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
def tls(c):
    try:
        ok(ctx.wrap_socket(c, server_side=True))
    except Exception:
        c.close()
for port, handle in ((8080, ok), (8083, silent), (8084, reset), (8443, tls)):
    threading.Thread(target=loop, args=(listen(port), handle), daemon=True).start()
print("ready", flush=True)
time.sleep(300)
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A namespace with 192.0.2.1 on its loopback, servers on it, port 8082 dropped."""
    name = f"pcapdiff-p{os.getpid()}"
    tmp = tmp_path_factory.mktemp("probe")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=origin.example",
            "-addext",
            "subjectAltName=DNS:origin.example",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        for argv in (
            ["ip", "-n", name, "link", "set", "lo", "up"],
            ["ip", "-n", name, "addr", "add", f"{ADDR}/32", "dev", "lo"],
            [
                "ip",
                "netns",
                "exec",
                name,
                "iptables",
                "-A",
                "INPUT",
                "-p",
                "tcp",
                "--dport",
                "8082",
                "-j",
                "DROP",
            ],
        ):
            subprocess.run(argv, check=True, capture_output=True, timeout=30)
        server = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", SERVERS, str(cert), str(key)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        yield name
    finally:
        for pid in subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
        ).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def run_probe(ns: str, *args: str) -> tuple[int, list[dict[str, object]], str]:
    proc = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            sys.executable,
            "-m",
            "pcapdiff",
            "probe",
            "--json",
            "--connect-timeout",
            "1",
            "--read-timeout",
            "1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


@pytest.mark.requires_root
@pytest.mark.parametrize(
    ("url", "extra", "verdict", "status"),
    [
        ("http://origin.example:8080/a.jpg", (), "ok", 200),
        ("http://origin.example:8081/", (), "521", None),  # nothing listens
        ("http://origin.example:8082/", (), "522", None),  # iptables DROP
        ("http://origin.example:8083/", (), "524", None),  # never answers
        ("http://origin.example:8084/", (), "520", None),  # RST after the request
        ("https://origin.example:8443/", (), "525", None),  # self-signed certificate
        ("https://origin.example:8443/", ("--insecure",), "ok", 200),
    ],
    ids=["ok", "521", "522", "524", "520", "525", "tls-insecure-ok"],
)
def test_each_verdict(
    lab: str, url: str, extra: tuple[str, ...], verdict: str, status: int | None
) -> None:
    code, attempts, err = run_probe(lab, url, "--origin-ip", ADDR, *extra)
    assert [a["verdict"] for a in attempts] == [verdict], err
    assert attempts[0]["http_status"] == status
    assert code == (0 if verdict == "ok" else 1)
    if verdict not in ("521", "522"):
        assert str(attempts[0]["local"]).startswith(f"{ADDR}:")


@pytest.mark.requires_root
@pytest.mark.requires_tcpdump
def test_capture_while_probing(lab: str, tmp_path: Path) -> None:
    pcap = tmp_path / "edge.pcap"
    code, attempts, err = run_probe(
        lab,
        "http://origin.example:8084/",
        "--origin-ip",
        ADDR,
        "--count",
        "2",
        "--capture",
        str(pcap),
    )
    assert code == 1, err
    assert [a["verdict"] for a in attempts] == ["520", "520"]
    meta = read_sidecar(pcap)
    assert meta is not None
    assert meta.role == "edge"
    result = compare(pcap)  # the edge capture alone: each attempt, and why
    assert [(v.outcome.value, str(v.pair.edge.client)) for v in result.verdicts] == [
        ("rst_after_request", a["local"]) for a in attempts
    ]


def test_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "ftp://x/", "--origin-ip", ADDR]) == 2
    assert "http:// or https://" in capsys.readouterr().err
    assert main(["probe", "http://x/", "--origin-ip", "not-an-ip"]) == 2
    assert main(["probe", "http://x/", "--origin-ip", ADDR, "-H", "no colon"]) == 2
    with pytest.raises(ValueError, match="bad header"):
        ProbeSpec("http://x/", ADDR, headers=(("X", "a\r\nb"),))
