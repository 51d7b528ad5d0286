"""The reading process of ``workers.ChildScan``: ``python -m pcapdiff._worker``.

Reads (source, options) pickled on stdin, writes the records to stdout.
"""

from __future__ import annotations

import pickle
import sys

from .workers import child_main

if __name__ == "__main__":
    source, options = pickle.loads(sys.stdin.buffer.read())
    child_main(sys.stdout.buffer, source, options)
