"""A `compare --json` document read back, for `pcapdiff report`: the page of a JSON made
in CI, later and elsewhere. Errors are one line naming the file and where."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from .errors import PcapdiffError
from .render.html import SCHEMA

MAX_DOCUMENT_BYTES = 1 << 31  # a report's JSON is held whole: refuse what cannot be


def read_compare_json(source: Path | str) -> dict[str, Any]:
    """The document in SOURCE (a path, or "-" for stdin)."""
    name = str(source)
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
        else:
            with open(source, "rb") as f:
                data = f.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise PcapdiffError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise PcapdiffError(f"{name}: larger than {MAX_DOCUMENT_BYTES >> 20} MB: not a report")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        line = data.count(b"\n", 0, exc.pos) + 1
        raise PcapdiffError(
            f"{name}: not JSON (line {line}, byte {exc.pos}): {exc.msg}; "
            "give the output of 'pcapdiff compare --json'"
        ) from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise PcapdiffError(
            f"{name}: not a compare result (schema {found!r}, expected {SCHEMA!r}); "
            "give the output of 'pcapdiff compare --json'"
        )
    if not isinstance(document.get("connections"), list):
        raise PcapdiffError(f"{name}: 'connections' is not a list: not a whole compare result")
    problem = _mismatch(document, DOCUMENT, "")
    if problem:
        raise PcapdiffError(f"{name}: {problem}: not a compare result as pcapdiff writes it")
    return document


# What the page reads of a document, and of which JSON types (a member may be absent;
# one that is there must be of its type): a document from elsewhere is checked here,
# so the page is drawn from values of the right kinds or not at all.
class Optional(NamedTuple):
    spec: Any  # the spec, or null


NUMBER, TEXT, INT, NULL = (int, float), (str,), (int,), (type(None),)
MAYBE_NUMBER, MAYBE_TEXT, MAYBE_INT = NUMBER + NULL, TEXT + NULL, INT + NULL
PACKET = {
    "packet": TEXT,
    "sender": TEXT,
    "frame": INT + TEXT,
    "time": MAYBE_NUMBER,
    "ttl": MAYBE_INT,
    "ip_id": MAYBE_INT,
    "what": TEXT,
}
SIDE = {"client": TEXT, "server": TEXT, "first_frame": INT + TEXT, "packets": [PACKET]}
EVIDENCE = {
    "capture": TEXT,
    "frame": INT + TEXT + NULL,
    "time": MAYBE_NUMBER,
    "what": TEXT,
}
CONNECTION = {
    "id": INT,
    "edge": SIDE,
    "origin": Optional(SIDE),
    "matched_by": MAYBE_TEXT,
    "pairing": MAYBE_TEXT,
    "outcome": TEXT,
    "culprit": TEXT,
    "request": Optional({"method": TEXT, "host": TEXT, "path": TEXT}),
    "evidence": [EVIDENCE],
    "explanation": TEXT,
    "assumes": [TEXT],
    "hints": [TEXT],
}
CAPTURE = {"path": TEXT}
WINDOW = {"start": MAYBE_NUMBER, "end": MAYBE_NUMBER, "start_source": TEXT, "end_source": TEXT}
DOCUMENT = {
    "edge": Optional(CAPTURE),
    "origin": Optional(CAPTURE),
    "edge_window": Optional(WINDOW),
    "origin_window": Optional(WINDOW),
    "clock_offset_s": MAYBE_NUMBER,
    "clock_offset_spread_s": MAYBE_NUMBER,
    "clock_offset_source": MAYBE_TEXT,
    "clock_offset_pairs": MAYBE_INT,
    "connections": [CONNECTION],
    "origin_only_connections": MAYBE_INT,
    "warnings": [TEXT],
    "summary": {"*": INT},
    "error": MAYBE_TEXT,
}


def _mismatch(value: Any, spec: Any, where: str) -> str:
    """Where VALUE first departs from SPEC ("connections[3].id: int expected"), or ""."""
    if isinstance(spec, Optional):
        return "" if value is None else _mismatch(value, spec.spec, where)
    if isinstance(spec, tuple):
        if isinstance(value, bool) or not isinstance(value, spec):  # JSON true is no number
            kinds = " or ".join("null" if t is type(None) else t.__name__ for t in spec)
            return f"{where or 'the document'}: {kinds} expected"
        return ""
    if isinstance(spec, list):
        if not isinstance(value, list):
            return f"{where}: a list expected"
        for i, item in enumerate(value):
            if problem := _mismatch(item, spec[0], f"{where}[{i}]"):
                return problem
        return ""
    if not isinstance(value, dict):
        return f"{where or 'the document'}: an object expected"
    for key, item in value.items():
        inner = spec.get(key, spec.get("*"))
        if inner is not None and (problem := _mismatch(item, inner, f"{where}.{key}".lstrip("."))):
            return problem
    return ""
