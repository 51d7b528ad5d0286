"""The issue's yardstick: dpkt reading and decoding + a dict of connections.

Run by scripts/bench.py next to pcapdiff on the same file, so the report shows how
fast this machine is at that moment ("dpkt with a connection dict does ~130,000
packets/s" is the reference the speed floor was set against).

    python scripts/dpkt_reference.py FILE
"""

from __future__ import annotations

import argparse
import sys

import dpkt


def main(path: str) -> int:
    flows: dict[tuple[bytes, int, bytes, int], list[int]] = {}
    packets = 0
    with open(path, "rb") as f:
        for _ts, raw in dpkt.pcap.Reader(f):
            packets += 1
            ip = dpkt.ethernet.Ethernet(raw).data
            if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
                continue
            tcp = ip.data
            a, b = (ip.src, tcp.sport), (ip.dst, tcp.dport)
            key = (*a, *b) if a < b else (*b, *a)
            flow = flows.get(key)
            if flow is None:
                flow = flows[key] = [0, 0, 0]
            flow[0] += 1
            flow[1] += len(tcp.data)
            flow[2] |= tcp.flags
    print(f"{packets} packets, {len(flows)} flows")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", help="a classic pcap file (Ethernet)")
    sys.exit(main(parser.parse_args().capture))
