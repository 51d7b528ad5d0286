"""Random and mutated bytes: only pcapdiff's own errors, never another exception."""

from __future__ import annotations

import io
import struct

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pcapdiff.decode import decode
from pcapdiff.errors import PcapdiffError
from pcapdiff.model import CaptureSummary
from pcapdiff.read import read
from pcapdiff.track import track

from .conftest import FIXTURES
from .test_decode_batches import three_ways

SEEDS = [
    (FIXTURES / n).read_bytes()
    for n in (
        "http_ok.pcap",
        "two_interfaces.pcapng",
        "tls_alert.pcap",
        "ipv6_ext_frag.pcap",
        "http_ok_sll2.pcap",
        "ipv4_options_frag.pcap",
        "http_ok_null.pcap",
    )
]
LINKTYPES = [0, 1, 12, 101, 108, 113, 228, 229, 239, 242, 276]


def analyse(data: bytes) -> None:
    """Read everything; our own errors are allowed (and must be one line), nothing else;
    and the batch decoder says exactly what the per-frame decoder says."""
    summary = CaptureSummary(path="fuzz")
    message = ""
    try:
        for _ in track(decode(read(io.BytesIO(data), summary), summary)):
            pass
    except PcapdiffError as exc:
        message = str(exc)
    assert "\n" not in message
    reference, frames, batches = three_ways(data)
    assert frames == reference
    assert batches == reference


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    analyse(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LINKTYPES), st.lists(st.binary(max_size=120), max_size=8))
def test_random_packets_in_a_valid_file(linktype: int, packets: list[bytes]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for i, pkt in enumerate(packets):
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(pkt), len(pkt)) + pkt)
    analyse(b"".join(out))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(SEEDS))),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=12),
    st.integers(0, 1 << 16),
)
# Found here: a segment that began before the stream's first byte started the head
# buffer, and its parse looked for a segment at exactly that byte (a KeyError).
@example(seed=2, flips=[(6928, 0)], cut=568)
def test_mutated_captures(seed: int, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(SEEDS[seed])
    for pos, value in flips:
        data[pos % len(data)] = value
    analyse(bytes(data[: max(cut, 24)]))
