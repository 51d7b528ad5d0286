"""compare: every scenario's verdicts, evidence, edge-only mode, CLI, invariance."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapdiff.cli import cli
from pcapdiff.compare import compare
from pcapdiff.model import Culprit, Outcome, Side
from pcapdiff.read import read
from pcapdiff.render.compare_json import comparison_to_json

from .conftest import ROOT, Golden

SCENARIOS = sorted(p for p in (ROOT / "fixtures" / "pcaps" / "compare").iterdir() if p.is_dir())


def origin_file(folder: Path) -> Path:
    return next(p for p in folder.glob("origin.*") if p.suffix != ".json")


def expected(folder: Path) -> list[tuple[str, str, str]]:
    doc = json.loads((folder / "expected.json").read_text())
    return sorted((c["edge_client"], c["outcome"], c["culprit"]) for c in doc["connections"])


def verdicts(result: object) -> list[tuple[str, str, str]]:
    return sorted(
        (str(v.pair.edge.client), v.outcome.value, v.culprit.value) for v in result.verdicts
    )  # type: ignore[attr-defined]


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: p.name)
def test_scenario_verdicts(folder: Path, golden: Golden, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    rel = folder.relative_to(ROOT)
    result = compare(rel / "edge.pcap", origin_file(rel))
    assert verdicts(result) == expected(folder)
    golden.check(f"compare/{folder.name}", comparison_to_json(result))


def test_every_outcome_and_culprit_is_covered() -> None:
    seen = {(o, c) for folder in SCENARIOS for _, o, c in expected(folder)}
    assert {o for o, _ in seen} == {o.value for o in Outcome}
    for outcome in ("rst_on_connect", "rst_after_request", "no_response", "tls_handshake_failed"):
        assert {c for o, c in seen if o == outcome} == {"origin", "path"}


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: p.name)
def test_verdicts_cite_both_captures(folder: Path) -> None:
    result = compare(folder / "edge.pcap", origin_file(folder))
    for v in result.verdicts:
        sides = {ev.capture for ev in v.evidence}
        assert Side.EDGE in sides, v
        if v.outcome is not Outcome.INCONCLUSIVE:
            assert Side.ORIGIN in sides, v
        assert v.explanation
        assert all(ev.frame is None or ev.frame > 0 for ev in v.evidence)


def test_clock_offset_is_estimated() -> None:
    result = compare(
        SCENARIOS[0].parent / "clock_offset_hours" / "edge.pcap",
        SCENARIOS[0].parent / "clock_offset_hours" / "origin.pcap",
    )
    assert result.clock.source == "estimated"
    assert result.clock.seconds == pytest.approx(3 * 3600 + 17.5, abs=0.02)
    assert result.clock.spread_s == pytest.approx(0.010, abs=0.002)


def test_edge_capture_alone() -> None:
    folder = SCENARIOS[0].parent / "every_outcome"
    result = compare(folder / "edge.pcap")
    by_client = {str(v.pair.edge.client): v for v in result.verdicts}
    for v in result.verdicts:
        assert all(ev.capture is Side.EDGE for ev in v.evidence)
        assert v.culprit in (Culprit.NONE, Culprit.UNKNOWN)
    injected = by_client["198.51.100.7:40700"]  # the forged RST, TTL 250 vs 54
    assert injected.outcome is Outcome.RST_AFTER_REQUEST
    assert any("TTL 250" in h and "likely injected" in h for h in injected.hints)
    assert any("back-to-back RSTs" in h and "jumping" in h for h in injected.hints)
    honest = by_client["198.51.100.7:40600"]  # the origin's own RST
    assert honest.hints == ()


def test_cli_exit_codes_and_json() -> None:
    folder = SCENARIOS[0].parent / "every_outcome"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["compare", "--json", str(folder / "edge.pcap"), str(origin_file(folder))],
        env={"NO_COLOR": "1"},
    )
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["schema"] == "pcapdiff/compare/1"
    assert doc["summary"]["ok"] == 1
    ok_file = ROOT / "fixtures" / "pcaps" / "conns" / "http_ok.pcap"
    result = runner.invoke(cli, ["compare", str(ok_file), str(ok_file)], env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "1 origin-pull connection(s): ok 1" in result.stdout
    result = runner.invoke(cli, ["compare", str(ok_file), "--origin", "nonsense"])
    assert result.exit_code == 2


def test_origin_and_port_select_the_pulls() -> None:
    folder = SCENARIOS[0].parent / "mixed_with_noise"
    noisy = compare(folder / "edge.pcap")  # alone: the other service is an attempt too
    assert any(v.pair.edge.server.addr == "192.0.2.200" for v in noisy.verdicts)
    chosen = compare(folder / "edge.pcap", origins=["203.0.113.10:80"])
    assert {v.pair.edge.server.addr for v in chosen.verdicts} == {"203.0.113.10"}
    assert len(compare(folder / "edge.pcap", ports=[443]).verdicts) == 1


# --- the same world seen with another clock or another NAT changes no verdict ---------

ORIGIN_PCAP = SCENARIOS[0].parent / "every_outcome" / "origin.pcap"
EDGE_PCAP = SCENARIOS[0].parent / "every_outcome" / "edge.pcap"
EDGE_ADDR = bytes([198, 51, 100, 7])


def rewritten(shift_ns: int, nat: tuple[bytes, int] | None) -> bytes:
    """The origin capture with its clock moved and the edge's address/ports rewritten
    (source NAT between the two capture points), written as a new pcap."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for fr in read(ORIGIN_PCAP):
        data = bytearray(fr.data)
        if nat is not None and data[12:14] == b"\x08\x00":
            for addr_at, port_at in ((26, 34), (30, 36)):  # source, then destination
                if data[addr_at : addr_at + 4] == EDGE_ADDR:
                    data[addr_at : addr_at + 4] = nat[0]
                    port = struct.unpack_from("!H", data, port_at)[0]
                    struct.pack_into("!H", data, port_at, (port * 7 + nat[1]) % 64000 + 1024)
        ts = fr.ts_ns + shift_ns
        out.append(struct.pack("<IIII", ts // 10**9, ts % 10**9 // 1000, len(data), fr.wire_len))
        out.append(bytes(data))
    return b"".join(out)


BASELINE = verdicts(compare(EDGE_PCAP, ORIGIN_PCAP))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shift_s=st.floats(min_value=-7200, max_value=7200, allow_nan=False),
    nat=st.one_of(
        st.none(),
        st.tuples(
            st.sampled_from([b"\xc0\x00\x02\x01", b"\xc0\x00\x02\xfe"]), st.integers(0, 60000)
        ),
    ),
)
def test_clock_shift_and_snat_change_no_verdict(
    shift_s: float, nat: tuple[bytes, int] | None
) -> None:
    origin = io.BytesIO(rewritten(round(shift_s * 1e6) * 1000, nat))
    result = compare(EDGE_PCAP, origin)
    assert verdicts(result) == BASELINE
    assert result.clock.seconds == pytest.approx(shift_s, abs=0.02)
