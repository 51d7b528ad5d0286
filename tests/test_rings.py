"""A side of several files: a rotated ring (tcpdump -C/-W names), one capture per
interface, a glob. Read as one capture, merged by time, frames cited as FILE#N; the
verdicts are those of the merged file, and a missing file of a ring blames no one."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pcapdiff import compare
from pcapdiff.conns import missing_ring_spans, read_connections
from pcapdiff.files import capture_files, ring_members
from pcapdiff.model import CaptureSummary, Comparison, Frame, Outcome
from pcapdiff.read import read
from pcapdiff.render.compare_json import comparison_to_json

from .conftest import ROOT

COMPARE = ROOT / "fixtures" / "pcaps" / "compare"
SCENARIOS = ["every_outcome", "mixed_with_noise", "response_framing", "port_reuse", "ipv6"]


def write_frames(path: Path, frames: list[Frame]) -> Path:
    linktype = frames[0].linktype if frames else 1
    out = [struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, linktype)]
    for fr in frames:
        sec, ns = divmod(fr.ts_ns, 1_000_000_000)
        out.append(struct.pack("<IIII", sec, ns, len(fr.data), fr.wire_len) + fr.data)
    path.write_bytes(b"".join(out))
    return path


def split_ring(
    source: Path, folder: Path, parts: int, first_number: int = 0
) -> tuple[list[Path], dict[str, list[int]]]:
    """SOURCE cut into PARTS consecutive files, as tcpdump -C writes them, numbered
    from FIRST_NUMBER round the ring (2, 3, 0, 1: a ring that wrapped). Returns the
    files and, per file, the merged file's frame number of each of its frames."""
    frames = list(read(source))
    size = -(-len(frames) // parts)
    files, numbers = [], {}
    for k in range(parts):
        chunk = list(range(k * size, min(len(frames), (k + 1) * size)))
        path = folder / f"ring.pcap{(first_number + k) % parts}"
        write_frames(path, [frames[i] for i in chunk])
        files.append(path)
        numbers[str(path)] = [i + 1 for i in chunk]
    return files, numbers


def split_interleaved(
    source: Path, folder: Path, names: tuple[str, ...]
) -> tuple[list[Path], dict[str, list[int]]]:
    """SOURCE dealt frame by frame into one file per name, as captures on several
    interfaces interleave: the worst case for the merge."""
    frames = list(read(source))
    files, numbers = [], {}
    for k, name in enumerate(names):
        picked = list(range(k, len(frames), len(names)))
        path = write_frames(folder / name, [frames[i] for i in picked])
        files.append(path)
        numbers[str(path)] = [i + 1 for i in picked]
    return files, numbers


def in_merged(cited: object, numbers: dict[str, list[int]] | None) -> object:
    """A FILE#N citation as the merged file's frame number."""
    if numbers is None or cited is None:
        return cited
    name, _, n = str(cited).rpartition("#")
    return numbers[name][int(n) - 1]


def verdict_rows(
    result: Comparison,
    edge: dict[str, list[int]] | None = None,
    origin: dict[str, list[int]] | None = None,
) -> list[tuple[object, ...]]:
    """Every verdict with its evidence, frames in the merged files' numbering."""
    doc = comparison_to_json(result)
    sides = {"edge": edge, "origin": origin}
    rows = []
    for c in doc["connections"]:
        evidence = tuple(
            (ev["capture"], in_merged(ev["frame"], sides[ev["capture"]]), ev["what"], ev["time"])
            for ev in c["evidence"]
        )
        rows.append(
            (
                c["edge"]["client"],
                in_merged(c["edge"]["first_frame"], edge),
                c["outcome"],
                c["culprit"],
                c["reason"],
                c["pairing"],
                evidence,
            )
        )
    return sorted(rows, key=repr)


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_rotated_ring_on_each_side_gives_the_merged_files_verdicts(
    name: str, tmp_path: Path
) -> None:
    folder = COMPARE / name
    (tmp_path / "e").mkdir()
    (tmp_path / "o").mkdir()
    edge_files, edge_numbers = split_ring(folder / "edge.pcap", tmp_path / "e", 3)
    origin_files, origin_numbers = split_ring(
        folder / "origin.pcap", tmp_path / "o", 4, first_number=2
    )
    assert capture_files(tmp_path / "o" / "ring.pcap") == ring_members(tmp_path / "o" / "ring.pcap")
    assert [p.name for p in ring_members(tmp_path / "o" / "ring.pcap")] == [
        f"ring.pcap{n}" for n in range(4)
    ]
    whole = compare(folder / "edge.pcap", folder / "origin.pcap")
    ring = compare([str(p) for p in edge_files], [str(p) for p in origin_files])
    assert ring.verdicts, name
    assert ring.origin is not None
    assert ring.origin.files == [str(p) for p in origin_files]
    assert ring.origin.unseen == []  # 2, 3, 0, 1: a wrapped ring lacks nothing
    assert verdict_rows(ring, edge_numbers, origin_numbers) == verdict_rows(whole)
    assert ring.clock == whole.clock


@pytest.mark.parametrize("name", ["every_outcome", "port_reuse"])
def test_captures_of_several_interfaces_merge_by_time(name: str, tmp_path: Path) -> None:
    folder = COMPARE / name
    files, numbers = split_interleaved(
        folder / "origin.pcap", tmp_path, ("origin-eth0.pcap", "origin-eth1.pcap")
    )
    whole = compare(folder / "edge.pcap", folder / "origin.pcap")
    merged = compare(folder / "edge.pcap", [str(p) for p in files])
    assert verdict_rows(merged, None, numbers) == verdict_rows(whole)
    conns, summary = read_connections([str(p) for p in files])
    single, single_summary = read_connections(folder / "origin.pcap")
    assert summary.packets == single_summary.packets
    assert [(c.client, c.server, c.history, c.conn_state) for c in conns] == [
        (c.client, c.server, c.history, c.conn_state) for c in single
    ]


def test_a_missing_file_of_the_ring_blames_no_one_for_its_time(tmp_path: Path) -> None:
    """Drop the middle file of a three-file origin ring: what was due at the origin
    while it ran is inconclusive (the ring lacks a file), never a 522 for the ISP."""
    folder = COMPARE / "every_outcome"
    files, _numbers = split_ring(folder / "origin.pcap", tmp_path, 3)
    kept = [files[0], files[2]]
    whole = {
        v.pair.edge.client: v
        for v in compare(folder / "edge.pcap", folder / "origin.pcap").verdicts
    }
    result = compare(folder / "edge.pcap", [str(p) for p in kept])
    assert result.origin is not None
    assert len(result.origin.unseen) == 1  # ring.pcap0 then ring.pcap2: 1 is missing
    missing = [v for v in result.verdicts if v.reason == "origin_file_missing"]
    assert missing, [v.reason for v in result.verdicts]
    for v in missing:
        assert v.outcome is Outcome.INCONCLUSIVE
        assert "a file of its rotated ring is missing" in v.explanation
    for v in result.verdicts:
        w = whole[v.pair.edge.client]
        assert v.outcome in (w.outcome, Outcome.INCONCLUSIVE), (v.explanation, w.explanation)
        if v.outcome is not Outcome.INCONCLUSIVE:
            assert v.culprit == w.culprit


def test_ring_numbering_and_gaps() -> None:
    def part(name: str, first: int, last: int) -> CaptureSummary:
        return CaptureSummary(path=name, first_ts_ns=first, last_ts_ns=last)

    wrapped = [
        part("r.pcap0", 30, 39),
        part("r.pcap1", 40, 49),
        part("r.pcap2", 10, 19),
        part("r.pcap3", 20, 29),
    ]
    assert missing_ring_spans(wrapped) == []
    # 2, 3, 0 without 1: the newest file is missing, which no numbering can show; the
    # capture then simply ends early (its window ends with its last packet)
    assert missing_ring_spans([wrapped[0], wrapped[2], wrapped[3]]) == []
    lacking = [part("r.pcap3", 10, 19), part("r.pcap0", 20, 29), part("r.pcap2", 40, 49)]
    assert missing_ring_spans(lacking) == [(29, 40)]  # wrapped 3 -> 0, then 1 is missing
    no_w = [part("r.pcap", 0, 9), part("r.pcap1", 10, 19), part("r.pcap3", 30, 39)]
    assert missing_ring_spans(no_w) == [(19, 30)]  # tcpdump -C without -W: r.pcap is 0
    interfaces = [part("eth0.pcap", 0, 50), part("eth1.pcap", 0, 50)]
    assert missing_ring_spans(interfaces) == []


def pcapdiff(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """80 columns: one block per connection, each evidence line whole or wrapped at words."""
    return subprocess.run(
        [sys.executable, "-m", "pcapdiff", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_reads_a_ring_by_its_base_name_and_a_quoted_glob(tmp_path: Path) -> None:
    folder = COMPARE / "every_outcome"
    split_ring(folder / "origin.pcap", tmp_path, 3)
    base = tmp_path / "ring.pcap"
    assert not base.exists()
    done = pcapdiff("compare", str(folder / "edge.pcap"), str(base), "--json")
    assert done.returncode in (0, 1), done.stderr
    doc = json.loads(done.stdout)
    assert doc["origin"]["files"] == [str(tmp_path / f"ring.pcap{n}") for n in range(3)]
    cited = [
        ev["frame"]
        for c in doc["connections"]
        for ev in c["evidence"]
        if ev["capture"] == "origin" and ev["frame"] is not None
    ]
    assert cited
    assert all(str(f).startswith(str(base)) and "#" in str(f) for f in cited)
    table = pcapdiff("compare", str(folder / "edge.pcap"), "ring.pcap[0-9]", cwd=tmp_path)
    assert table.returncode in (0, 1), table.stderr
    assert re.search(r"ring\.pcap0#4\s+[\d:.]+\s+origin\s+received\s+the\s+request", table.stdout)
    none = pcapdiff("compare", str(folder / "edge.pcap"), str(tmp_path / "nothing*.pcap"))
    assert none.returncode == 2
    assert none.stderr.strip().splitlines()[-1] == (
        f"error: ORIGIN: {tmp_path}/nothing*.pcap: "
        "no file matches this pattern (see 'pcapdiff compare --help')"
    )
    assert "Traceback" not in none.stderr
