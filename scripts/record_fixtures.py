"""Run the live lab and store each scenario as a regression case, so the suite also
checks real-kernel captures where network namespaces are not available:

    fixtures/pcaps/recorded/<scenario>/{edge.pcap, origin.pcap[ng], expected.json}

Each capture keeps its FILE.json sidecar. expected.json comes from the scenario's
definition (what was done to the path), not from pcapdiff's output. The edge client
is the address:port `probe` reported. Needs root, tcpdump, iptables and dumpcap
(for the pcapng case).

    sudo .venv/bin/python scripts/record_fixtures.py             # every scenario
    sudo .venv/bin/python scripts/record_fixtures.py ipv6_ok     # only these
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from pcapdiff.lab import EDGE_ADDR, SCENARIOS, Lab, run_scenario

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "pcaps" / "recorded"


def main(names: list[str]) -> None:
    unknown = set(names) - {s.name for s in SCENARIOS}
    if unknown:
        raise SystemExit(f"no such scenario: {', '.join(sorted(unknown))}")
    with Lab() as lab:
        for scenario in SCENARIOS:
            if names and scenario.name not in names:
                continue
            folder = OUT / scenario.name
            shutil.rmtree(folder, ignore_errors=True)
            run = run_scenario(lab, scenario, folder)
            # The FILE.json sidecars stay: their start and stop are the time each
            # capture covered, which a quiet capture's packets cannot show.
            clients = [str(a["local"]) for a in run.attempts if a["local"]]
            if len(clients) < len(scenario.expected()):  # an attempt made no connection
                from pcapdiff import read_connections

                conns, _ = read_connections(run.edge)
                clients = [str(c.client) for c in conns if c.syns] or [f"{EDGE_ADDR}:0"]
            expected = {
                "scenario": scenario.name,
                "probe": scenario.probe,
                "connections": [
                    {"edge_client": client, "outcome": outcome, "culprit": culprit}
                    for client, (outcome, culprit) in zip(clients, scenario.expected(), strict=True)
                ],
            }
            (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
            size = sum(p.stat().st_size for p in folder.iterdir())
            print(f"{scenario.name}: {size} bytes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help="only these scenarios (default: all)")
    main(parser.parse_args().scenarios)
