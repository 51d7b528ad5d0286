"""`python -m pcapdiff` runs the command line."""

from __future__ import annotations

from .cli import entry

if __name__ == "__main__":  # not when a reading process (spawn) imports it
    entry()
