"""The live lab: real kernel TCP through a middle box, captured at both ends.

For each scenario the middle (or the origin's own firewall) is set up, both ends
capture with `pcapdiff capture`, the edge runs `pcapdiff probe`, and `compare` must
name what the scenario did, and whose fault it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from pcapdiff import compare
from pcapdiff.lab import EDGE_ADDR, MID_ORIGIN_ADDR, ORIGIN_ADDR, Lab, stop_capture

pytestmark = [pytest.mark.requires_root, pytest.mark.requires_tcpdump]


class Scenario(NamedTuple):
    name: str
    port: int
    rules: tuple[tuple[str, tuple[str, ...]], ...]  # (namespace role, iptables rule)
    probe: str  # what the CDN would have answered
    outcome: str
    culprit: str
    origin_capture: tuple[str, ...] = ("-i", "origin0")


SCENARIOS = [
    Scenario("ok", 80, (), "ok", "ok", "none"),
    Scenario(
        "syn_dropped_in_path",
        80,
        (("mid", ("-A", "FORWARD", "-p", "tcp", "--syn", "-d", ORIGIN_ADDR, "-j", "DROP")),),
        "522",
        "syn_not_received",
        "path",
    ),
    Scenario(
        "origin_firewall_drops_syn",
        80,
        (("origin", ("-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP")),),
        "522",
        "syn_not_answered",
        "origin",
    ),
    Scenario("port_closed", 81, (), "521", "rst_on_connect", "origin"),
    Scenario(
        "in_path_reject",
        80,
        (
            (
                "mid",
                (
                    "-A",
                    "FORWARD",
                    "-p",
                    "tcp",
                    "-d",
                    ORIGIN_ADDR,
                    "-j",
                    "REJECT",
                    "--reject-with",
                    "tcp-reset",
                ),
            ),
        ),
        "521",
        "rst_on_connect",
        "path",
    ),
    Scenario("origin_resets_after_request", 8084, (), "520", "rst_after_request", "origin"),
    Scenario("origin_never_answers", 8083, (), "524", "no_response", "origin"),
    Scenario(
        "snat_random_ports",
        80,
        (
            (
                "mid",
                (
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-o",
                    "mid1",
                    "-j",
                    "MASQUERADE",
                    "--random-fully",
                ),
            ),
        ),
        "ok",
        "ok",
        "none",
    ),
    Scenario(
        "origin_any_pcapng",
        8084,
        (),
        "520",
        "rst_after_request",
        "origin",
        ("-i", "any", "--pcapng"),
    ),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(lab: Lab, tmp_path: Path, scenario: Scenario) -> None:
    lab.reset_rules()
    for role, rule in scenario.rules:
        lab.iptables(getattr(lab, role), *rule)
    edge_file = tmp_path / "edge.pcap"
    origin_file = tmp_path / (
        "origin.pcapng" if "--pcapng" in scenario.origin_capture else "origin.pcap"
    )
    port = ["--port", str(scenario.port)]
    edge_cap = lab.start_capture(lab.edge, "edge", "edge0", edge_file, port)
    origin_cap = lab.start_capture(
        lab.origin,
        "origin",
        scenario.origin_capture[1],
        origin_file,
        [*scenario.origin_capture[2:], *port],
    )
    try:
        probe = subprocess.run(
            lab.argv(
                lab.edge,
                sys.executable,
                "-m",
                "pcapdiff",
                "probe",
                "--json",
                "--connect-timeout",
                "2",
                "--read-timeout",
                "2",
                f"http://www.example.com:{scenario.port}/a.jpg",
                "--origin-ip",
                ORIGIN_ADDR,
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        time.sleep(0.5)  # the last ACKs and RSTs reach both captures
    finally:
        stop_capture(edge_cap)
        stop_capture(origin_cap)
    attempts = [json.loads(line) for line in probe.stdout.splitlines()]
    assert [a["verdict"] for a in attempts] == [scenario.probe], probe.stderr
    result = compare(edge_file, origin_file)
    got = [(v.outcome.value, v.culprit.value) for v in result.verdicts]
    assert got == [(scenario.outcome, scenario.culprit)], [
        (v.explanation, v.evidence) for v in result.verdicts
    ]
    assert (
        str(result.verdicts[0].pair.edge.client) == attempts[0]["local"] or not attempts[0]["local"]
    )
    if scenario.name == "snat_random_ports":
        origin = result.verdicts[0].pair.origin
        assert origin is not None
        assert origin.client.addr == MID_ORIGIN_ADDR  # seen behind the NAT
        assert result.verdicts[0].pair.edge.client.addr == EDGE_ADDR
