"""A file's batches read and decoded on a second thread (``decode.decode_ahead``): the
same records, taps, summary and errors as decoding in the tracker's thread, and the
thread gone when the scan ends, fails or is left midway."""

from __future__ import annotations

import gzip
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from pcapdiff.conns import ConnectionScan
from pcapdiff.errors import PcapdiffError
from pcapdiff.model import CaptureSummary, Connection, SegmentRow
from pcapdiff.read import read_batches
from pcapdiff.render.conns_json import connection_to_json, summary_to_json
from pcapdiff.track import track_batches

from .conftest import ROOT
from .craft import exchange, write_pcap
from .test_conns_json_core import CAPTURES
from .test_truth import same_verdicts

Tapped = tuple[int, bool, int, bytes]


def decoding_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pcapdiff-decode"]


def scanned(path: Path, ahead: bool) -> tuple[list[str], list[Tapped], dict[str, Any]]:
    """Each record's JSON (then the error, if reading failed), every tapped segment
    (its payload copied: the row's buffer is the reader's), and the summary."""
    summary = CaptureSummary(path=str(path))
    tapped: list[Tapped] = []

    def tap(conn_id: int, from_client: bool, row: SegmentRow) -> None:
        frame, data, payload_at, captured_end = row[0], row[13], row[15], row[16]
        tapped.append((conn_id, from_client, frame, bytes(data[payload_at:captured_end])))

    records: list[str] = []
    try:
        batches = read_batches(path, summary, read_ahead=not ahead)
        for item in track_batches(batches, summary, tap=tap, ahead=ahead):
            assert isinstance(item, Connection)
            records.append(orjson.dumps(connection_to_json(item)).decode())
    except PcapdiffError as exc:
        records.append(f"error: {exc}")
    return records, tapped, summary_to_json(summary)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_decoding_ahead_finds_what_decoding_in_place_does(path: Path) -> None:
    """Every fixture and corpus capture: records, taps and summary alike."""
    in_place = scanned(path, ahead=False)
    ahead = scanned(path, ahead=True)
    assert ahead == in_place
    assert not decoding_threads()


@pytest.fixture(scope="module")
def many_chunks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Some 6 MB of connections, each answered with 1,400 bytes: several chunks."""
    frames = []
    for i in range(3000):
        request = b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i
        response = b"HTTP/1.1 200 OK\r\nContent-Length: 1362\r\n\r\n" + b"x" * 1362
        frames += exchange(request, response, cport=20000 + i)
    path = write_pcap(tmp_path_factory.mktemp("ahead") / "many.pcap", frames)
    assert path.stat().st_size > 5 << 20
    return path


def test_a_scan_left_midway_stops_its_thread_and_closes_the_file(many_chunks: Path) -> None:
    def open_files() -> int:
        fds = Path("/proc/self/fd")
        return sum(1 for fd in fds.iterdir() if fd.resolve(strict=False) == many_chunks)

    items = ConnectionScan(many_chunks).items()
    first = next(items)
    assert isinstance(first, Connection)
    assert first.id == 1
    assert decoding_threads()
    assert open_files() == 1
    items.close()  # type: ignore[attr-defined]
    assert not decoding_threads()
    assert open_files() == 0


def test_an_error_past_the_first_chunks_comes_after_their_records(
    many_chunks: Path, tmp_path: Path
) -> None:
    """A gzip stream that goes bad at two thirds: the records that ended before it,
    then the reader's one-line error, decoded ahead or not."""
    packed = bytearray(gzip.compress(many_chunks.read_bytes()))
    at = len(packed) * 2 // 3
    packed[at : at + 64] = bytes(64)
    bad = tmp_path / "bad.pcap.gz"
    bad.write_bytes(bytes(packed))
    in_place, ahead = scanned(bad, ahead=False), scanned(bad, ahead=True)
    assert ahead == in_place
    records, _, summary = ahead
    assert records[-1].startswith(f"error: {bad}: frame ")
    # every record before the corrupt one was analysed, not only the chunks before its
    bad_frame = int(records[-1].split("frame ")[1].split(" ")[0])
    assert summary["packets"] == bad_frame - 1
    assert 1000 < len(records) - 1 < 3000
    assert not decoding_threads()


def kept_counts(source: Any) -> tuple[int, str]:
    """How many records a ``keep`` scan gave (they stay in the core), then its error."""
    count = 0
    try:
        for records in ConnectionScan(source, keep=True).records():
            count += len(records)
    except PcapdiffError as exc:
        return count, str(exc)
    return count, ""


def test_a_kept_scan_is_tracked_on_the_reading_thread_as_in_place(
    many_chunks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """compare's scans (``keep``) of a file track on the reading thread too, the
    capture's end as well: as many records as a stream's, tracked in the caller's
    thread (what they hold: the next test); an error past the first chunks after their
    records; the thread gone when the scan is left."""
    import pcapdiff.track as track

    working_on: set[str] = set()
    real = track.on_a_thread

    def spy(batches: Any, work: Any, ahead: int, end: Any) -> Any:
        def watched(batch: Any) -> Any:
            working_on.add(threading.current_thread().name)
            return work(batch)

        def ended() -> Any:
            working_on.add(f"end on {threading.current_thread().name}")
            return end()

        return real(batches, watched, ahead, ended)

    monkeypatch.setattr(track, "on_a_thread", spy)
    ahead = kept_counts(many_chunks)
    assert working_on == {"pcapdiff-decode", "end on pcapdiff-decode"}
    with many_chunks.open("rb") as stream:
        in_place = kept_counts(stream)
    assert ahead == in_place
    assert ahead == (3000, "")
    assert not decoding_threads()

    packed = bytearray(gzip.compress(many_chunks.read_bytes()))
    at = len(packed) * 2 // 3
    packed[at : at + 64] = bytes(64)
    bad = tmp_path / "bad.pcap.gz"
    bad.write_bytes(bytes(packed))
    ahead = kept_counts(bad)
    with bad.open("rb") as stream:
        assert kept_counts(stream)[0] == ahead[0]
    assert ahead[1].startswith(f"{bad}: frame ")
    assert 1000 < ahead[0] < 3000
    assert not decoding_threads()

    chunks = ConnectionScan(many_chunks, keep=True).records()
    next(chunks)
    assert decoding_threads()
    chunks.close()  # type: ignore[attr-defined]
    assert not decoding_threads()


def test_compare_tracking_on_the_reading_threads_judges_as_in_place(tmp_path: Path) -> None:
    """The same verdicts from the pair's files (each tracked on its reading thread) as
    from them given as streams (tracked in the caller's thread)."""
    import io

    from pcapdiff import compare_streaming
    from pcapdiff.render.compare_json import ComparisonJsonStream

    sys.path.insert(0, str(ROOT / "scripts"))
    from synth_pair import make_pair

    make_pair(tmp_path, connections=600, seed=23)
    edge, origin = tmp_path / "edge.pcap", tmp_path / "origin.pcap"

    def document(a: Any, b: Any) -> str:
        out = io.StringIO()
        writer = ComparisonJsonStream(out)
        writer.finish(compare_streaming(a, b, writer.verdict, emit_texts=writer.texts))
        return out.getvalue()

    from_files = document(edge, origin)
    with edge.open("rb") as e, origin.open("rb") as o:
        from_streams = document(e, o)
    # the verdicts, in any order: when each is final depends on where the chunks end
    assert same_verdicts(orjson.loads(from_files), orjson.loads(from_streams))
    assert from_files.count('"outcome"') > 500
