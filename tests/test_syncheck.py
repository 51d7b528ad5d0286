"""`pcapdiff syncheck` (issue 12, item 4): every SYN of an origin capture accounted
for, per source and per network, on crafted captures and on recorded lab captures,
its JSON held to docs/json.md and its exit codes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import wrpcap

from pcapdiff.syncheck import (
    Fate,
    check_syns,
    parse_sources,
    read_sources_file,
    retransmission_pattern,
)

from .conftest import ROOT
from .test_desk import pcapdiff as run_pcapdiff

RECORDED = ROOT / "fixtures" / "pcaps" / "recorded"
ORIGIN = "203.0.113.10"
T0 = 1_764_000_000.0


def pcapdiff(*args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a child process, laid out for ``columns`` (else piped: 160)."""
    return run_pcapdiff(*args, env={"COLUMNS": str(columns)} if columns else None)


def _at(packet: Packet, t: float) -> Packet:
    framed = Ether() / packet  # one link type for IPv4 and IPv6 alike
    framed.time = T0 + t
    return framed


def syn(src: str, sport: int, t: float, port: int = 80, seq: int = 1000) -> Packet:
    return _at(IP(src=src, dst=ORIGIN) / TCP(sport=sport, dport=port, flags="S", seq=seq), t)


def from_origin(dst: str, dport: int, flags: str, t: float, port: int = 80) -> Packet:
    tcp = TCP(sport=port, dport=dport, flags=flags, seq=5000, ack=1001)
    return _at(IP(src=ORIGIN, dst=dst) / tcp, t)


def ack(src: str, sport: int, t: float, port: int = 80) -> Packet:
    return _at(IP(src=src, dst=ORIGIN) / TCP(sport=sport, dport=port, flags="A", seq=1001), t)


def every_fate(path: Path) -> Path:
    """One source per fate, and one IPv6 source answered; the capture ends at 30 s."""
    ok, silent, icmp, closed, lost, late = (f"198.51.100.{n}" for n in (1, 2, 3, 4, 5, 6))
    quoted = IP(src=icmp, dst=ORIGIN) / TCP(sport=40003, dport=80, flags="S", seq=1000)
    packets = [
        syn(ok, 40001, 0.0),
        from_origin(ok, 40001, "SA", 0.0001),
        ack(ok, 40001, 0.002),
        # Linux's backoff: 1, 2, 4 s between SYNs, nothing back
        *(syn(silent, 40002, t) for t in (1.0, 2.0, 4.0, 8.0)),
        syn(icmp, 40003, 2.0),
        _at(IP(src=ORIGIN, dst=icmp) / ICMP(type=3, code=13) / bytes(quoted)[:28], 2.0001),
        syn(closed, 40004, 3.0, port=81),
        from_origin(closed, 40004, "RA", 3.0001, port=81),
        syn(lost, 40005, 4.0),
        from_origin(lost, 40005, "SA", 4.0001),
        syn(lost, 40005, 5.0),
        from_origin(lost, 40005, "SA", 5.0001),
        _at(
            IPv6(src="2001:db8:cd::7", dst="2001:db8:2::10")
            / TCP(sport=40006, dport=80, flags="S", seq=7),
            6.0,
        ),
        _at(
            IPv6(src="2001:db8:2::10", dst="2001:db8:cd::7")
            / TCP(sport=80, dport=40006, flags="SA", seq=9, ack=8),
            6.0001,
        ),
        _at(
            IPv6(src="2001:db8:cd::7", dst="2001:db8:2::10")
            / TCP(sport=40006, dport=80, flags="A", seq=8, ack=10),
            6.001,
        ),
        syn(late, 40007, 29.8),  # answer due at 30.8 s, after the capture's end
        ack(ok, 40999, 10.0),  # a connection under way when the capture began
        ack(ok, 40001, 30.0),
    ]
    wrpcap(str(path), packets)
    return path


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return every_fate(tmp_path_factory.mktemp("syncheck") / "origin.pcap")


def test_every_fate_on_its_source(crafted: Path) -> None:
    check = check_syns(crafted)
    verdicts = {address: tally.verdict for address, tally in check.sources.items()}
    assert verdicts == {
        "198.51.100.1": "answered",
        "198.51.100.2": "unanswered",
        "198.51.100.3": "refused_icmp",
        "198.51.100.4": "refused",
        "198.51.100.5": "incomplete",
        "2001:db8:cd::7": "answered",
        "198.51.100.6": "undetermined",
    }
    silent = check.sources["198.51.100.2"]
    assert (silent.attempts, silent.syns, silent.synacks) == (1, 4, 0)
    assert silent.example_intervals == (1.0, 2.0, 4.0)
    assert dict(silent.patterns) == {"backing off (intervals doubling)": 1}
    assert silent.examples[Fate.UNANSWERED] == [4]  # frame of its first SYN
    assert dict(check.sources["198.51.100.3"].icmp) == {
        "communication administratively prohibited": 1
    }
    lost = check.sources["198.51.100.5"]
    assert (lost.syns, lost.synacks) == (2, 2)
    assert check.total.attempts == 7
    assert check.without_syn == 1  # said, not counted
    assert check.verdict == "unanswered"  # the worst fate names the whole
    assert check.end_source == "last packet"
    assert any("no recorded end" in w for w in check.warnings)


def test_ports_and_networks_select(crafted: Path) -> None:
    check = check_syns(crafted, parse_sources(["198.51.100.0/29", "192.0.2.0/24"]), [80])
    assert "198.51.100.4" not in check.sources  # its SYN went to port 81
    assert "2001:db8:cd::7" not in check.sources
    assert check.not_selected == 1  # the IPv6 source, to port 80
    net = check.by_network["198.51.100.0/29"]
    assert (net.addresses, net.attempts, net.verdict) == (5, 5, "unanswered")
    assert check.by_network["192.0.2.0/24"].verdict == "not_seen"
    assert check.ports == (80,)


def test_retransmission_patterns() -> None:
    assert retransmission_pattern([1.0]) == "retransmitted once"
    assert retransmission_pattern([1.0, 2.0, 4.0, 8.0]).startswith("backing off")
    assert retransmission_pattern([3.0, 3.0, 3.1]) == "fixed interval"
    assert retransmission_pattern([1.0, 5.0, 0.5]) == "irregular"


def test_text_report_cites_frames_and_next_steps(crafted: Path) -> None:
    done = pcapdiff("syncheck", str(crafted), columns=200)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "verdict: unanswered: the SYN reached this host and nothing was sent back" in out
    assert "7 attempts (11 SYNs)" in out
    assert "1 unanswered (frame 4)" in out
    assert "1 connection without a SYN in the capture (under way when it began) not counted" in out
    assert "backing off (intervals doubling) (1.0 s, 2.0 s, 4.0 s)" in out
    assert "1 refused by ICMP (frame 8)" in out
    assert "ICMP errors sent back: 1 communication administratively prohibited (frame 9)" in out
    assert "nstat -az TcpExtListenOverflows" in out
    assert "ip route get CLIENT" in out  # the incomplete handshake's step
    assert "warning: no recorded end" in done.stderr
    lines = out.splitlines()
    # the worst source first, the answered ones last
    rows = [line.split()[0] for line in lines if re.match(r"^(198|2001)", line)]
    assert rows.index("198.51.100.2") < rows.index("198.51.100.1")


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_text_fits_any_width(crafted: Path, columns: int) -> None:
    done = pcapdiff("syncheck", str(crafted), "--from", "198.51.100.0/24", columns=columns)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    words = " ".join(lines).split()
    for needed in ("198.51.100.2:", "unanswered", "refused_icmp", "TcpExtListenDrops."):
        assert needed in words or any(needed in w for w in words)


def _documented(schema: str, column: str = "field") -> set[str]:
    """The names in the first column of the section's tables headed ``column``."""
    text = (ROOT / "docs" / "json.md").read_text()
    section = next(s for s in re.split(r"^## ", text, flags=re.M) if f"`{schema}`" in s[:200])
    names: set[str] = set()
    for table in re.split(r"\n\n", section):
        if table.startswith(f"| {column} |"):
            names |= set(re.findall(r"^\| `([a-z_.\[\]]+)` \|", table, flags=re.M))
    return names


def _fields(value: Any, prefix: str = "") -> set[str]:
    """Field paths, each tally's written as tally.*; open maps' keys are data."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else key
            name = re.sub(
                r"^(total|networks\[\]|sources\[\])\.(?!network$|addresses$|address$)",
                "tally.",
                name,
            )
            out.add(name)
            if name in {
                "tally.fates",
                "tally.frames",
                "tally.icmp",
                "tally.retransmissions.patterns",
            }:
                continue
            if name == "capture":
                continue  # the conns capture object, documented there
            out |= _fields(item, name)
    elif isinstance(value, list):
        for item in value:
            out |= _fields(item, prefix + "[]")
    return out


def test_json_is_the_documented_schema(crafted: Path) -> None:
    done = pcapdiff("syncheck", "--json", str(crafted), "--from", "198.51.100.0/24")
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert doc["schema"] == "pcapdiff/syncheck/1"
    assert doc["exit_status"] == 1
    assert doc["networks"][0]["fates"]["unanswered"] == 1
    assert doc["sources"][0]["frames"]
    emitted = _fields(doc)
    documented = _documented("pcapdiff/syncheck/1")
    assert emitted - documented == set(), "fields missing from docs/json.md"
    assert documented - emitted == set(), "documented fields never emitted"
    fates = set(doc["total"]["fates"])
    assert fates == {f.value for f in Fate} == _documented("pcapdiff/syncheck/1", "fate")


# (scenario, verdict of its one source, exit status)
RECORDED_CASES = [
    ("ok", "answered", 0),
    ("port_closed", "refused", 1),
    ("origin_firewall_drops_syn", "unanswered", 1),
    ("synack_dropped_on_way_back", "incomplete", 0),
]


@pytest.mark.parametrize(("scenario", "verdict", "status"), RECORDED_CASES)
def test_recorded_lab_captures(scenario: str, verdict: str, status: int) -> None:
    origin = RECORDED / scenario / "origin.pcap"
    expected = json.loads((RECORDED / scenario / "expected.json").read_text())
    client = expected["connections"][-1]["edge_client"].rsplit(":", 1)[0]
    done = pcapdiff("syncheck", "--json", str(origin), "--from", client)
    assert done.returncode == status, done.stderr
    doc = json.loads(done.stdout)
    assert doc["verdict"] == verdict
    assert [s["verdict"] for s in doc["sources"]] == [verdict]
    assert doc["window"]["end_source"] == "sidecar"  # the time it ran, not its last packet
    assert doc["warnings"] == []


def test_a_capture_cut_before_the_answer_was_due_blames_nobody(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    wrpcap(str(path), [syn("198.51.100.9", 40009, 0.0), syn("198.51.100.9", 40009, 0.5)])
    check = check_syns(path)
    assert check.verdict == "undetermined"
    done = pcapdiff("syncheck", str(path))
    assert done.returncode == 0, done.stdout  # nothing failed that the capture saw
    assert "undetermined: the answer was due after the capture had ended" in done.stdout


def test_one_direction_only_is_warned(tmp_path: Path) -> None:
    path = tmp_path / "in_only.pcap"
    wrpcap(str(path), [syn("198.51.100.9", 40009, t) for t in (0.0, 1.0, 3.0)])
    check = check_syns(path)
    assert check.verdict == "unanswered"
    assert any("one direction only" in w for w in check.warnings)


def test_no_syn_seen_exits_3(crafted: Path) -> None:
    done = pcapdiff("syncheck", str(crafted), "--from", "192.0.2.0/24")
    assert done.returncode == 3
    assert "verdict: not_seen: no SYN from 192.0.2.0/24 to every port" in done.stdout


def test_sources_file(tmp_path: Path, crafted: Path) -> None:
    good = tmp_path / "cdn.txt"
    good.write_text("# the CDN's ranges\n198.51.100.0/30  # first four\n\n2001:db8:cd::/48\n")
    assert [str(n) for n in read_sources_file(good)] == ["198.51.100.0/30", "2001:db8:cd::/48"]
    done = pcapdiff("syncheck", "--json", str(crafted), "--from-file", str(good))
    assert {s["address"] for s in json.loads(done.stdout)["sources"]} == {
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "2001:db8:cd::7",
    }
    bad = tmp_path / "bad.txt"
    bad.write_text("198.51.100.0/24\nnot-a-network\n")
    done = pcapdiff("syncheck", str(crafted), "--from-file", str(bad))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {bad}:2: 'not-a-network' is not an address or network (ADDR or ADDR/PREFIX)"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "198.51.100.300"], "--from: '198.51.100.300' is not an address or network"),
        (["--port", "0"], "--port"),
        (["--json", "--nope"], "No such option"),
    ],
)
def test_bad_options_are_one_line_errors(crafted: Path, args: list[str], message: str) -> None:
    done = pcapdiff("syncheck", str(crafted), *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_not_a_capture_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n" * 10)
    done = pcapdiff("syncheck", str(path))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert str(path) in done.stderr


def test_readme_example_is_real() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```\n\$ (pcapdiff syncheck [^\n]+)\n(.*?)```", readme, re.S)
    assert block, "the README shows a syncheck run"
    done = pcapdiff(*block.group(1).split()[1:], columns=100)
    assert done.stdout == block.group(2)


def test_a_missing_file_of_a_ring_leaves_its_time_undetermined(tmp_path: Path) -> None:
    """ring.pcap0 ends with a SYN, ring.pcap1 (its answer's time) is missing,
    ring.pcap2 goes on: nobody is blamed for what the missing file held. The same SYN
    in one file with that much time after it is unanswered."""
    source, later = "198.51.100.9", "198.51.100.10"
    first = [syn(source, 40009, 0.0)]
    rest = [
        syn(later, 40010, 5.0),
        from_origin(later, 40010, "SA", 5.001),
        ack(later, 40010, 5.002),
    ]
    wrpcap(str(tmp_path / "ring.pcap0"), first)
    wrpcap(str(tmp_path / "ring.pcap2"), rest)
    ring = check_syns([str(tmp_path / "ring.pcap0"), str(tmp_path / "ring.pcap2")])
    assert len(ring.summary.unseen) == 1
    assert ring.sources[source].verdict == "undetermined"
    assert ring.sources[later].verdict == "answered"
    whole = tmp_path / "whole.pcap"
    wrpcap(str(whole), first + rest)
    assert check_syns(whole).sources[source].verdict == "unanswered"
