"""compare: every scenario's verdicts, evidence, edge-only mode, CLI, invariance."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapdiff import compare, compare_streaming
from pcapdiff.cli import cli
from pcapdiff.model import Culprit, Outcome, Side
from pcapdiff.read import read
from pcapdiff.render.compare_json import comparison_to_json
from pcapdiff.render.compare_table import Shown, render_comparison, shows
from pcapdiff.render.console import out_console
from pcapdiff.render.times import TimeFormat

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
    # no_synack is what the edge capture alone says of the 522s (test_edge_capture_alone)
    assert {o for o, _ in seen} == {o.value for o in Outcome} - {"no_synack"}
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
    # The edge alone cannot tell the three 522s apart: one outcome, claiming only what it saw.
    for client in ("198.51.100.7:40100", "198.51.100.7:40200", "198.51.100.7:40300"):
        assert by_client[client].outcome is Outcome.NO_SYNACK
        assert by_client[client].cdn_status == 522
    assert result.clock.source == "none"
    doc = comparison_to_json(result)
    assert doc["clock_offset_s"] is None
    assert doc["origin"] is None


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
    assert "1 origin-pull connection: ok 1" in result.stdout
    result = runner.invoke(cli, ["compare", str(ok_file), "--origin", "nonsense"])
    assert result.exit_code == 2


def test_json_that_fails_part_way_is_still_a_document() -> None:
    """Verdicts are streamed; a capture that turns out broken (--strict on a cut-off
    file) still ends the document, with the error, and exit code 2."""
    folder = SCENARIOS[0].parent / "every_outcome"
    cut = ROOT / "fixtures" / "pcaps" / "conns" / "truncated_tail.pcap"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pcapdiff",
            "compare",
            "--json",
            "--strict",
            "--no-progress",
            str(folder / "edge.pcap"),
            str(cut),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    doc = json.loads(done.stdout)
    assert doc["schema"] == "pcapdiff/compare/1"
    assert str(cut) in doc["error"]
    assert done.stderr.strip().count("\n") == 0, done.stderr  # one line
    assert str(cut) in done.stderr
    assert "Traceback" not in done.stderr


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


# --- capture coverage: a capture cut short never turns into blame -----------------------

CUT_SCENARIOS = (
    "every_outcome",
    "snat_random_ports",
    "mixed_with_noise",
    "ipv6",
    "dnat_vip",
    "response_framing",
)


def cut_capture(path: Path, keep_from: float, keep_until: float) -> io.BytesIO:
    """The capture with only the records in [keep_from, keep_until] of its time span
    (fractions), as a person starting it late and pressing Ctrl-C early would get it."""
    frames = list(read(path))
    out = io.BytesIO()
    linktype = frames[0].linktype if frames else 1
    out.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, linktype))
    if frames:
        first, last = frames[0].ts_ns, frames[-1].ts_ns
        lo = first + (last - first) * keep_from
        hi = first + (last - first) * keep_until
        for fr in frames:
            if lo <= fr.ts_ns <= hi:
                sec, ns = divmod(fr.ts_ns, 1_000_000_000)
                out.write(struct.pack("<IIII", sec, ns, len(fr.data), fr.wire_len) + fr.data)
    out.seek(0)
    return out


def by_client(result: object) -> dict[str, object]:
    return {str(v.pair.edge.client): v for v in result.verdicts}  # type: ignore[attr-defined]


WHOLE = {
    name: by_client(
        compare(
            SCENARIOS[0].parent / name / "edge.pcap", SCENARIOS[0].parent / name / "origin.pcap"
        )
    )
    for name in CUT_SCENARIOS
}


@settings(
    max_examples=int(os.environ.get("PCAPDIFF_CUT_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(CUT_SCENARIOS),
    edge_cut=st.tuples(st.floats(0, 0.6), st.floats(0.4, 1.0)),
    origin_cut=st.tuples(st.floats(0, 0.6), st.floats(0.4, 1.0)),
    cut_edge=st.booleans(),
    cut_origin=st.booleans(),
)
def test_a_cut_capture_changes_a_verdict_only_to_inconclusive_or_an_assumption(
    name: str,
    edge_cut: tuple[float, float],
    origin_cut: tuple[float, float],
    cut_edge: bool,
    cut_origin: bool,
) -> None:
    """DESIGN.md, "Capture coverage": cut the edge and/or the origin capture at random
    points, head and tail. Every connection's verdict on the cut pair is its verdict on
    the whole pair, or inconclusive, or carries an `assumes` note: never another blame.
    (A cut can also leave a connection open with no request yet, or with every request
    it shows answered: ok, with a reason that says the capture ended while it was open.)"""
    folder = SCENARIOS[0].parent / name
    edge: Path | io.BytesIO = folder / "edge.pcap"
    origin: Path | io.BytesIO = folder / "origin.pcap"
    if cut_edge:
        edge = cut_capture(folder / "edge.pcap", *sorted(edge_cut))
    if cut_origin:
        origin = cut_capture(folder / "origin.pcap", *sorted(origin_cut))
    whole = WHOLE[name]
    for client, v in by_client(compare(edge, origin)).items():
        if v.outcome is Outcome.INCONCLUSIVE or v.assumes:  # type: ignore[attr-defined]
            continue
        if v.reason in ("idle_at_capture_end", "answered_still_open"):  # type: ignore[attr-defined]
            continue
        w = whole.get(client)
        assert w is not None, f"{client} judged {v.outcome} only in the cut pair"  # type: ignore[attr-defined]
        got = (v.outcome, v.culprit)  # type: ignore[attr-defined]
        assert got == (w.outcome, w.culprit), (client, v.explanation, w.explanation)  # type: ignore[attr-defined]


def test_the_origin_capture_stopped_early_without_a_sidecar() -> None:
    """Its last packet comes before the failing attempts; nothing says when it stopped:
    the attempts are judged, and say what they assume."""
    folder = SCENARIOS[0].parent / "origin_stopped_early"
    result = compare(folder / "edge.pcap", folder / "origin.pcap")
    failing = [v for v in result.verdicts if v.outcome is not Outcome.OK]
    assert [v.outcome for v in failing] == [Outcome.SYN_NOT_RECEIVED, Outcome.RST_ON_CONNECT]
    for v in failing:
        assert v.assumes
        assert "recorded no end" in v.explanation
    assert all(not v.assumes for v in result.verdicts if v.outcome is Outcome.OK)
    assert any("rest on an assumption" in w for w in result.warnings)
    # Saying when it ran settles it either way.
    t0 = 1_700_000_000
    late = compare(folder / "edge.pcap", folder / "origin.pcap", origin_window=(t0 - 1, t0 + 60))
    assert [v.outcome for v in late.verdicts if v.outcome is not Outcome.OK] == [
        Outcome.SYN_NOT_RECEIVED,
        Outcome.RST_ON_CONNECT,
    ]
    assert not any(v.assumes for v in late.verdicts)
    early = compare(folder / "edge.pcap", folder / "origin.pcap", origin_window=(t0 - 1, t0 + 1))
    assert [v.outcome for v in early.verdicts][2:] == [Outcome.INCONCLUSIVE] * 2


def test_the_edge_capture_cut_while_waiting_says_so() -> None:
    folder = SCENARIOS[0].parent / "edge_cut_mid_traffic"
    result = compare(folder / "edge.pcap", folder / "origin.pcap")
    waiting = by_client(result)["198.51.100.7:49202"]
    assert waiting.reason == "edge_still_waiting"  # type: ignore[attr-defined]
    assert "1.5 s after the request" in waiting.explanation  # type: ignore[attr-defined]
    assert [str(o.client) for o in result.unpaired_origin] == ["198.51.100.7:49200"]
    assert result.windows is not None
    assert "had stopped" in result.windows[0].end_source


# --- which captures, which connections ---------------------------------------------------


def test_swapped_captures_are_judged_the_right_way_round() -> None:
    folder = SCENARIOS[0].parent / "every_outcome"
    right = compare(folder / "edge.pcap", folder / "origin.pcap")
    swapped = compare(folder / "origin.pcap", folder / "edge.pcap")
    assert swapped.swapped
    assert not right.swapped
    assert verdicts(swapped) == verdicts(right)
    assert any("wrong order" in w and "TTL" in w for w in swapped.warnings)


def test_captures_on_one_link_are_not_taken_for_swapped() -> None:
    """Both ends on one link see every TTL as sent: nothing to go by, nothing swapped."""
    ok_file = ROOT / "fixtures" / "pcaps" / "conns" / "http_ok.pcap"
    assert not compare(ok_file, ok_file).swapped


def test_unrelated_captures_pair_nothing_as_certain() -> None:
    """The same requests, other connections: at most weak pairs, and no blame on them."""
    cases = SCENARIOS[0].parent
    result = compare(
        cases / "every_outcome" / "edge.pcap", cases / "snat_random_ports" / "origin.pcap"
    )
    assert result.clock.source == "none"
    paired = [v for v in result.verdicts if v.pair.origin is not None]
    assert paired, "the shared request should make candidates"
    assert all(v.pair.confidence == "weak" for v in paired)
    for v in paired:
        assert v.culprit not in (Culprit.ORIGIN, Culprit.PATH) or v.outcome is Outcome.INCONCLUSIVE
        assert v.outcome is Outcome.INCONCLUSIVE or v.assumes
    assert comparison_to_json(result)["clock_offset_s"] is None


def test_other_services_are_counted_not_judged() -> None:
    """A closed MySQL port (RST) and an ssh session between the same hosts are not 52x."""
    folder = SCENARIOS[0].parent / "mixed_with_noise"
    result = compare(folder / "edge.pcap", folder / "origin.pcap")
    ports = {v.pair.edge.server.port for v in result.verdicts}
    assert ports == {80}
    assert dict(result.other_connections) == {22: 1, 443: 1, 3306: 1}
    chosen = compare(folder / "edge.pcap", folder / "origin.pcap", ports=[3306])
    assert [v.outcome for v in chosen.verdicts] == [Outcome.RST_ON_CONNECT]


def test_pairs_say_how_sure_they_are() -> None:
    folder = SCENARIOS[0].parent / "snat_random_ports"
    result = compare(folder / "edge.pcap", folder / "origin.pcap")
    assert {v.pair.confidence for v in result.verdicts if v.pair.origin} == {"certain"}
    doc = comparison_to_json(result)
    assert {c["pairing"] for c in doc["connections"] if c["origin"]} == {"certain"}


def test_cli_windows_and_unpaired() -> None:
    folder = SCENARIOS[0].parent / "edge_cut_mid_traffic"
    runner = CliRunner()
    args = ["compare", str(folder / "edge.pcap"), str(folder / "origin.pcap"), "--show-unpaired"]
    result = runner.invoke(cli, args, env={"NO_COLOR": "1"})
    assert result.exit_code == 1, result.output
    assert "unpaired at the origin: 198.51.100.7:49200 -> 203.0.113.10:80" in result.stdout
    bad = runner.invoke(cli, [*args, "--origin-window", "nan,5"], env={"NO_COLOR": "1"})
    assert bad.exit_code == 2
    assert "not a finite time" in bad.output
    iso = runner.invoke(
        cli,
        [*args, "--json", "--origin-window", "2023-11-14T22:13:19,2023-11-14T22:14:00"],
        env={"NO_COLOR": "1"},
    )
    doc = json.loads(iso.stdout)
    assert doc["origin_window"]["start_source"] == "given"
    assert doc["origin_window"]["start"] == 1_699_999_999.0


def test_the_library_imports_no_renderer_capture_runner_or_cli() -> None:
    """compare() is a library call: no rich, no click, no tcpdump runner behind it."""
    script = (
        "import sys\n"
        "from pcapdiff import compare\n"
        f"compare({str(SCENARIOS[0].parent / 'every_outcome' / 'edge.pcap')!r}, "
        f"{str(SCENARIOS[0].parent / 'every_outcome' / 'origin.pcap')!r})\n"
        "bad = [m for m in sys.modules if m in ('rich', 'click') or "
        "m.startswith(('pcapdiff.capture', 'pcapdiff.render', 'pcapdiff.cli'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_constant_isn_rewrite_is_learned_only_from_enough_agreeing_pairs() -> None:
    """One delta on three pairs is a firewall's constant (32 bits do not agree by
    chance); per-connection randomisation (Cisco ASA's) or two pairs are not."""
    from pcapdiff.model import Pair

    from .match_reference import rewrite_delta
    from .test_judge import conn

    def pair(edge_isn: int, origin_isn: int) -> Pair:
        return Pair(conn(client_isn=edge_isn), conn(client_isn=origin_isn), 1.0, "same request")

    delta = 0x2F00BA11
    constant = [pair(isn, (isn + delta) & 0xFFFFFFFF) for isn in (5, 0xFFFFFFF0, 123456)]
    assert rewrite_delta(constant) == delta  # wrapping past 2**32 included
    assert rewrite_delta(constant[:2]) == 0
    assert rewrite_delta([pair(isn, isn * 7919 + 17) for isn in range(1, 40)]) == 0
    assert rewrite_delta([*constant, *(pair(i, i) for i in range(10))]) == delta  # ISNs kept
    assert rewrite_delta([*constant, *(pair(i, i * 31 + 5) for i in range(1, 10))]) == 0


def test_behind_snat_without_timestamps_a_rewritten_isn_still_pairs_with_certainty() -> None:
    folder = SCENARIOS[0].parent / "snat_isn_rewrite"
    result = compare(folder / "edge.pcap", folder / "origin.pcap")
    assert result.clock.source == "estimated"
    assert {v.pair.confidence for v in result.verdicts} == {"certain"}
    assert all("ISN rewritten by +0x2f00ba11" in v.pair.matched_by for v in result.verdicts)


@pytest.mark.parametrize("columns", ["200", "50"])  # a table, then blocks
@pytest.mark.parametrize("filters", [(), ("--not-ok",)])
def test_the_table_streamed_from_its_spool_is_the_whole_comparisons(
    columns: str, filters: tuple[str, ...]
) -> None:
    # The CLI's table keeps each verdict on disk as it is final (VerdictSpool) and lays
    # the rows out at the end, in the edge capture's order: it must be exactly the
    # table of the whole Comparison that compare() returns.
    folder = SCENARIOS[0].parent / "every_outcome"
    edge, origin = folder / "edge.pcap", origin_file(folder)
    result = CliRunner().invoke(
        cli,
        ["compare", str(edge), str(origin), *filters],
        env={"NO_COLOR": "1", "COLUMNS": columns},
    )
    assert result.exit_code == 1, result.output
    whole = compare(edge, origin)
    numbered = list(enumerate(whole.verdicts, 1))
    chosen = [(n, v) for n, v in numbered if not filters or v.outcome is not Outcome.OK]
    out = io.StringIO()
    render_comparison(
        whole,
        out_console(out, width=int(columns)),
        times=TimeFormat(reference_ns=whole.edge.first_ts_ns),
        shown=Shown(chosen, len(numbered) - len(chosen), " ".join(filters)),
    )
    assert result.stdout == out.getvalue()
    assert len(chosen) > 5
    assert ("filtered out" in out.getvalue()) == bool(filters)


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: p.name)
def test_the_cores_table_rows_are_what_the_table_shows_of_each_verdict(folder: Path) -> None:
    # compare's table takes each verdict from the core as its row (take_rows), no
    # Verdict made: the same values as the row of compare()'s Verdict, in its order.
    edge, origin = folder / "edge.pcap", origin_file(folder)
    rows: list[tuple[int, int, tuple[object, ...]]] = []
    whole = compare(edge, origin)
    streamed = compare_streaming(
        edge,
        origin,
        lambda *_: pytest.fail("a Verdict was made"),
        emit_rows=lambda *r: rows.append(r),
    )
    several = bool(streamed.edge.files)
    rows.sort(key=lambda r: (r[0] if several else 0, r[1]))
    assert [row for _, _, row in rows] == [shows(v) for v in whole.verdicts]
    assert [(start, frame) for start, frame, _ in rows] == [
        (v.pair.edge.first_ts_ns, v.pair.edge.first_frame) for v in whole.verdicts
    ]
