"""The core's allocator (mimalloc) asks for no transparent huge pages: on its arena
each page fault cleared 2 MB, a sixth of a one-request-per-connection run's tracking
thread (core/src/python.rs, ``set_allocator_options``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES

SCAN_AND_COUNT = """
import sys
from pcapdiff.conns import ConnectionScan
records = sum(1 for _ in ConnectionScan(sys.argv[1]))
flags = [line.split()[1:] for line in open("/proc/self/smaps") if line.startswith("VmFlags:")]
print(records, len(flags), sum("hg" in f for f in flags))
"""


def test_no_mapping_of_a_scanning_process_asks_for_huge_pages() -> None:
    if not Path("/proc/self/smaps").exists():
        pytest.fail("no /proc/self/smaps: this test needs Linux")  # the product's OS
    capture = FIXTURES / "every_state.pcap"
    out = subprocess.run(
        [sys.executable, "-c", SCAN_AND_COUNT, str(capture)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    records, mappings, huge = map(int, out)
    assert records > 0
    assert mappings > 0  # the flags were read
    assert huge == 0
