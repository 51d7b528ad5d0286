"""The pytest plugin (--pcapdiff-cases) and pcapdiff.testing.assert_outcomes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pcapdiff import compare
from pcapdiff.testing import OutcomeMismatch, assert_outcomes, find_cases

from .conftest import ROOT

CASES = ROOT / "fixtures" / "pcaps" / "compare"


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_case_folder_becomes_a_passing_test(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, "--pcapdiff-cases", str(CASES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(find_cases(CASES))} passed" in proc.stdout
    assert len(find_cases(CASES)) == 16


def test_a_wrong_expectation_fails_with_a_readable_diff(tmp_path: Path) -> None:
    case = tmp_path / "cases" / "snat"
    shutil.copytree(CASES / "snat_random_ports", case)
    doc = json.loads((case / "expected.json").read_text())
    doc["connections"][0]["outcome"] = "no_response"
    doc["connections"][0]["culprit"] = "origin"
    (case / "expected.json").write_text(json.dumps(doc))
    client = doc["connections"][0]["edge_client"]
    proc = run_pytest(tmp_path, "--pcapdiff-cases", str(tmp_path / "cases"))
    assert proc.returncode == 1
    assert "1 failed" in proc.stdout
    assert f"{client}: no_response/origin | ok/none" in proc.stdout


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, "--pcapdiff-cases", str(tmp_path / "nope"))
    assert proc.returncode == 4
    assert "not a folder" in proc.stderr


def test_assert_outcomes() -> None:
    folder = CASES / "port_reuse"
    result = compare(folder / "edge.pcap", folder / "origin.pcap")
    expected = json.loads((folder / "expected.json").read_text())["connections"]
    assert_outcomes(result, expected)
    with pytest.raises(OutcomeMismatch) as info:
        assert_outcomes(result, expected[:1])  # the second attempt on the port is unexpected
    assert "198.51.100.7:46000: syn_not_received/path | ok/none, syn_not_received/path" in str(
        info.value
    )


# --- in-process (pytester): collection and the errors of a malformed case -----------------


def cases_in(root: Path, *names: str) -> Path:
    """Copies of one recorded-as-generated case under ``root``, one per name."""
    for name in names:
        shutil.copytree(CASES / "port_reuse", root / name)
    return root


def test_cases_are_collected_as_items_with_selectable_ids(pytester: pytest.Pytester) -> None:
    root = cases_in(pytester.path / "cases", "v4/ok", "v6/ok", "reuse")
    listed = pytester.runpytest("--pcapdiff-cases", str(root), "--collect-only", "-q")
    ids = [line for line in listed.outlines if "::" in line]
    assert ids == [
        "cases/reuse/expected.json::reuse",
        "cases/v4/ok/expected.json::v4/ok",
        "cases/v6/ok/expected.json::v6/ok",
    ]
    assert "3 tests collected" in listed.stdout.str()
    run = pytester.runpytest("--pcapdiff-cases", str(root), "-v")
    run.assert_outcomes(passed=3)
    assert "collected 3 items" in run.stdout.str()
    one = pytester.runpytest("--pcapdiff-cases", str(root), "cases/v6/ok/expected.json::v6/ok")
    one.assert_outcomes(passed=1)
    folder = pytester.runpytest("--pcapdiff-cases", str(root), "cases/v4")
    folder.assert_outcomes(passed=1)
    picked = pytester.runpytest("--pcapdiff-cases", str(root), "-k", "reuse")
    picked.assert_outcomes(passed=1, deselected=2)


@pytest.mark.parametrize(
    ("text", "line", "said"),
    [
        ('{"connections": [\n  {"edge_client": "x",\n', 3, "not JSON"),
        ("[]\n", 1, "the top level must be an object"),
        (
            '{"connections": [\n {"edge_client": "198.51.100.7:46000",\n  "outcome": "OK"}\n]}\n',
            3,
            "unknown outcome 'OK' in connection 1 (known: inconclusive, invalid_response,",
        ),
        (
            '{"connections": [\n {"edge_client": "198.51.100.7:46000", "outcome": "ok"},\n'
            ' {"edge_client": "198.51.100.7:46000",\n  "outcome": "ok", "culpirt": "x"}\n]}\n',
            4,
            "unknown key 'culpirt' in connection 2 (known: edge_client, outcome, culprit, note)",
        ),
        ('{"conections": []}\n', 1, "unknown key 'conections' (known: connections,"),
        ('{"connections": [{"outcome": "ok"}]}\n', 1, "connection 1 needs 'edge_client'"),
    ],
)
def test_a_malformed_expectation_is_one_clear_line(
    pytester: pytest.Pytester, text: str, line: int, said: str
) -> None:
    root = cases_in(pytester.path / "cases", "bad")
    expected = root / "bad" / "expected.json"
    expected.write_text(text)
    run = pytester.runpytest("--pcapdiff-cases", str(root))
    run.assert_outcomes(failed=1)
    out = run.stdout.str()
    assert f"{expected}:{line}: " in out, out
    assert said in out, out
    assert "Traceback" not in out
    assert len(out.splitlines()) < 20, out
