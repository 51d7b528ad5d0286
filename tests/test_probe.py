"""pcapdiff probe against real servers in a namespace this test creates: every verdict."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcapdiff import compare
from pcapdiff.capture import read_sidecar
from pcapdiff.cli import main
from pcapdiff.lab import origin_servers_argv, self_signed_certificate
from pcapdiff.probe import ProbeSpec, host_header

from .conftest import loopback_namespace

ADDR = "192.0.2.1"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A namespace with 192.0.2.1 on its loopback, the lab's origin servers on it
    (80 answers, 8083 silent, 8084 resets, 8443 TLS), and port 8082 dropped."""
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("probe"), "origin.example")
    with loopback_namespace("p", ADDR) as name:
        subprocess.run(
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
            check=True,
            capture_output=True,
            timeout=30,
        )
        server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                name,
                *origin_servers_argv(cert, key, ADDR),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        yield name


def run_probe(
    ns: str, *args: str, path: str | None = None
) -> tuple[int, list[dict[str, object]], str]:
    """`pcapdiff probe --json` in the namespace; ``path``: the PATH it runs with."""
    proc = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            *(["env", f"PATH={path}"] if path is not None else []),
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
        ("http://origin.example:80/a.jpg", (), "ok", 200),
        ("http://origin.example:8081/", (), "521", None),  # nothing listens
        ("http://origin.example:8082/", (), "522", None),  # iptables DROP
        ("http://origin.example:8083/", (), "524", None),  # never answers
        ("http://origin.example:8084/", (), "520", None),  # RST after the request
        ("http://origin.example:8086/", (), "520", None),  # RST mid-body
        ("http://origin.example:8090/", (), "520", None),  # a 5,000-digit status code
        ("https://origin.example:8443/", (), "525", None),  # self-signed certificate
        ("https://origin.example:8443/", ("--insecure",), "ok", 200),
        # 8445 speaks only TLS 1.3
        ("https://origin.example:8445/", ("-k", "--tls-max", "1.2"), "525", None),
        ("https://origin.example:8445/", ("-k", "--tls-min", "1.3"), "ok", 200),
    ],
    ids=[
        "ok",
        "521",
        "522",
        "524",
        "520",
        "520-mid-body",
        "520-huge-status",
        "525",
        "tls-insecure-ok",
        "tls-max-below-origin",
        "tls-min-1.3",
    ],
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
    if "--tls-max" in extra:
        assert "PROTOCOL_VERSION" in str(attempts[0]["detail"])  # the origin's alert


@pytest.mark.requires_root
@pytest.mark.requires_tcpdump
@pytest.mark.parametrize("sniffer", ["tcpdump", "scapy"])
def test_capture_while_probing(lab: str, tmp_path: Path, sniffer: str) -> None:
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
        path=str(tmp_path) if sniffer == "scapy" else None,  # no tcpdump on that PATH
    )
    assert code == 1, err
    assert [a["verdict"] for a in attempts] == ["520", "520"]
    assert ("note: tcpdump is not installed" in err) == (sniffer == "scapy")
    meta = read_sidecar(pcap)
    assert meta is not None
    assert meta.role == "edge"
    assert meta.sniffer == sniffer
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
    assert main(["probe", "https://x/", "--origin-ip", ADDR, "--tls-max", "1.4"]) == 2
    assert "'1.4' is not one of" in capsys.readouterr().err
    args = ["--tls-min", "1.3", "--tls-max", "1.2"]
    assert main(["probe", "https://x/", "--origin-ip", ADDR, *args]) == 2
    assert "--tls-min 1.3 is above --tls-max 1.2" in capsys.readouterr().err


def test_host_header_brackets_an_ipv6_literal() -> None:
    assert host_header("www.example.com") == "www.example.com"
    assert host_header("2001:db8::10") == "[2001:db8::10]"  # from http://[2001:db8::10]/


def test_what_a_url_or_header_can_hold(capsys: pytest.CaptureFixture[str]) -> None:
    """Ports out of range or not numbers, hosts IDNA cannot encode, non-ASCII headers:
    each one line and exit 2 (they were tracebacks); non-ASCII paths are sent as a
    client sends them, percent-encoded."""
    for url, said in (
        ("http://x:99999/", "'99999' is not a port"),
        ("http://x:abc/", "'abc' is not a port"),
        ("http://x:0/", "'0' is not a port"),
        ("https://" + "a" * 70 + ".example/", "cannot be encoded"),
    ):
        assert main(["probe", url, "--origin-ip", ADDR]) == 2, url
        err = capsys.readouterr().err
        assert said in err, err
        assert err.count("\n") == 1
    assert main(["probe", "http://x/", "--origin-ip", ADDR, "-H", "X-Name: caf\u00e9"]) == 2
    assert "must be ASCII" in capsys.readouterr().err
    from pcapdiff.probe import ascii_host, request_target

    assert request_target("/caf\u00e9 a.jpg", "q=\u00fc") == "/caf%C3%A9%20a.jpg?q=%C3%BC"
    assert request_target("/already%20done", "") == "/already%20done"
    assert ascii_host("b\u00fccher.example") == "xn--bcher-kva.example"


@pytest.mark.requires_root
def test_read_timeout_is_a_deadline_for_the_head(lab: str) -> None:
    """An origin trickling its head a byte every 0.4 s kept a 1 s probe going 22 s and
    was judged ok; the answer's head must come within --read-timeout."""
    started = time.monotonic()
    code, attempts, err = run_probe(lab, "http://origin.example:8089/", "--origin-ip", ADDR)
    assert [a["verdict"] for a in attempts] == ["524"], err
    assert time.monotonic() - started < 10
    assert code == 1


@pytest.mark.requires_root
def test_each_attempt_is_printed_as_it_ends(lab: str) -> None:
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            lab,
            sys.executable,
            "-m",
            "pcapdiff",
            "probe",
            "--json",
            "--count",
            "3",
            "--interval",
            "2",
            "http://origin.example/",
            "--origin-ip",
            ADDR,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    started = time.monotonic()
    first = json.loads(proc.stdout.readline())
    assert first["n"] == 1
    assert time.monotonic() - started < 3.5  # long before the last of three, 4 s later
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.requires_root
def test_failed_attempts_say_their_local_address(lab: str) -> None:
    """The 521s and 522s are the attempts one must find in a capture: bound before
    connecting, they have their address:port like any other."""
    for port, verdict in ((8081, "521"), (8082, "522")):
        code, attempts, err = run_probe(lab, f"http://origin.example:{port}/", "--origin-ip", ADDR)
        assert [a["verdict"] for a in attempts] == [verdict], err
        assert re.fullmatch(r"192\.0\.2\.1:\d+", str(attempts[0]["local"])), attempts
        assert code == 1


@pytest.mark.requires_root
def test_a_local_failure_is_not_a_522(lab: str) -> None:
    """The namespace has no route to 203.0.113.50: no SYN ever left, no CDN would
    have said 522."""
    code, attempts, err = run_probe(lab, "http://origin.example/", "--origin-ip", "203.0.113.50")
    assert [a["verdict"] for a in attempts] == ["local"], err
    assert "no route to 203.0.113.50" in str(attempts[0]["detail"])
    assert code == 2
    text = subprocess.run(
        [*ns_python(lab), "probe", "http://origin.example/", "--origin-ip", "203.0.113.50"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert text.stdout.splitlines()[-1] == "1 attempt: 1 × local error (Network is unreachable)"  # noqa: RUF001


def ns_python(ns: str) -> list[str]:
    return ["ip", "netns", "exec", ns, sys.executable, "-m", "pcapdiff"]


@pytest.mark.requires_root
@pytest.mark.requires_tcpdump
@pytest.mark.parametrize(("extra", "client_resets"), [((), 0), (("--abort-close",), 1)])
def test_the_probe_closes_normally_unless_asked(
    lab: str, tmp_path: Path, extra: tuple[str, ...], client_resets: int
) -> None:
    """A probe's own RST in a capture reads like trouble; only --abort-close sends it."""
    from pcapdiff import read_connections

    pcap = tmp_path / "edge.pcap"
    for url, args in (
        ("http://origin.example/a.jpg", ()),
        ("https://origin.example:8443/", ("-k",)),
    ):
        _code, attempts, err = run_probe(
            lab, url, "--origin-ip", ADDR, *args, *extra, "--capture", str(pcap)
        )
        assert [a["verdict"] for a in attempts] == ["ok"], err
        conns, _ = read_connections(pcap)
        ours = [c for c in conns if str(c.client) == attempts[0]["local"]]
        assert len(ours) == 1, (url, conns)
        resets = [r for r in ours[0].resets if r.sender == "client"]
        assert len(resets) == client_resets, (url, ours[0].history)
        if not client_resets:
            assert ours[0].conn_state == "SF", (url, ours[0].history)


@pytest.mark.requires_root
def test_a_summary_line_after_the_attempts(lab: str) -> None:
    text = subprocess.run(
        [
            *ns_python(lab),
            "probe",
            "--connect-timeout",
            "0.5",
            "--count",
            "3",
            "http://origin.example:8082/",
            "--origin-ip",
            ADDR,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = text.stdout.splitlines()
    assert len(lines) == 4, text.stdout
    assert all(re.match(r"#\d 522 192\.0\.2\.1:\d+ ", line) for line in lines[:3]), lines
    assert lines[3] == "3 attempts: 3 × 522 (no answer to the SYN)"  # noqa: RUF001
    assert text.returncode == 1
    done = run_probe(lab, "http://origin.example/", "--origin-ip", ADDR, "--count", "2")
    assert [a["verdict"] for a in done[1]] == ["ok", "ok"]  # --json: the attempts only
