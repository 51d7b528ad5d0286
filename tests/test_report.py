"""The evidence report (issue 14): `compare --html`, `pcapdiff report`, the ladders,
rendered in real headless Chromium: no console error, no network request, the arrows a
known fixture must have (read from the SVG's DOM), a hostile capture inert."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapdiff.cli import cli, main
from pcapdiff.errors import PcapdiffError
from pcapdiff.ladder import DELIVERED, INJECTED, LOST, UNSEEN, ladder_of
from pcapdiff.render.html import comparison_html, report_html, visible
from pcapdiff.report import read_compare_json

from .browser import chromium
from .conftest import ROOT
from .craft import SYN, client_hello, exchange, tcp_frame, write_pcap

PAIR = ROOT / "fixtures" / "pcaps" / "compare" / "every_outcome"
EDGE, ORIGIN = PAIR / "edge.pcap", PAIR / "origin.pcap"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def compare_document(tmp_path: Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / "result.json"
    result = run("compare", "--json", str(EDGE), str(ORIGIN), *extra)
    assert result.exit_code == 1, result.output  # every_outcome: some are not ok
    out.write_text(result.output)
    document: dict[str, Any] = json.loads(result.output)
    return document


def arrows_of(document: dict[str, Any], n: int) -> list[tuple[str, str, Any, Any]]:
    c = document["connections"][n - 1]
    assert c["id"] == n
    return [
        (a.packet, a.fate, a.edge and a.edge.frame, a.origin and a.origin.frame)
        for a in ladder_of(c, document).arrows
    ]


# What the fixture's connections must show (scripts/make_compare_fixtures.py made them):
# packet, fate, frame at the edge, frame at the origin.
EXPECTED_ARROWS = {
    2: [("SYN", LOST, 11, None), ("SYN", LOST, 13, None), ("SYN", LOST, 27, None)],
    4: [
        ("SYN", DELIVERED, 14, 12),
        ("SYN-ACK", LOST, None, 13),
        ("SYN", DELIVERED, 20, 17),
        ("SYN-ACK", LOST, None, 18),
    ],
    6: [("SYN", LOST, 18, None), ("RST", INJECTED, 19, None)],
    8: [
        ("SYN", DELIVERED, 28, 25),
        ("SYN-ACK", DELIVERED, 29, 26),
        ("ACK", DELIVERED, 30, 27),
        ("request", DELIVERED, 31, 28),
        ("RST", INJECTED, 32, None),
        ("RST", INJECTED, 33, None),
    ],
    9: [
        ("SYN", DELIVERED, 36, 31),
        ("SYN-ACK", DELIVERED, 37, 32),
        ("ACK", DELIVERED, 38, 33),
        ("request", LOST, 39, None),
        ("response", INJECTED, 40, None),
        ("FIN", INJECTED, 41, None),
    ],
}


def test_the_ladders_line_up_what_each_capture_holds(tmp_path: Path) -> None:
    document = compare_document(tmp_path)
    for n, expected in EXPECTED_ARROWS.items():
        assert arrows_of(document, n)[: len(expected)] == expected, n
    injected = ladder_of(document["connections"][7], document).arrows[4]
    assert "TTL 250" in injected.note
    assert "IP ID 15867" in injected.note


def test_packets_are_listed_for_connections_that_are_not_ok_unless_asked(
    tmp_path: Path,
) -> None:
    document = compare_document(tmp_path)
    ok = [c for c in document["connections"] if c["outcome"] == "ok"]
    assert ok
    assert all("packets" not in c["edge"] for c in ok)
    assert all("packets" in c["edge"] for c in document["connections"] if c["outcome"] != "ok")
    every = compare_document(tmp_path, "--html-all")
    assert all("packets" in c["edge"] for c in every["connections"])
    first = every["connections"][0]
    assert [p["packet"] for p in first["edge"]["packets"]][:4] == [
        "SYN",
        "SYN-ACK",
        "ACK",
        "request",
    ]


def test_the_edge_alone_blames_no_absence(tmp_path: Path) -> None:
    """Without the origin capture nothing is lost or injected: it is not seen."""
    result = run("compare", "--json", str(EDGE))
    document = json.loads(result.output)
    fates = {a.fate for c in document["connections"] for a in ladder_of(c, document).arrows}
    assert fates == {UNSEEN}


def test_report_of_the_json_is_the_page_compare_writes(tmp_path: Path) -> None:
    page = tmp_path / "direct.html"
    assert run("compare", str(EDGE), str(ORIGIN), "--html", str(page)).exit_code == 1
    result = tmp_path / "result.json"
    both = tmp_path / "both.html"
    done = run("compare", "--json", str(EDGE), str(ORIGIN), "--html", str(both))
    result.write_text(done.output)
    later = tmp_path / "later.html"
    assert run("report", str(result), "--html", str(later)).exit_code == 0
    assert page.read_text() == both.read_text() == later.read_text()
    text = later.read_text()
    for n in range(2, 16):  # every connection but the ok one has its ladder
        assert f'id="c-{n}"' in text
    assert 'id="c-1"' not in text
    stdout = run("report", str(result), "--html", "-")
    assert stdout.exit_code == 0
    assert stdout.output == text


def test_the_library_draws_the_same_page(tmp_path: Path) -> None:
    from pcapdiff import compare

    page = tmp_path / "cli.html"
    run("compare", str(EDGE), str(ORIGIN), "--html", str(page), "--html-all")
    assert comparison_html(compare(EDGE, ORIGIN), all_connections=True) == page.read_text()


def test_html_all_draws_the_ok_ones_too(tmp_path: Path) -> None:
    page = tmp_path / "all.html"
    run("compare", str(EDGE), str(ORIGIN), "--html", str(page), "--html-all")
    assert 'id="c-1"' in page.read_text()
    plain = tmp_path / "plain.json"
    plain.write_text(run("compare", "--json", str(EDGE), str(ORIGIN)).output)
    out = tmp_path / "from-plain.html"
    assert run("report", str(plain), "--html", str(out), "--html-all").exit_code == 0
    assert "1 connection(s) without a ladder" in out.read_text()


def test_filters_choose_the_connections_of_the_page(tmp_path: Path) -> None:
    page = tmp_path / "f.html"
    run("compare", str(EDGE), str(ORIGIN), "--html", str(page), "--outcome", "520")
    text = page.read_text()
    assert re.findall(r'id="c-(\d+)"', text) == ["7", "8"]  # the two 520s, ids kept
    assert "<dt>listed / judged</dt><dd>2 of 15</dd>" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n", "not JSON (line 1, byte 0)"),
        (b'{"schema": "pcapdiff/conns/1", "connections": []}', "not a compare result"),
        (b'{"schema": "pcapdiff/compare/1", "connections": 3}', "'connections' is not a list"),
        (b'{"schema": "pcapdiff/compare/1",\n "connections": [', "not JSON (line 2"),
    ],
)
def test_report_refuses_what_is_not_a_compare_result(
    tmp_path: Path, content: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    given = tmp_path / "given.json"
    given.write_bytes(content)
    out = tmp_path / "out.html"
    assert main(["report", str(given), "--html", str(out)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(given) in lines[0]
    assert message in lines[0]
    assert not out.exists()


def test_report_of_a_missing_file_and_both_outputs_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "none.json"), "--html", "-"]) == 2
    assert "none.json" in capsys.readouterr().err
    assert main(["compare", str(EDGE), str(ORIGIN), "--json", "--html", "-"]) == 2
    assert "both write to stdout" in capsys.readouterr().err


def test_visible_makes_control_and_format_characters_escapes() -> None:
    shown = visible('<a href="x">\x1b[31m\x00\u202e\u2028é')
    assert shown == "&lt;a href=&quot;x&quot;&gt;\\x1b[31m\\x00\\u202e\\u2028é"


# --- in real Chromium -------------------------------------------------------------------

HOSTILE_HOST = (
    b'<script>alert(3)</script>"><img/src=x/onerror=alert(4)>\x1b]0;pwn\x07\x00\xe2\x80\xaeevil'
)
HOSTILE_PATH = b'/<script>alert(1)</script>"><img/src=x/onerror=alert(2)>\x1b[31m\x00\xe2\x80\xae'


def hostile_pair(folder: Path) -> tuple[Path, Path]:
    """An HTTP pull and a TLS one whose path, Host and SNI are hostile, unanswered (so
    each gets its ladder); the origin captured the same packets."""
    request = b"GET " + HOSTILE_PATH + b" HTTP/1.1\r\nHost: " + HOSTILE_HOST + b"\r\n\r\n"
    frames = exchange(request, None) + exchange(
        client_hello(HOSTILE_HOST), None, port=443, cport=40001
    )
    frames.append(tcp_frame(True, SYN, 7000, 0, cport=40002))  # and one never answered
    return (
        write_pcap(folder / "edge.pcap", frames),
        write_pcap(folder / "origin.pcap", frames, start_s=1_700_000_000.0005),
    )


def dom_arrows(browser: Any, n: int) -> list[list[str]]:
    value: list[list[str]] = browser.evaluate(
        f"[...document.querySelectorAll('#c-{n} svg g.arrow')].map(g => ["
        "g.getAttribute('data-packet'), g.getAttribute('data-fate'), "
        "g.getAttribute('data-edge-frame'), g.getAttribute('data-origin-frame')])"
    )
    return value


def assert_quiet(load: Any) -> None:
    """No console message, exception or log error; no request but the page itself."""
    assert load.console == [], load.console
    assert load.exceptions == [], load.exceptions
    assert [e for e in load.log if e.get("level") in ("error", "warning")] == [], load.log
    assert load.requests == [load.url], load.requests  # nothing fetched


@pytest.mark.requires_chromium
def test_the_report_in_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    run("compare", str(EDGE), str(ORIGIN), "--html", str(page))
    with chromium(tmp_path / "profile") as browser:
        load = browser.load(page)
        assert_quiet(load)
        for n, expected in EXPECTED_ARROWS.items():
            shown = dom_arrows(browser, n)[: len(expected)]
            want = [
                [p, f, "" if e is None else str(e), "" if o is None else str(o)]
                for p, f, e, o in expected
            ]
            assert shown == want, n
        # the outcome filter is CSS alone: choosing 520s hides every other row
        rows = (
            "[...document.querySelectorAll('table.conns tbody tr')]"
            ".filter(r => getComputedStyle(r).display != 'none').length"
        )
        assert browser.evaluate(rows) == 15
        browser.evaluate("document.getElementById('f-rst_after_request').click()")
        assert browser.evaluate(rows) == 2
        # nothing ran: the page's CSP allows no script, and it has none
        assert browser.evaluate("document.scripts.length") == 0
        policy = browser.evaluate(
            "document.querySelector('meta[http-equiv=Content-Security-Policy]').content"
        )
        assert "script-src 'none'" in policy
        assert "default-src 'none'" in policy
        # the style block is the one the policy allows (by hash): it applied
        colour = browser.evaluate(
            "getComputedStyle(document.querySelector('#c-8 g.injected line')).stroke"
        )
        assert colour == "rgb(188, 76, 0)"


@pytest.mark.requires_chromium
def test_a_hostile_capture_renders_as_inert_text(tmp_path: Path) -> None:
    edge, origin = hostile_pair(tmp_path)
    page = tmp_path / "hostile.html"
    result = run("compare", str(edge), str(origin), "--html", str(page))
    assert result.exit_code == 1, result.output
    text = page.read_text()
    assert "<script" not in text.lower().replace("&lt;script", "")
    for raw in ("<img", "\x1b", "\x00", "\u202e"):
        assert raw not in text
    with chromium(tmp_path / "profile") as browser:
        load = browser.load(page)
        assert_quiet(load)  # an <img src=x> let through would have been a request
        counts = browser.evaluate(
            "[document.scripts.length, document.images.length, "
            "document.querySelectorAll('[onerror]').length, "
            "document.querySelectorAll('iframe,object,embed').length]"
        )
        assert counts == [0, 0, 0, 0]
        body = browser.evaluate("document.body.innerText")
        assert "<script>alert(1)</script>" in body  # shown as the text it is
        assert "<script>alert(3)</script>" in body
        assert "\\u202e" in body  # the override shown as an escape, not obeyed
        assert "\u202e" not in body
        assert "\x1b" not in body


def test_the_page_is_self_contained() -> None:
    document = json.loads(
        (ROOT / "tests" / "golden" / "compare" / "every_outcome.json").read_text()
    )
    text = report_html(document)
    assert not re.search(r"(src|href)=\"(https?:)?//", text)  # nothing fetched
    for fetching in ("<script", "@import", "url(http", "<link"):
        assert fetching not in text
    assert text.count("<style>") == 1
    assert "@media print" in text


def test_an_icmp_error_from_the_path_is_an_arrow_of_its_own(tmp_path: Path) -> None:
    """A router's unreachable for the SYN (the verdict cites it) comes from mid-way."""
    from scapy.all import ICMP, IP, TCP, Ether

    def frame(packet: Any) -> bytes:
        return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / packet)

    syn = IP(src="198.51.100.7", dst="203.0.113.10", ttl=64, id=7) / TCP(
        sport=40100, dport=80, flags="S", seq=1000
    )
    unreachable = IP(src="192.0.2.1", dst="198.51.100.7") / ICMP(type=3, code=1) / bytes(syn)[:28]
    answered = exchange(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n")
    edge = write_pcap(tmp_path / "edge.pcap", [*answered, frame(syn), frame(unreachable)])
    origin = write_pcap(tmp_path / "origin.pcap", answered, start_s=1_700_000_000.0005)
    document = json.loads(run("compare", "--json", str(edge), str(origin)).output)
    refused = next(c for c in document["connections"] if c["edge"]["client"].endswith(":40100"))
    assert refused["outcome"] == "syn_not_received"
    arrows = [
        (a.packet, a.fate, a.edge and a.edge.frame) for a in ladder_of(refused, document).arrows
    ]
    assert arrows == [("SYN", LOST, 9), ("ICMP", "icmp", 10)]  # after 8 frames
    page = report_html(document)
    assert 'data-packet="ICMP" data-fate="icmp" data-sender="path" data-edge-frame="10"' in page


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [path] + [p for k, v in value.items() for p in leaves(v, (*path, k))]
    if isinstance(value, list):
        return [path] + [p for i, v in enumerate(value) for p in leaves(v, (*path, i))]
    return [path]


GOLDEN_DOCUMENT = json.loads(
    (ROOT / "tests" / "golden" / "compare" / "every_outcome.json").read_text()
)
GOLDEN_PATHS = leaves(GOLDEN_DOCUMENT)[1:]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.sampled_from(GOLDEN_PATHS), JSON_VALUES), min_size=1, max_size=4))
def test_report_of_any_altered_document_draws_it_or_says_where(
    tmp_path: Path, changes: list[tuple[tuple[Any, ...], Any]]
) -> None:
    """A JSON from elsewhere: either a page, or one line naming what is wrong."""
    document = json.loads(json.dumps(GOLDEN_DOCUMENT))
    for path, value in changes:
        target = document
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced the way there
    given_file = tmp_path / "altered.json"
    given_file.write_text(json.dumps(document))
    try:
        page, error = report_html(read_compare_json(given_file), all_connections=True), ""
    except PcapdiffError as exc:
        page, error = "", str(exc)
    if error:
        assert str(given_file) in error
        assert "\n" not in error
    else:
        assert page.startswith("<!DOCTYPE html>")
        assert "<script" not in page


def test_times_beyond_any_calendar_are_shown_as_given() -> None:
    document = json.loads(json.dumps(GOLDEN_DOCUMENT))
    document["connections"][1]["edge"]["packets"][0]["time"] = 1e300
    assert "1e+300 s" in report_html(document)


def test_a_page_draws_at_most_max_ladders_and_says_how_to_see_the_rest() -> None:
    page = report_html(GOLDEN_DOCUMENT, max_ladders=2)
    assert re.findall(r'<section class="conn [^"]*" id="c-(\d+)"', page) == ["2", "3"]
    assert "12 more connection(s) without a ladder: a page draws the first 2." in page
    assert page.count('<a href="#c-') == 2  # only the drawn are linked from the table


def test_a_read_error_mid_compare_still_writes_the_page_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip

    from .test_hostile import corrupt, many_connections

    whole = many_connections(tmp_path, 5000)  # the origin's, whole: verdicts are released
    late = tmp_path / "late.pcap.gz"
    late.write_bytes(corrupt(gzip.compress(whole.read_bytes()), 0.9))
    page = tmp_path / "cut.html"
    code = main(["compare", str(late), str(whole), "--html", str(page)])
    assert code == 2
    assert not page.exists()  # the table's way holds every verdict to the end: no page
    capsys.readouterr()
    code = main(["compare", str(late), str(whole), "--json", "--html", str(page)])
    assert code == 2
    document = json.loads(capsys.readouterr().out)
    text = page.read_text()
    assert f"Reading stopped part-way: {document['error']}" in text
    # the verdicts released before the failure, as many rows as the JSON's
    rows = text.split('<table class="conns">')[1].count('<tr class="o-')
    assert rows == len(document["connections"])
