"""A three-host lab in network namespaces: edge <-> mid <-> origin, real kernel TCP.

    edge  198.51.100.2/24 --- 198.51.100.1/24  mid  203.0.113.1/24 --- 203.0.113.10/24  origin
          2001:db8:100::2/64    2001:db8:100::1     2001:db8:113::1   2001:db8:113::10

Only documentation addresses, no default routes, nothing on the host's own
interfaces. ``mid`` forwards, and plays ISP, firewall, NAT or hijacking proxy with
iptables/ip6tables and a process of its own. Every
namespace, process and rule is removed by name when the lab closes, also on errors.
Needs root, iproute2 and iptables.
"""

from __future__ import annotations

from .net import (
    EDGE_ADDR,
    EDGE_ADDR6,
    MID_EDGE_ADDR,
    MID_EDGE_ADDR6,
    MID_ORIGIN_ADDR,
    MID_ORIGIN_ADDR6,
    ORIGIN_ADDR,
    ORIGIN_ADDR6,
    Lab,
    lab,
    origin_servers_argv,
    self_signed_certificate,
    sh,
    stop_capture,
)
from .scenarios import SCENARIOS, Run, Scenario, run_scenario

__all__ = [
    "EDGE_ADDR",
    "EDGE_ADDR6",
    "MID_EDGE_ADDR",
    "MID_EDGE_ADDR6",
    "MID_ORIGIN_ADDR",
    "MID_ORIGIN_ADDR6",
    "ORIGIN_ADDR",
    "ORIGIN_ADDR6",
    "SCENARIOS",
    "Lab",
    "Run",
    "Scenario",
    "lab",
    "origin_servers_argv",
    "run_scenario",
    "self_signed_certificate",
    "sh",
    "stop_capture",
]
