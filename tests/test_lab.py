"""The live lab: real kernel TCP through a middle box, captured at both ends.

For each scenario the middle (or the origin's own firewall) is set up, both ends
capture with `pcapdiff capture`, the edge runs `pcapdiff probe`, and `compare` must
name what the scenario did, and whose fault it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pcapdiff import compare
from pcapdiff.lab import (
    EDGE_ADDR,
    EDGE_ADDR6,
    MID_ORIGIN_ADDR,
    ORIGIN_ADDR,
    SCENARIOS,
    Lab,
    Scenario,
    run_scenario,
)

pytestmark = [pytest.mark.requires_root, pytest.mark.requires_tcpdump]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(lab: Lab, tmp_path: Path, scenario: Scenario) -> None:
    run = run_scenario(lab, scenario, tmp_path)
    assert [a["verdict"] for a in run.attempts] == [scenario.probe], run.probe_stderr
    result = compare(run.edge, run.origin)
    got = [(v.outcome.value, v.culprit.value) for v in result.verdicts]
    assert got == [(scenario.outcome, scenario.culprit)], [
        (v.explanation, v.evidence) for v in result.verdicts
    ]
    if run.attempts[0]["local"]:
        assert str(result.verdicts[0].pair.edge.client) == run.attempts[0]["local"]
    assert result.verdicts[0].pair.edge.server.addr == scenario.probe_ip
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
    if scenario.ipv6:
        assert result.verdicts[0].pair.edge.client.addr == EDGE_ADDR6
