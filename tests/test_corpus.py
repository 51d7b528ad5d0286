"""Real captures from other projects (../shared/corpus/public): robust, and tshark agrees.

Every file either succeeds or exits 2 with one line naming it; never a traceback or a
hang. For every file tshark reads cleanly, our per-file counts of TCP packets, SYNs,
SYN-ACKs and RSTs equal tshark's, except the deliberate differences listed below.
"""

from __future__ import annotations

import csv
import functools
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pcapdiff import read_connections
from pcapdiff.cli import main
from pcapdiff.decode import decode
from pcapdiff.errors import PcapdiffError
from pcapdiff.model import CaptureSummary
from pcapdiff.read import read

from .conftest import CORPUS, IN_CI

FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".tsv", ".md"))
if not FILES:
    if IN_CI:
        raise RuntimeError(f"CI must run the corpus tests, but {CORPUS} has no captures")
    pytest.skip(
        f"public corpus not found at {CORPUS} (set PCAPDIFF_CORPUS to its folder)",
        allow_module_level=True,
    )

# file -> why our counts (or exit code) differ from tshark's, on purpose. All of these
# are refused with exit 2, except those in COUNTED_DIFFERENTLY, which are read.
DELIBERATE = {
    "dpkt/nb6-http.pcap": "10 TCP packets tunnelled in L2TP over UDP: tunnels are not "
    "decapsulated (origin pulls are not tunnelled)",
    "pcapplusplus/microsecs_big_endian.pcap": "NETLINK link type carries no IP: exit 2",
    "pcapplusplus/pcapng-example.pcapng.zst": "zstd compression: exit 2, 'decompress it "
    "first (zstd -d FILE)'",
    "pcapplusplus/solaris.snoop": "Solaris snoop is not pcap: exit 2 naming editcap",
    "zeek/radiotap.pcap": "802.11 radiotap link type is not decoded: exit 2",
}
COUNTED_DIFFERENTLY = {"dpkt/nb6-http.pcap"}


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def expired(*_: object) -> None:
        raise TimeoutError(f"no answer within {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def name(path: Path) -> str:
    return str(path.relative_to(CORPUS))


@pytest.mark.parametrize("path", FILES, ids=name)
def test_every_file_succeeds_or_fails_in_one_line(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with deadline(120):
        code = main(["conns", "--json", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 2)
    assert "Traceback" not in err
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, err
        assert str(path) in errors[0]


@functools.cache
def tshark_counts(path: Path) -> tuple[int, tuple[int, int, int, int]]:
    proc = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "tcp", "-T", "fields", "-e", "tcp.flags"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    flags = [int(x, 16) for x in proc.stdout.split()]
    return proc.returncode, _counts(flags)


def _counts(flags: list[int]) -> tuple[int, int, int, int]:
    return (
        len(flags),
        sum(1 for f in flags if f & 0x12 == 0x02),
        sum(1 for f in flags if f & 0x12 == 0x12),
        sum(1 for f in flags if f & 0x04),
    )


@pytest.mark.requires_tshark
@pytest.mark.parametrize("path", FILES, ids=name)
def test_counts_agree_with_tshark(path: Path) -> None:
    code, expected = tshark_counts(path)
    if code != 0:
        return  # tshark could not read it all: nothing to compare (covered above)
    summary = CaptureSummary(path=str(path))
    if name(path) in DELIBERATE and name(path) not in COUNTED_DIFFERENTLY:
        with pytest.raises(PcapdiffError):
            list(decode(read(path, summary), summary))
        return
    flags = [s.flags for s in decode(read(path, summary), summary)]
    if name(path) in DELIBERATE:
        assert _counts(flags) != expected, f"{name(path)} now agrees: drop it from DELIBERATE"
        return
    assert _counts(flags) == expected
    assert summary.tcp_packets == expected[0]


def test_zeek_baselines() -> None:
    """conn_state and history equal what Zeek logged for the same traces."""
    with open(CORPUS / "zeek" / "ZEEK_BASELINES.tsv") as tsv:
        rows = list(csv.DictReader(tsv, delimiter="\t"))
    assert len(rows) >= 9
    for row in rows:
        conns, _ = read_connections(CORPUS / row["trace"])
        ours = {
            (c.conn_state, c.history) for c in conns if row["orig_p"] in ("-", str(c.client.port))
        }
        assert any(h == row["history"] and row["conn_state"] in ("-", s) for s, h in ours), (
            row["trace"],
            row["conn_state"],
            row["history"],
            ours,
        )
