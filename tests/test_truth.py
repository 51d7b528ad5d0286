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
from pcapdiff.model import Outcome

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
    truth = {
        c["edge_client"]: c for c in json.loads((pair / "truth.json").read_text())["connections"]
    }
    result = compare(pair / "edge.pcap", pair / "origin.pcap")
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
