"""A `compare --json` document read back, for `pcapdiff report`: the page of a JSON made
in CI, later and elsewhere. Errors are one line naming the file and where."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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
    return document
