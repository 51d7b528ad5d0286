"""Truth at scale: a generated pair with per-connection ground truth, judged connection
by connection (scripts/synth_pair.py: every failure kind, popular objects shared by
thousands of connections, source NAT, a clock offset of hours, both captures cut
mid-traffic)."""

from __future__ import annotations

import gc
import io
import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pcapdiff import compare
from pcapdiff.model import Comparison, Outcome

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from synth_pair import CLOCK_OFFSET_S, FATES, make_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pair")
    counts = make_pair(out, connections=3300, seed=7)
    assert min(counts.values()) > 50_000
    return out


def test_every_connection_is_judged_as_it_happened(pair: Path) -> None:
    result = compare(pair / "edge.pcap", pair / "origin.pcap")
    assert_judged_as_it_happened(pair, result)


def assert_judged_as_it_happened(pair: Path, result: Comparison, every_fate: bool = True) -> None:
    truth = {
        c["edge_client"]: c for c in json.loads((pair / "truth.json").read_text())["connections"]
    }
    assert result.clock.seconds == pytest.approx(CLOCK_OFFSET_S, abs=0.01)
    judged = {str(v.pair.edge.client): v for v in result.verdicts}
    wrong = []
    for client, v in judged.items():
        t = truth[client]
        if (v.outcome.value, v.culprit.value) == (t["outcome"], t["culprit"]):
            continue
        if t["cut"] and (v.outcome is Outcome.INCONCLUSIVE or v.assumes):
            continue  # a capture's start or end cut into it: not knowing is right
        wrong.append(
            (client, t["outcome"], t["culprit"], v.outcome.value, v.culprit.value, v.reason)
        )
    assert wrong == [], f"{len(wrong)} wrong, e.g. {wrong[:5]}"
    whole = [c for c, t in truth.items() if not t["cut"]]
    assert [c for c in whole if c not in judged] == []
    # Nothing the captures fully saw is left undecided or resting on an assumption.
    assert [
        c for c in whole if judged[c].outcome is Outcome.INCONCLUSIVE or judged[c].assumes
    ] == []
    # Every failure kind is in the pair, judged right.
    seen = Counter((truth[c]["outcome"], truth[c]["culprit"]) for c in whole)
    if every_fate:
        assert {(o, c) for _, _, o, c in FATES} <= set(seen)


def scores_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The candidate pairs the core's engine scores, per compare (appended as each
    compare ends): the work the matcher does."""
    from pcapdiff import _core

    counts: list[int] = []

    class Engine(_core.StreamingCompare):
        def finish(self, *args: Any) -> tuple[Any, ...]:
            end = super().finish(*args)
            counts.append(self.scored)
            return end

    monkeypatch.setattr(_core, "StreamingCompare", Engine)
    return counts


def test_candidates_stay_few_when_thousands_share_a_request(
    pair: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pair's four popular objects are shared by hundreds of connections each:
    pairing must not score every connection against every other with its request."""
    scored = scores_counted(monkeypatch)
    result = compare(pair / "edge.pcap", pair / "origin.pcap")
    assert len(result.verdicts) <= scored[0] <= 3 * len(result.verdicts), scored


def test_twenty_thousand_connections_sending_one_request_pair_at_linear_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every connection sends GET /favicon.ico within 10 s, behind source NAT, with a
    clock offset of hours: each is judged as it happened, and the candidates scored per
    connection stay the same at 20,000 connections as at 5,000 (quadratic pairing,
    every connection against every other with its request, fails this)."""
    from .match_reference import MAX_CANDIDATES

    scored = scores_counted(monkeypatch)
    per_connection = {}
    for connections in (5_000, 20_000):
        out = tmp_path / str(connections)
        make_pair(out, connections, seed=11, span_s=10.0, paths=("/favicon.ico",), bodies=(300,))
        result = compare(out / "edge.pcap", out / "origin.pcap")
        assert_judged_as_it_happened(out, result, every_fate=False)
        requests = {v.pair.edge.request.target for v in result.verdicts if v.pair.edge.request}
        assert requests == {"/favicon.ico"}
        per_connection[connections] = scored[-1] / len(result.verdicts)
    # A connection whose twin is in the origin capture finds it by its ISN (one
    # candidate); one without (its SYN dropped, or the origin capture not running) has
    # its request ranked among at most MAX_CANDIDATES near it in time.
    assert 1 <= per_connection[20_000] <= MAX_CANDIDATES, per_connection
    assert per_connection[20_000] <= 1.25 * per_connection[5_000] + 0.05, per_connection


def test_reading_the_origin_on_a_second_thread_changes_nothing(
    pair: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """compare reads a big origin capture on a thread of its own (two cores): the same
    document as reading one after the other, progress from the thread, and the
    thread's errors as the caller's own."""
    import pcapdiff.workers as workers
    from pcapdiff.errors import PcapdiffError
    from pcapdiff.render.compare_json import comparison_to_json

    monkeypatch.setattr(workers, "THREAD_MIN_BYTES", 1 << 60)
    assert workers.worth_a_thread(pair / "origin.pcap") is False
    alone = comparison_to_json(compare(pair / "edge.pcap", pair / "origin.pcap"))
    monkeypatch.setattr(workers, "THREAD_MIN_BYTES", 0)
    assert workers.worth_a_thread(pair / "origin.pcap")
    assert not workers.worth_a_thread("-")
    thresholds = gc.get_threshold()
    started = []
    real_init = workers.ThreadScan.__init__

    def spy(self: workers.ThreadScan, *args: object, **kwargs: object) -> None:
        started.append(args[0])
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(workers.ThreadScan, "__init__", spy)
    seen: list[tuple[str, int, int]] = []
    result = compare(
        pair / "edge.pcap",
        pair / "origin.pcap",
        progress=lambda side, done, total: seen.append((side.value, done, total)),
    )
    assert started == [pair / "origin.pcap"]
    assert same_verdicts(comparison_to_json(result), alone)
    size = (pair / "origin.pcap").stat().st_size
    assert ("origin", size, size) in seen  # the thread's progress reached the caller
    bad = tmp_path / "origin.pcap"
    bad.write_bytes(b"this is not a capture" * 100)
    with pytest.raises(PcapdiffError) as from_thread:
        compare(pair / "edge.pcap", bad)
    monkeypatch.setattr(workers, "THREAD_MIN_BYTES", 1 << 60)
    with pytest.raises(PcapdiffError) as in_process:
        compare(pair / "edge.pcap", bad)
    assert str(from_thread.value) == str(in_process.value)
    assert str(bad) in str(from_thread.value)
    # Both threads' scans ran rarely collecting; the caller's thresholds are back.
    assert gc.get_threshold() == thresholds
    # The edge fails while the origin's thread reads: the thread is stopped, not left.
    monkeypatch.setattr(workers, "THREAD_MIN_BYTES", 0)
    with pytest.raises(PcapdiffError, match="not a pcap"):
        compare(bad, pair / "origin.pcap")
    assert not [t for t in threading.enumerate() if t.name == "pcapdiff-reader"]


def test_compare_json_is_the_same_however_the_threads_run(
    pair: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The origin read on its own thread, the edge tracked on its own: with either
    made to stall at random, compare --json is the same text byte for byte (the
    verdicts in one order, numbered alike), as each run with the threads' own timing."""
    import random

    import pcapdiff.track as track
    import pcapdiff.workers as workers
    from pcapdiff import compare_streaming
    from pcapdiff.render.compare_json import ComparisonJsonStream

    monkeypatch.setattr(workers, "THREAD_MIN_BYTES", 0)
    monkeypatch.setattr(workers, "BATCH", 100)  # the origin's records in many batches

    def document() -> str:
        out = io.StringIO()
        writer = ComparisonJsonStream(out)
        result = compare_streaming(
            pair / "edge.pcap", pair / "origin.pcap", writer.verdict, emit_texts=writer.texts
        )
        writer.finish(result)
        return out.getvalue()

    alone = document()
    assert alone.count('"outcome"') > 3000
    stalls = random.Random(5)

    def stall() -> None:
        if stalls.random() < 0.5:
            threading.Event().wait(stalls.uniform(0, 0.004))

    real_put = workers.ThreadScan._put

    def slow_put(self: workers.ThreadScan, item: Any) -> None:
        stall()
        real_put(self, item)

    monkeypatch.setattr(workers.ThreadScan, "_put", slow_put)
    assert document() == alone  # the origin's reader late at random
    monkeypatch.setattr(workers.ThreadScan, "_put", real_put)
    real_on_a_thread = track.on_a_thread

    def slow_tracking(batches: Any, work: Any, ahead: int, end: Any) -> Any:
        def late(batch: Any) -> Any:
            stall()
            return work(batch)

        return real_on_a_thread(batches, late, ahead, end)

    monkeypatch.setattr(track, "on_a_thread", slow_tracking)
    assert document() == alone  # both captures' tracking late at random
    monkeypatch.setattr(workers.ThreadScan, "_put", slow_put)
    assert document() == alone  # and the origin's hand-over too


def same_verdicts(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same document, connection for connection (in any order), but for the times
    at which an absent packet was due: an early verdict states them with the clock
    offset known then, which the rest of the capture refines within its spread."""
    spread = max(a["clock_offset_spread_s"] or 0.0, b["clock_offset_spread_s"] or 0.0)

    def key(c: dict[str, Any]) -> tuple[str, object]:
        return (c["edge"]["client"], c["edge"]["first_frame"])

    def without_due(c: dict[str, Any]) -> dict[str, Any]:
        return {
            **{k: v for k, v in c.items() if k != "id"},
            "evidence": [{k: v for k, v in ev.items() if k != "due"} for ev in c["evidence"]],
        }

    ours = {key(c): c for c in a["connections"]}
    theirs = {key(c): c for c in b["connections"]}
    assert ours.keys() == theirs.keys()
    for k, c in ours.items():
        assert without_due(c) == without_due(theirs[k]), k
        for ev, other in zip(c["evidence"], theirs[k]["evidence"], strict=True):
            if ev["due"] is not None:
                assert ev["due"]["from"] == pytest.approx(other["due"]["from"], abs=spread + 1e-6)
                assert ev["due"]["until"] == pytest.approx(other["due"]["until"], abs=spread + 1e-6)
    rest = {k for k in a if k not in ("connections", "origin_window", "edge_window")}
    assert {k: a[k] for k in rest} == {k: b[k] for k in rest}
    for window in ("edge_window", "origin_window"):  # which connection shows the stop may differ
        assert {k: v for k, v in a[window].items() if k != "end_source"} == {
            k: v for k, v in b[window].items() if k != "end_source"
        }
    return True


def test_streamed_verdicts_are_those_of_the_run_that_holds_everything(
    pair: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """compare --json hands out a verdict as soon as nothing still to be read can change
    it, judged with the clock offset known then; the reference run holds every verdict
    to the end and judges it with the final offset. Same verdicts, most released early."""
    run = streamed_and_held(pair, monkeypatch)
    assert run.judged_early[1] == 0  # the reference held everything
    # all but the last seconds of the minute (and what waits for a twin) before the end
    assert run.judged_early[0] > 0.6 * len(run.held["connections"]), run.judged_early
    assert run.offsets[0] == run.offsets[1]
    assert same_verdicts(run.streamed, run.held)


MEASURE_COMPARE = """
import json, re, sys
import pcapdiff.workers as workers
from pcapdiff import compare_streaming
workers.THREAD_MIN_BYTES = 0  # the origin read on a second thread, alongside the edge
judged = []
compare_streaming(sys.argv[1], sys.argv[2], lambda v, a, b: judged.append(v.outcome.value),
                  release=sys.argv[3] == "stream")
status = open("/proc/self/status").read()
print(json.dumps({"judged": len(judged),
                  "rss_mb": int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) / 1024}))
"""


def test_a_streamed_compare_holds_far_less_than_every_connection(tmp_path: Path) -> None:
    """20,000 connections over two minutes: the streamed compare's peak memory (both
    captures' readers, on two threads) is far below that of the run that holds
    every pair to the end."""
    make_pair(tmp_path, 20_000, seed=5, span_s=120.0, bodies=(300,))
    peaks = {}
    for mode in ("stream", "hold"):
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                MEASURE_COMPARE,
                str(tmp_path / "edge.pcap"),
                str(tmp_path / "origin.pcap"),
                mode,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        peaks[mode] = json.loads(done.stdout)
    assert peaks["stream"]["judged"] == peaks["hold"]["judged"] > 19_000
    assert peaks["stream"]["rss_mb"] < 0.7 * peaks["hold"]["rss_mb"], peaks


def test_records_whose_twin_cannot_come_any_more_are_judged_as_the_capture_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """25 minutes of traffic, five times the trackers' idle timeout: an edge attempt
    with no certain twin (its SYN dropped on the way, say) is judged once the origin
    capture is read so far past it that its twin would have been released, and an
    origin connection of its own is reported then; the verdicts are those of the run
    that holds everything to the end, and far fewer records wait for the end."""
    make_pair(tmp_path, 2_500, seed=3, span_s=1500.0, bodies=(300,))
    run = streamed_and_held(tmp_path, monkeypatch)
    assert same_verdicts(run.streamed, run.held)
    unpaired = [c for c in run.held["connections"] if c["origin"] is None]
    assert len(unpaired) > 40  # the SYNs dropped in the path, and the cut ones
    left = run.waiting_at_end
    assert left[0] < left[1] / 2, left  # most judged before the end
    assert_judged_as_it_happened(
        tmp_path, compare(tmp_path / "edge.pcap", tmp_path / "origin.pcap"), every_fate=False
    )


class StreamedAndHeld(NamedTuple):
    streamed: dict[str, Any]  # compare --json as released
    held: dict[str, Any]  # the reference: every verdict held to the end
    offsets: tuple[float, float]
    judged_early: tuple[int, int]  # verdicts released before the end, each run
    waiting_at_end: tuple[int, int]  # records still waiting for a twin then


def streamed_and_held(folder: Path, monkeypatch: pytest.MonkeyPatch) -> StreamedAndHeld:
    """compare --json on FOLDER's pair as released, and as the run that holds every
    verdict to the end, the origin read alongside on its own thread."""
    import pcapdiff.workers as workers
    from pcapdiff import _core, compare_streaming
    from pcapdiff.render.compare_json import ComparisonJsonStream

    monkeypatch.setattr(workers, "THREAD_MIN_BYTES", 0)
    at_end: list[tuple[int, int]] = []

    class Engine(_core.StreamingCompare):
        """The core's engine, telling what its end found still waiting."""

        def finish(self, *args: Any) -> tuple[Any, ...]:
            at_end.append((self.judged, self.waiting))
            return super().finish(*args)

    monkeypatch.setattr(_core, "StreamingCompare", Engine)
    docs, offsets = [], []
    for release in (True, False):
        out = io.StringIO()
        writer = ComparisonJsonStream(out)
        result = compare_streaming(
            folder / "edge.pcap", folder / "origin.pcap", writer.verdict, release=release
        )
        writer.finish(result)
        docs.append(json.loads(out.getvalue()))
        offsets.append(result.clock.seconds)
    return StreamedAndHeld(
        docs[0],
        docs[1],
        (offsets[0], offsets[1]),
        (at_end[0][0], at_end[1][0]),
        (at_end[0][1], at_end[1][1]),
    )


def test_interleaved_scans_give_the_caller_back_its_collector_thresholds() -> None:
    """compare's two scans overlap on two threads (one starts, the other starts, the
    first ends): the rare collecting holds until the last ends, then the caller's
    thresholds are back."""
    from pcapdiff.conns import RARE_COLLECTION_OBJECTS, few_collections

    before = gc.get_threshold()
    first, second = few_collections(), few_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == (RARE_COLLECTION_OBJECTS, 50, 100)  # the second still runs
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
