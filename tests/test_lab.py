"""The live lab: real kernel TCP through a middle box, captured at both ends.

For each scenario the middle (or the origin's own firewall) is set up, both ends
capture with `pcapdiff capture`, the edge runs `pcapdiff probe`, and `compare` must
name what the scenario did, and whose fault it was.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcapdiff import compare
from pcapdiff.capture import read_sidecar
from pcapdiff.lab import (
    EDGE_ADDR,
    EDGE_ADDR6,
    MID_EDGE_ADDR,
    MID_ORIGIN_ADDR,
    ORIGIN_ADDR,
    SCENARIOS,
    Lab,
    Run,
    Scenario,
    run_scenario,
)
from pcapdiff.model import Comparison
from pcapdiff.read import read

pytestmark = [pytest.mark.requires_root, pytest.mark.requires_tcpdump]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(lab: Lab, tmp_path: Path, scenario: Scenario) -> None:
    run = run_scenario(lab, scenario, tmp_path)
    probes = [a["verdict"] for a in run.attempts]
    assert probes[-1:] == [scenario.probe], run.probe_stderr
    result = compare(run.edge, run.origin)
    got = [(v.outcome.value, v.culprit.value) for v in result.verdicts]
    assert got == scenario.expected(), [(v.explanation, v.evidence) for v in result.verdicts]
    last = result.verdicts[-1]
    if run.attempts[-1]["local"]:
        assert str(last.pair.edge.client) == run.attempts[-1]["local"]
    assert last.pair.edge.server.addr == scenario.probe_ip
    check_scenario_details(scenario, result, run)


def check_scenario_details(scenario: Scenario, result: Comparison, run: Run) -> None:
    """What each scenario's verdict must also say: the reason and its numbers."""
    last = result.verdicts[-1]
    reasons = {
        "origin_resets_mid_body": "origin_reset_after_request",
        "complete_response_then_rst": "answered",
        "https_origin_silent": "origin_silent",
        "https_origin_resets_after_request": "origin_reset_after_request",
        "syn_icmp_host_unreachable": "syn_unreachable",
        "path_mtu_blackhole": "response_blackholed",
        "origin_capture_stopped_early": "origin_capture_ended",
        "origin_capture_stopped_early_no_sidecar": "syn_dropped_in_path",
        "edge_capture_stopped_mid_response": "edge_still_waiting",
        "tls_untrusted_certificate": "tls_edge_refused_certificate",
    }
    if scenario.name in reasons:
        assert last.reason == reasons[scenario.name], last.explanation
    if scenario.name == "origin_resets_mid_body":
        assert "after 1,0" in last.explanation
        assert "of 50,0" in last.explanation
    # With nothing paired, no offset can be estimated: that the lab's clocks agree is an
    # assumption, and said. Nothing else may be assumed, but for the scenario about it.
    clock = ("clocks agree",) if result.clock.source == "none" else ()
    assumed = tuple(a for a in last.assumes if not any(c in a for c in clock))
    if scenario.name == "origin_capture_stopped_early_no_sidecar":
        assert assumed
        assert "recorded no end" in assumed[0]
    elif scenario.name == "rewriting_proxy":
        # the proxy kept no TCP identity: the pair rests on the request line, and says so
        assert assumed
        assert all("the pairing, which rests only on same request line" in a for a in assumed)
    else:
        assert not assumed, last.assumes
    if scenario.name == "rewriting_proxy":
        origin_conn = last.pair.origin
        assert origin_conn is not None
        assert origin_conn.client.addr == MID_ORIGIN_ADDR  # the proxy's own connection
        assert any(
            "modified in transit (Host 'www.example.com' -> 'origin.internal')" in e.what
            for e in last.evidence
        )
    if scenario.name == "syn_icmp_host_unreachable":
        assert MID_EDGE_ADDR in last.explanation  # the router that said so
    if scenario.name == "path_mtu_blackhole":
        assert "MTU 1280" in last.explanation
    if scenario.name == "tls_untrusted_certificate":
        assert "sent by the edge" in last.explanation
    if scenario.name == "dnat_vip":
        origin = result.verdicts[0].pair.origin
        assert origin is not None
        assert origin.server.addr == ORIGIN_ADDR  # behind the VIP
    if scenario.name == "snat_random_ports":
        origin = result.verdicts[0].pair.origin
        assert origin is not None
        assert origin.client.addr == MID_ORIGIN_ADDR  # seen behind the NAT
        assert result.verdicts[0].pair.edge.client.addr == EDGE_ADDR
    if scenario.name == "tls_version_mismatch":
        assert "protocol_version" in result.verdicts[0].explanation
        assert "ClientHello up to TLS 1.2" in result.verdicts[0].explanation
    if scenario.name == "transparent_proxy_hijack":
        assert result.verdicts[0].pair.origin is None  # the origin never saw it
        assert any("302 Found" in e.what for e in result.verdicts[0].evidence)
        assert run.attempts[0]["http_status"] == 302  # what the edge was served instead
    if scenario.name == "reset_injected_after_request":
        # the origin answered; its response reached the edge after the forged RST
        assert result.verdicts[0].pair.origin is not None
        assert any("came after the RST" in e.what for e in result.verdicts[0].evidence)
        assert any("SYN-ACK had TTL 63" in e.what for e in result.verdicts[0].evidence)
    if scenario.origin_sniffer == "scapy":
        meta = read_sidecar(run.origin)
        assert meta is not None
        assert meta.sniffer == "scapy"
        assert {fr.linktype for fr in read(run.origin)} == {276}  # SLL2, as tcpdump -i any
    if scenario.ipv6:
        assert result.verdicts[0].pair.edge.client.addr == EDGE_ADDR6


def namespaces_named(prefix: str) -> list[str]:
    listed = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(prefix)]


def test_ctrl_c_removes_every_namespace_and_process() -> None:
    prefix = f"pcapdiff-ctrlc{os.getpid()}"
    script = (
        "import time\nfrom pcapdiff.lab import Lab\n"
        f"with Lab({prefix!r}) as lab:\n"
        "    print(lab.servers.pid, flush=True)\n"
        "    time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    servers = int(proc.stdout.readline())
    assert len(namespaces_named(prefix)) == 3
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert namespaces_named(prefix) == []
    with pytest.raises(ProcessLookupError):
        os.kill(servers, 0)


def test_a_failed_build_leaves_nothing_behind() -> None:
    prefix = f"pcapdiff-fail{os.getpid()}"

    class Broken(Lab):
        def _build(self) -> None:
            super()._build()
            self.iptables(self.mid, "-A", "FORWARD", "-j", "NO-SUCH-TARGET")

    with pytest.raises(subprocess.CalledProcessError), Broken(prefix):
        pass
    assert namespaces_named(prefix) == []
