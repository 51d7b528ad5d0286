"""The core's `conns --json` records (core/src/conns_json.rs) are the bytes the
Python renderer writes (render/conns_json.py: orjson over connection_to_json), on
every capture of the fixtures and the corpus; its times are Python's int division
written as orjson writes a float, for any integer."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import TextIO

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapdiff import _core
from pcapdiff.conns import ConnectionScan
from pcapdiff.errors import PcapdiffError
from pcapdiff.model import RECORD_SEPARATOR, RecordTexts
from pcapdiff.render.conns_json import connection_to_json

from .conftest import CORPUS, ROOT

CAPTURES = sorted(
    p
    for p in chain((ROOT / "fixtures" / "pcaps").rglob("*"), CORPUS.rglob("*"))
    if p.is_file() and p.suffix not in (".tsv", ".md", ".json", ".txt", ".toml")
)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_the_core_writes_each_record_as_the_python_renderer(path: Path) -> None:
    written = 0
    try:
        scan = ConnectionScan(path, json=True)
        for conn in scan:
            text = scan.json_of(conn)
            assert text is not None, f"connection {conn.id} left to Python"
            assert text == orjson.dumps(connection_to_json(conn)).decode()
            written += 1
    except PcapdiffError:
        return  # a broken file: the records before the error were compared
    assert written or not scan.summary.tcp_packets


NS = 1_000_000_000


@given(
    st.integers(-(2**64), 2**64)
    | st.integers(1_600_000_000 * NS, 1_900_000_000 * NS)
    | st.integers(-(10**6), 10**6)
    | st.integers(-(2**100), 2**100)
    # microseconds and milliseconds (a pcap's times), whose digits the core writes as
    # they are where they are the shortest
    | st.integers(0, 2**54).map(lambda us: us * 1_000)
    | st.integers(1_600_000_000_000, 1_900_000_000_000).map(lambda ms: ms * 1_000_000)
)
@settings(max_examples=10000, deadline=None)
def test_times_are_pythons_division_as_orjson_writes_it(ns: int) -> None:
    text = _core.seconds_json(ns)
    if text is None:  # beyond what the core compares exactly: Python writes it
        assert abs(ns) > 2**100 // 2**10
        return
    assert text == orjson.dumps(ns / NS).decode()


def test_halfway_quotients_round_to_even() -> None:
    # 2**53 + 1 seconds and a half-ulp: the exact quotient between two doubles; and a
    # double whose repr is a tie between two 17-digit strings (…0312|5: the even one)
    for ns in (
        9_007_199_254_740_993 * NS,
        9_007_199_254_740_995 * NS,
        2**62 + 1,
        2**63 - 1,
        1_899_867_431_457_031_131,
    ):
        assert _core.seconds_json(ns) == orjson.dumps(ns / NS).decode()


def text_only_documents(path: Path) -> tuple[str, str]:
    """`conns --json` of PATH as the CLI writes it without a filter (records as text
    only) and with filters that every connection passes (every record a Connection)."""
    import subprocess
    import sys

    from pcapdiff.filters import CONN_STATES

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "pcapdiff", "conns", "--json", str(path), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    every_state = [arg for state in sorted(CONN_STATES) for arg in ("--state", state)]
    return run(), run(*every_state)


def test_a_text_only_scan_gives_each_record_as_its_text() -> None:
    """Without a filter, `conns --json` asks the core for the text alone: the same
    records as the Connection path writes, in the same order, the same counts."""
    path = ROOT / "fixtures" / "pcaps" / "conns" / "every_state.pcap"
    scan = ConnectionScan(path, json=True, text_only=True)
    with pytest.raises(TypeError, match="items"):
        iter(scan)
    runs = [item for item in scan.items() if isinstance(item, RecordTexts)]
    texts = [text for run in runs for text in run.text.decode().split(RECORD_SEPARATOR)]
    assert sum(run.records for run in runs) == len(texts)
    assert sum(n for run in runs for n in run.states.values()) == len(texts)
    full = ConnectionScan(path, json=True)
    expected = [orjson.dumps(connection_to_json(conn)).decode() for conn in full]
    assert texts
    assert texts == expected
    plain, filtered = text_only_documents(path)
    assert without_filters(plain) == without_filters(filtered)
    assert json.loads(plain)["summary"]["connections"] == len(texts)


def without_filters(document: str) -> dict[str, object]:
    return {k: v for k, v in json.loads(document).items() if k != "filters"}


def test_record_texts_reach_any_stream_whole_and_in_order() -> None:
    """The core's UTF-8 text goes straight to a UTF-8 stream's bytes, after what the
    stream still holds; any other stream gets it as str: the same document each way."""
    import io

    from pcapdiff.model import CaptureSummary
    from pcapdiff.render.conns_json import write_conns_json

    run = RecordTexts('{"id": 1, "host": "ex\u00e9mple\u202e"}'.encode(), 1, {"SF": 1})
    summary = CaptureSummary(path="x.pcap")

    def document(out: TextIO, read: Callable[[], str]) -> str:
        write_conns_json([run, run], summary, out)
        out.flush()
        return read()

    text = io.StringIO()
    as_str = document(text, text.getvalue)
    utf8_bytes = io.BytesIO()
    utf8 = io.TextIOWrapper(utf8_bytes, encoding="utf-8", write_through=False)
    through_bytes = document(utf8, lambda: utf8_bytes.getvalue().decode())
    utf16_bytes = io.BytesIO()
    utf16 = io.TextIOWrapper(utf16_bytes, encoding="utf-16")
    as_utf16 = document(utf16, lambda: utf16_bytes.getvalue().decode("utf-16"))
    assert as_str == through_bytes == as_utf16
    doc = json.loads(as_str)
    assert [c["host"] for c in doc["connections"]] == ["ex\u00e9mple\u202e"] * 2
    assert doc["summary"]["connections"] == 2


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_a_text_only_scan_gives_the_connection_paths_records(path: Path) -> None:
    """Every capture: a text-only scan's records (runs of texts, and those the core
    leaves to Python as Connections) are the Connection path's, in the same order."""

    def texts(items: list[object]) -> list[str]:
        out = []
        for item in items:
            if isinstance(item, RecordTexts):
                out.extend(item.text.decode().split(RECORD_SEPARATOR))
            else:
                out.append(orjson.dumps(connection_to_json(item)).decode())  # type: ignore[arg-type]
        return out

    def scan(text_only: bool) -> list[str] | str:
        try:
            return texts(list(ConnectionScan(path, json=True, text_only=text_only).items()))
        except PcapdiffError as exc:  # a capture refused: refused the same way
            return str(exc)

    assert scan(True) == scan(False)
