"""Truth at scale: a generated pair with per-connection ground truth, judged connection
by connection (scripts/synth_pair.py: every failure kind, popular objects shared by
thousands of connections, source NAT, a clock offset of hours, both captures cut
mid-traffic)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

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


def test_candidates_stay_few_when_thousands_share_a_request(pair: Path) -> None:
    """The pair's four popular objects are shared by hundreds of connections each:
    pairing must not score every connection against every other with its request."""
    import pcapdiff.match as match_module

    scored = 0
    real_score = match_module._score

    def counting(*args: object) -> object:
        nonlocal scored
        scored += 1
        return real_score(*args)  # type: ignore[arg-type]

    match_module._score = counting  # type: ignore[assignment]
    try:
        result = compare(pair / "edge.pcap", pair / "origin.pcap")
    finally:
        match_module._score = real_score
    assert scored <= 3 * len(result.verdicts), scored


def test_twenty_thousand_connections_sending_one_request_pair_at_linear_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every connection sends GET /favicon.ico within 10 s, behind source NAT, with a
    clock offset of hours: each is judged as it happened, and the candidates scored per
    connection stay the same at 20,000 connections as at 5,000 (quadratic pairing,
    every connection against every other with its request, fails this)."""
    import pcapdiff.match as match_module

    real_score = match_module._score
    scored = 0

    def counting(*args: object) -> object:
        nonlocal scored
        scored += 1
        return real_score(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(match_module, "_score", counting)
    per_connection = {}
    for connections in (5_000, 20_000):
        out = tmp_path / str(connections)
        make_pair(out, connections, seed=11, span_s=10.0, paths=("/favicon.ico",), bodies=(300,))
        scored = 0
        result = compare(out / "edge.pcap", out / "origin.pcap")
        assert_judged_as_it_happened(out, result, every_fate=False)
        requests = {v.pair.edge.request.target for v in result.verdicts if v.pair.edge.request}
        assert requests == {"/favicon.ico"}
        per_connection[connections] = scored / len(result.verdicts)
    # A connection whose twin is in the origin capture finds it by its ISN (one
    # candidate); one without (its SYN dropped, or the origin capture not running) has
    # its request ranked among at most MAX_CANDIDATES near it in time.
    assert per_connection[20_000] <= match_module.MAX_CANDIDATES, per_connection
    assert per_connection[20_000] <= 1.25 * per_connection[5_000] + 0.05, per_connection


def test_reading_the_origin_in_a_second_process_changes_nothing(
    pair: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """compare reads a big origin capture in a child process (two cores): the same
    document as reading both in this process, progress from the child, and the
    child's errors as this process's own."""
    import pcapdiff.workers as workers
    from pcapdiff.errors import PcapdiffError
    from pcapdiff.render.compare_json import comparison_to_json

    monkeypatch.setattr(workers, "CHILD_MIN_BYTES", 1 << 60)
    assert workers.worth_a_child(pair / "origin.pcap") is False
    alone = comparison_to_json(compare(pair / "edge.pcap", pair / "origin.pcap"))
    monkeypatch.setattr(workers, "CHILD_MIN_BYTES", 0)
    assert workers.worth_a_child(pair / "origin.pcap")
    assert not workers.worth_a_child("-")
    started = []
    real_init = workers.ChildScan.__init__

    def spy(self: workers.ChildScan, *args: object, **kwargs: object) -> None:
        started.append(args[0])
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(workers.ChildScan, "__init__", spy)
    seen: list[tuple[str, int, int]] = []
    result = compare(
        pair / "edge.pcap",
        pair / "origin.pcap",
        progress=lambda side, done, total: seen.append((side.value, done, total)),
    )
    assert started == [pair / "origin.pcap"]
    assert comparison_to_json(result) == alone
    size = (pair / "origin.pcap").stat().st_size
    assert ("origin", size, size) in seen  # the child's progress reached the caller
    bad = tmp_path / "origin.pcap"
    bad.write_bytes(b"this is not a capture" * 100)
    with pytest.raises(PcapdiffError) as from_child:
        compare(pair / "edge.pcap", bad)
    monkeypatch.setattr(workers, "CHILD_MIN_BYTES", 1 << 60)
    with pytest.raises(PcapdiffError) as in_process:
        compare(pair / "edge.pcap", bad)
    assert str(from_child.value) == str(in_process.value)
    assert str(bad) in str(from_child.value)
