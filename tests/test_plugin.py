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
