"""The support engineer's desk (issue 11): output readable at any width, times,
filters, exit codes a CI job can rely on, argument mistakes named, --version."""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pytest

from pcapdiff import compare
from pcapdiff.filters import ClientSpec, VerdictFilter, parse_client, parse_outcomes, parse_when
from pcapdiff.model import ClockOffset, Outcome
from pcapdiff.render.compare_table import clock_line

from .conftest import ROOT, drain_terminal

PAIR = ROOT / "fixtures" / "pcaps" / "compare" / "every_outcome"
EDGE, ORIGIN = str(PAIR / "edge.pcap"), str(PAIR / "origin.pcap")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(columns: int, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """pcapdiff with stdout and stderr on a pseudo-terminal of ``columns`` columns
    (no COLUMNS in the environment: the width is the terminal's own)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    environ.update({"TERM": "xterm", **(env or {})})
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcapdiff", *args], stdout=follower, stderr=follower, env=environ
    )
    os.close(follower)
    seen = drain_terminal(leader)
    proc.wait(timeout=60)
    os.close(leader)
    return proc.returncode, ANSI.sub("", seen.decode()).replace("\r\n", "\n")


def pcapdiff(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(
        [sys.executable, "-m", "pcapdiff", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**environ, **(env or {})},
        cwd=ROOT,
    )


def json_of(*args: str) -> dict[str, Any]:
    done = pcapdiff("compare", "--json", EDGE, ORIGIN, *args)
    assert done.returncode in (0, 1), done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def verdicts() -> list[dict[str, Any]]:
    return list(json_of()["connections"])


# --- layout ------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [60, 80, 120, 200])
def test_every_width_shows_every_field_whole(columns: int, verdicts: list[dict[str, Any]]) -> None:
    """Nothing dropped, nothing past the edge, no word broken: each verdict's outcome,
    every evidence frame and every word of every explanation is on the terminal."""
    code, text = on_a_terminal(columns, "compare", "--no-progress", EDGE, ORIGIN)
    assert code == 1
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns, max(lines, key=len)
    words = set(text.split())
    for v in verdicts:
        assert v["outcome"] in words
        for ev in v["evidence"]:
            if ev["frame"] is not None:
                assert f"{ev['capture']}#{ev['frame']}" in words, (columns, ev)
        for word in v["explanation"].split():
            assert word in words, (columns, word)
    assert "explanatio" not in words  # a header broken in two
    if columns >= 200:
        assert re.search(r"^\s*#\s+start\s+edge client .* evidence\s+explanation", text, re.M)
    else:
        assert re.search(r"^#2 syn_not_received 522, culprit path$", text, re.M), text[:2000]


def test_piped_output_follows_columns_and_defaults_wide() -> None:
    narrow = pcapdiff("compare", EDGE, ORIGIN, env={"COLUMNS": "70"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 70
    assert "#2 syn_not_received 522, culprit path" in narrow.stdout
    wide = pcapdiff("compare", EDGE, ORIGIN)
    assert re.search(r"^\s*#\s+start\s+edge client .* evidence\s+explanation", wide.stdout, re.M)
    conns = pcapdiff("conns", EDGE, env={"COLUMNS": "60"})
    assert max(len(line) for line in conns.stdout.splitlines()[:-1]) <= 60
    assert "#2 198.51.100.7:40100 -> 203.0.113.10:80 S0 S" in conns.stdout


# --- times -------------------------------------------------------------------------------


def test_start_and_evidence_times_in_utc_and_local_time(verdicts: list[dict[str, Any]]) -> None:
    start = datetime.datetime.fromtimestamp(
        verdicts[1]["evidence"][0]["time"], datetime.timezone.utc
    )
    stamp = start.strftime("%H:%M:%S.") + f"{start.microsecond // 1000:03d}"
    out = pcapdiff("compare", EDGE, ORIGIN, "--client", "198.51.100.7:40100").stdout
    assert f"times in UTC, {start.date().isoformat()}" in out
    assert re.search(rf"^2\s+{re.escape(stamp)}\s+198\.51\.100\.7:40100", out, re.M), out
    assert f"edge#11 {stamp} edge sent SYN" in out
    tokyo = pcapdiff(
        "compare", EDGE, ORIGIN, "--client", "198.51.100.7:40100", "--local-time",
        env={"TZ": "Asia/Tokyo"},
    ).stdout  # fmt: skip
    there = start.astimezone(datetime.timezone(datetime.timedelta(hours=9)))
    assert f"times in JST, {there.date().isoformat()}" in tokyo
    assert f"edge#11 {there.strftime('%H:%M:%S')}" in tokyo


def test_origin_times_also_in_the_edge_clock_when_clocks_differ() -> None:
    folder = ROOT / "fixtures" / "pcaps" / "compare" / "clock_offset_hours"
    origin = next(p for p in folder.iterdir() if p.name.startswith("origin.pcap"))
    out = pcapdiff("compare", str(folder / "edge.pcap"), str(origin)).stdout
    match = re.search(r"origin#\d+ ([\d:. -]+?) \(edge clock\s+([\d:.]+)\)", out)
    assert match, out
    assert match.group(1) != match.group(2)


# --- filters -----------------------------------------------------------------------------


def test_filters_choose_rows_and_the_summary_counts_all(verdicts: list[dict[str, Any]]) -> None:
    out = pcapdiff("compare", EDGE, ORIGIN, "--not-ok").stdout
    assert out.startswith("15 origin-pull connections:")
    assert "14 connections shown, 1 filtered out (--not-ok)" in out
    doc = json_of("--outcome", "520")
    assert {c["outcome"] for c in doc["connections"]} == {"rst_after_request"}
    assert doc["filtered_out"] == 15 - len(doc["connections"])
    assert sum(doc["summary"].values()) == 15
    ids = {c["edge"]["client"]: c["id"] for c in verdicts}
    assert all(ids[c["edge"]["client"]] == c["id"] for c in doc["connections"])  # numbers kept
    two = json_of("--outcome", "RST_ON_CONNECT", "--outcome", "tls_handshake_failed")
    assert {c["outcome"] for c in two["connections"]} == {"rst_on_connect", "tls_handshake_failed"}
    one = json_of("--client", "198.51.100.7:40600")
    assert [c["edge"]["client"] for c in one["connections"]] == ["198.51.100.7:40600"]
    assert len(json_of("--client", "198.51.100.0/24")["connections"]) == 15
    assert json_of("--request", "IMAGES/A.JPG")["filtered_out"] < 15
    assert all(
        "images/a.jpg" in (c["request"] or {}).get("path", "")
        for c in json_of("--request", "/images/a.jpg")["connections"]
    )
    first = verdicts[0]["evidence"][0]["time"]
    at = datetime.datetime.fromtimestamp(first + 2, datetime.timezone.utc).strftime("%H:%M:%S")
    until = datetime.datetime.fromtimestamp(first + 4, datetime.timezone.utc).isoformat()
    window = json_of("--since", at, "--until", until)["connections"]
    assert window
    assert all(first + 1 < c["evidence"][0]["time"] <= first + 5 for c in window)


def test_filter_values_as_people_write_them() -> None:
    assert parse_outcomes("520") == {Outcome.RST_AFTER_REQUEST, Outcome.INVALID_RESPONSE}
    assert parse_outcomes("OK") == {Outcome.OK}
    with pytest.raises(ValueError, match="no outcome gives CDN code 599"):
        parse_outcomes("599")
    assert parse_client("[2001:db8::7]:40100").port == 40100
    assert parse_client("198.51.100.7").port is None
    utc = datetime.timezone.utc
    ref = int(datetime.datetime(2026, 12, 1, 18, 50, tzinfo=utc).timestamp() * 1e9)
    when = parse_when("18:51:40").resolve(ref, utc)
    assert when == int(datetime.datetime(2026, 12, 1, 18, 51, 40, tzinfo=utc).timestamp() * 1e9)
    after_midnight = parse_when("00:10").resolve(ref, utc)
    assert after_midnight == when + int((5 * 3600 + 18 * 60 + 20) * 1e9)
    assert parse_when("2026-12-01T18:51:40Z").resolve(0, utc) == when
    assert parse_when("2026-12-01 19:51:40 +01:00").resolve(0, utc) == when
    for bad in ("yesterday", "25:00", "nan"):
        with pytest.raises(ValueError, match="is not a time"):
            parse_when(bad)
    result = compare(EDGE, ORIGIN)
    wanted = VerdictFilter(clients=(ClientSpec(parse_client("198.51.100.7").network, 40100),))
    assert [str(v.pair.edge.client) for v in result.verdicts if wanted.matches(v)] == [
        "198.51.100.7:40100"
    ]


# --- exit codes and messages -------------------------------------------------------------


def test_nothing_judged_is_not_success() -> None:
    done = pcapdiff("compare", EDGE, ORIGIN, "--port", "22")
    assert done.returncode == 3
    assert "nothing judged" in done.stderr
    assert "--origin HOST[:PORT] or --port N" in done.stderr
    ok = ROOT / "fixtures" / "pcaps" / "conns" / "http_ok.pcap"
    assert pcapdiff("compare", str(ok), str(ok)).returncode == 0
    assert pcapdiff("compare", EDGE, ORIGIN, "--outcome", "ok").returncode == 1  # all counted
    assert "| 3 | nothing judged" in (ROOT / "README.md").read_text()  # documented


def test_clock_line_is_honest() -> None:
    assert "not estimated" in clock_line(ClockOffset(0.0, 0.0, 0, "none"))
    one_way = clock_line(ClockOffset(0.02, 0.0, 1, "estimated (one way only)"))
    assert "±" not in one_way
    assert "upper bound; 1 pair)" in one_way
    assert "(estimated from 2 pairs)" in clock_line(ClockOffset(0.0, 0.001, 2, "estimated"))


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["compare", EDGE, "--origin", ORIGIN],
            "--origin: '" + ORIGIN + "' is a capture file, not an address: the origin "
            "capture is the second argument",
        ),
        (
            ["probe", "http://x/", "--origin-ip", "198.51.100.2:8080"],
            "--origin-ip: '198.51.100.2:8080' is not an address (put the port in the URL)",
        ),
        (["compare", EDGE, "--outcome", "fine"], "--outcome: 'fine' is not an outcome"),
        (["compare", EDGE, "--client", "edge-7"], "--client: 'edge-7' is not ADDR"),
        (["compare", EDGE, "--since", "soon"], "--since: 'soon' is not a time"),
        (["probe", "http://x/", "--origin-ip", "192.0.2.1", "-H", "x"], "--header: 'x': write"),
        (["conns", EDGE, "--state", "S9"], "--state: 'S9' is not one of"),
    ],
)
def test_argument_mistakes_name_their_option(args: list[str], said: str) -> None:
    done = pcapdiff(*args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert said in done.stderr, done.stderr


def test_state_in_any_case() -> None:
    done = pcapdiff("conns", "--json", EDGE, "--state", "s0")
    assert done.returncode == 0, done.stderr
    assert {c["conn_state"] for c in json.loads(done.stdout)["connections"]} == {"S0"}


def test_version_usage_and_whole_sentence_summaries() -> None:
    for flag in ("--version", "-V"):
        done = pcapdiff(flag)
        assert done.returncode == 0
        assert re.fullmatch(r"pcapdiff, version \d+\.\d+\.\d+\n", done.stdout)
    bare = pcapdiff()
    assert bare.returncode == 2
    assert bare.stderr.startswith("usage: pcapdiff COMMAND")
    assert "Options:" not in bare.stderr
    assert len(bare.stderr.splitlines()) < 12
    helped = pcapdiff("--help").stdout
    commands = helped.split("Commands:")[1].strip().splitlines()
    assert len(commands) == 7  # capture, compare, conns, flows, probe, report, syncheck
    for line in commands:
        assert line.rstrip().endswith("."), line
        assert not line.rstrip().endswith("..."), line


def test_scripts_parse_their_arguments(tmp_path: Path) -> None:
    """`scripts/synth_capture.py --help` once wrote an 854 MB file named --help."""
    for script in sorted((ROOT / "scripts").glob("*.py")):
        done = subprocess.run(
            [sys.executable, str(script), "--help"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (script.name, done.stderr)
        assert "usage:" in done.stdout, script.name
        assert list(tmp_path.iterdir()) == [], script.name


def test_readme_links_stay_inside_and_its_example_is_real() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)]+)\)", readme):
        assert "://" not in target, target
        assert (ROOT / target.split("#")[0]).exists(), target
    assert "_PCAPDIFF_COMPLETE" in readme
    block = re.search(r"```\n\$ (pcapdiff compare [^\n]+)\n(.*?)```", readme, re.S)
    assert block, "the README shows a compare run"
    command, shown = block.group(1), block.group(2)
    args = command.split()[1:]
    done = pcapdiff(*args, env={"COLUMNS": "100"})
    assert done.stdout.startswith(shown.rstrip("\n").rsplit("\n", 1)[0]), done.stdout[:500]


def test_the_corpus_location_comes_from_the_environment(tmp_path: Path) -> None:
    """Outside CI, a clone not beside shared/ skips the corpus tests and says how to
    point them at the corpus."""
    environ = {k: v for k, v in os.environ.items() if k != "CI"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "tests/test_corpus.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**environ, "PCAPDIFF_CORPUS": str(tmp_path)},
    )
    assert f"public corpus not found at {tmp_path} (set PCAPDIFF_CORPUS" in done.stdout, done.stdout
    assert "1 skipped" in done.stdout
