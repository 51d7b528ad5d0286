"""Regenerate docs/report.png, the README's picture of the evidence report: `compare
--html` on the bundled every_outcome pair (its two 520s: one reset by the origin, one
injected in the path), rendered by headless Chromium (Debian's package).

    python scripts/screenshot_report.py            # writes docs/report.png
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIR = Path("fixtures/pcaps/compare/every_outcome")  # relative: the page names its files
WIDTH, HEIGHT = 1100, 2750


def main() -> int:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("screenshot_report: needs chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        return shoot(chromium, Path(scratch))


def shoot(chromium: str, scratch: Path) -> int:
    page = scratch / "report.html"  # the page itself is compare's output, not kept
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "pcapdiff",
            "compare",
            str(PAIR / "edge.pcap"),
            str(PAIR / "origin.pcap"),
            "--outcome",
            "520",
            "--html",
            str(page),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    if made.returncode not in (0, 1):
        print(f"screenshot_report: compare failed ({made.returncode})", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as profile:
        shot = subprocess.run(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{HEIGHT}",
                f"--screenshot={ROOT / 'docs' / 'report.png'}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if shot.returncode != 0:
        print(f"screenshot_report: chromium failed: {shot.stderr[-500:]}", file=sys.stderr)
        return 2
    print("wrote docs/report.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
