"""Capture quality: what a reader of the verdicts must know about the captures.

Plain sentences, owned by the library (``compare`` returns them in
``Comparison.warnings``; ``conns`` prints them): a file cut off mid-record, malformed
or sliced packets, drops the capture reported, and what the sidecar `pcapdiff
capture` wrote says about the role, the clock and the kernel. Never prints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from .meta import CaptureMeta
from .model import CaptureSummary, Connection
from .text import safe_text


def capture_warnings(summary: CaptureSummary) -> list[str]:
    """What reading and decoding one capture found that weakens what it shows."""
    out = []
    if summary.truncated_tail:
        out.append(
            f"{summary.path}: file ends inside a record at {summary.truncated_tail}; "
            "analysed up to the cut"
        )
    if summary.malformed_packets:
        examples = ", ".join(
            f"frame {summary.cite(a.frame)} {a.code}" for a in summary.anomaly_examples[:3]
        )
        counts = ", ".join(f"{code} {n}" for code, n in sorted(summary.anomalies.items()))
        out.append(
            f"{summary.path}: {summary.malformed_packets} malformed packet(s) "
            f"({counts}; e.g. {examples})"
        )
    if summary.dropped_packets:
        out.append(
            f"{summary.path}: the capture itself dropped {summary.dropped_packets} "
            "packet(s) (pcapng interface statistics)"
        )
    if summary.sliced_packets:
        out.append(
            f"{summary.path}: {summary.sliced_packets} packet(s) cut by the snaplen "
            f"({summary.snaplen}); payload lengths are taken from the IP headers"
        )
    if summary.skipped_sections:
        out.append(
            f"{summary.path}: {summary.skipped_sections} pcapng section(s) of an "
            "unsupported version skipped"
        )
    return out


def sidecar_warnings(path: str, meta: CaptureMeta | None, role: str) -> list[str]:
    """What `pcapdiff capture` recorded beside the file: role, clock, kernel drops."""
    if meta is None:
        return []
    out = []
    if meta.role != role:
        out.append(
            f"{path} is given as the {role} capture, but its sidecar says it was "
            f"taken as the {meta.role} capture on {meta.host}"
        )
    if meta.clock.get("synchronized") is False:
        out.append(
            f"{path}: {meta.host}'s clock was not synchronised when captured "
            f"({safe_text(str(meta.clock.get('source')))}); the estimated offset still applies"
        )
    if meta.packets_dropped_by_kernel:
        out.append(
            f"{path}: the kernel dropped {meta.packets_dropped_by_kernel} packets "
            "during the capture; missing packets may look like losses"
        )
    return out


# Initial TTLs / hop limits that operating systems send with (Linux and the BSDs 64,
# Windows 128, network gear 255, some old stacks 32). A packet captured on the host
# that sent it carries one of these; one that crossed a router carries less.
INITIAL_TTLS = frozenset({32, 64, 128, 255})
CAPTURE_POINT_AGREEMENT = 0.9  # share of handshakes that must agree


def capture_point(conns: Iterable[Connection]) -> str:
    """Where a capture was taken, from the TTLs of its handshakes: "client" (SYNs at an
    initial TTL, SYN-ACKs with less), "server" (the reverse), or "" when unclear (both
    ends on one link, or a mix)."""
    return point_of(Counter(vote for c in conns if (vote := capture_vote(c))))


def capture_vote(conn: Connection) -> str:
    """What one handshake says of where the capture was: "client", "server" or ""."""
    if not conn.syns or not conn.synacks:
        return ""
    syn_initial = conn.syns[0].ttl in INITIAL_TTLS
    synack_initial = conn.synacks[0].ttl in INITIAL_TTLS
    if syn_initial == synack_initial:
        return ""
    return "client" if syn_initial else "server"


def point_of(votes: Counter[str]) -> str:
    """The capture point the votes agree on, or ""."""
    total = sum(votes.values())
    for point, n in votes.items():
        if n >= CAPTURE_POINT_AGREEMENT * total:
            return point
    return ""
