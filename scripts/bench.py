"""Benchmark `pcapdiff conns` against tcpdump and tshark on the same files, in one run
(and `flows` against tcpflow, `syncheck`, `compare`).

    python scripts/bench.py                    # 1M packets, then pcapdiff on 5M
    python scripts/bench.py --packets 200000 --big 0

It writes deterministic origin-pull captures (scripts/synth_capture.py: HTTP/1.1
keep-alive connections, 200 at a time, about 4% failing), then runs each tool as a
child process and reports wall time, packets/s and the child's own peak RSS (from
wait4), best of --repeat runs, each on a warm page cache. A benchmark, not a test:
it prints numbers and asserts nothing.

Next to them runs the issue's own yardstick, dpkt decoding plus a dict of
connections (scripts/dpkt_reference.py), so the report shows how fast the machine
is at that moment: on this VM the same command varies by +-40% from hour to hour.

On one request per connection, `conns` also writes its table for people (216,000
lines), and on the real pair `compare` its table of every verdict. On the
keep-alive mix, `flows --out-dir` runs beside `tcpflow -r -o` (the same
files), then `flows --json` and `syncheck --json`.

Files: the keep-alive mix (1 to 6 requests per connection), the worst case for
per-connection cost (one request per connection), the keep-alive mix over IPv6, the
same with every other connection over IPv6 (both families in one file), an edge/origin
pair (the origin behind source NAT) for `compare` (its packets/s counts both files;
beside it tcpdump reading both, compare's yardstick), and a 5x larger keep-alive file
on which only pcapdiff runs, to show its peak memory does not grow with the file.

Then the real edge's pair (scripts/synth_pair.py): thousands of connections share a
request line, the origin is behind source NAT with its clock hours ahead, both
captures cut mid-traffic, every failure kind mixed in; `conns` on each file, then
`compare` on both, at --packets and at --big times that. Peak RSS is the whole
process tree's (compare reads the origin in a second process), sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shlex
import shutil
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pcapdiff as pcapdiff_package
from synth_capture import write_capture
from synth_pair import make_pair

PACKETS_PER_PAIR_CONNECTION = 18.5  # what synth_pair writes per connection, each side


@dataclass
class Run:
    tool: str
    capture: str
    packets: int
    seconds: float
    peak_rss_mb: float
    status: int

    @property
    def rate(self) -> float:
        return self.packets / self.seconds if self.seconds else 0.0


def warm(*paths: Path) -> None:
    """Read the files once so the timed run finds them in the page cache: every tool
    is then measured on CPU, not on the disk (this VM reclaims cache eagerly, and
    tshark's 1.5 GB evicts it)."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def tree_rss_kib(pid: int) -> int:
    """The resident memory of a process and all its descendants, KiB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # it ended meanwhile
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        todo += [int(c) for c in children]
    return total


def measure(
    tool: str, argv: list[str], capture: Path, packets: int, inputs: tuple[Path, ...] = ()
) -> Run:
    """Run argv with output to /dev/null; wall time and the peak RSS of its process
    tree, sampled (not ru_maxrss: a forked child starts with this process's RSS, and
    this process holds a generated pair)."""
    warm(*(inputs or (capture,)))
    peak = [0]
    with open(os.devnull, "wb") as devnull:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=devnull, stderr=devnull)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], tree_rss_kib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, _usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_mb = peak[0] / 1024
    shown = capture.name
    if capture.parent.name.startswith("shared-"):
        shown = f"{capture.parent.name}/{capture.name}"
    return Run(tool, shown, packets, seconds, rss_mb, proc.returncode)


def tcpdump_both(edge: Path, origin: Path) -> list[str]:
    """tcpdump reading two captures, one after the other, as one command to time."""
    read = "tcpdump -nn -r {} -w /dev/null 2>/dev/null"
    return ["sh", "-c", " && ".join(read.format(shlex.quote(str(f))) for f in (edge, origin))]


def ensure_pair(folder: Path, packets: int) -> tuple[Path, Path, int, int]:
    """The real edge's pair with about ``packets`` packets a side; its packet counts."""
    counts_file = folder / "counts"
    if not counts_file.exists():
        t = time.perf_counter()
        connections = round(packets / PACKETS_PER_PAIR_CONNECTION)
        counts = make_pair(folder, connections, seed=7, span_s=60.0 * connections / 54_000)
        counts_file.write_text(f"{counts['edge']} {counts['origin']}\n")
        print(
            f"wrote {folder} ({connections:,} connections, {counts['edge']:,} + "
            f"{counts['origin']:,} packets) in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
    edge_n, origin_n = map(int, counts_file.read_text().split())
    return folder / "edge.pcap", folder / "origin.pcap", edge_n, origin_n


LINKTYPE_LINUX_SLL2 = 276


def ensure_sll2(path: Path, ethernet: Path) -> Path:
    """The Ethernet capture ETHERNET as pcapng with Linux "any"-device headers (SLL2,
    what `tcpdump -i any` writes), the issue's second kind of file: each 14-byte
    Ethernet header becomes SLL2's 20 bytes (protocol, interface 1, ARPHRD_ETHER, the
    sender's MAC)."""
    if path.exists():
        return path
    t = time.perf_counter()
    records = 0
    with ethernet.open("rb") as src, path.open("wb") as out:
        head = src.read(24)
        snaplen = struct.unpack_from("<I", head, 16)[0]
        out.write(struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + b"\x1c\0\0\0")
        out.write(struct.pack("<IIHHII", 1, 20, LINKTYPE_LINUX_SLL2, 0, snaplen, 20))
        while len(header := src.read(16)) == 16:
            sec, usec, caplen, wire = struct.unpack("<IIII", header)
            frame = src.read(caplen)
            sll2 = struct.pack("!2sHIHBB6s2x", frame[12:14], 0, 1, 1, 0, 6, frame[6:12])
            data = sll2 + frame[14:]
            pad = -len(data) % 4
            length = 32 + len(data) + pad
            ticks = sec * 1_000_000 + usec  # the IDB's default resolution: microseconds
            out.write(
                struct.pack(
                    "<IIIIIII",
                    6,
                    length,
                    0,
                    ticks >> 32,
                    ticks & 0xFFFFFFFF,
                    len(data),
                    wire - 14 + 20,
                )
                + data
                + b"\0" * pad
                + struct.pack("<I", length)
            )
            records += 1
    print(f"wrote {path} ({records:,} packets, SLL2 pcapng) in {time.perf_counter() - t:.1f} s")
    return path


def ensure(
    path: Path, packets: int, max_requests: int, ipv6: bool = False, mixed: bool = False
) -> Path:
    if not path.exists():
        t = time.perf_counter()
        write_capture(path, packets, max_requests=max_requests, ipv6=ipv6, mixed=mixed)
        size = path.stat().st_size / 1e6
        print(
            f"wrote {path} ({packets:,} packets, {size:,.0f} MB) "
            f"in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument(
        "--big", type=int, default=5, help="size factor of the memory run (0: skip it)"
    )
    parser.add_argument("--dir", type=Path, default=Path("bench-data"))
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the best counts")
    parser.add_argument(
        "--pairs-only", action="store_true", help="only the real edge's pairs (conns, compare)"
    )
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    # An installed pcapdiff starts from bytecode pip compiled; a source tree run with
    # PYTHONDONTWRITEBYTECODE (as here) would compile every module on every start.
    compileall.compile_dir(Path(pcapdiff_package.__file__).parent, quiet=1)
    n = args.packets
    mixed = ensure(args.dir / f"keepalive-{n}.pcap", n, max_requests=6)
    short = ensure(args.dir / f"short-{n}.pcap", n, max_requests=1)
    over_ipv6 = ensure(args.dir / f"keepalive-ipv6-{n}.pcap", n, max_requests=6, ipv6=True)
    mixed_families = ensure(args.dir / f"keepalive-mixed-{n}.pcap", n, max_requests=6, mixed=True)
    over_sll2 = ensure_sll2(args.dir / f"keepalive-sll2-{n}.pcapng", mixed)
    pcapdiff = [sys.executable, "-m", "pcapdiff", "conns", "--json", "--no-progress"]
    runs: list[Run] = []
    # A yardstick not installed is said so once and its rows left out: a row of a
    # command that could not start would read as the fastest tool of all.
    missing = [tool for tool in ("tcpdump", "tshark", "tcpflow") if not shutil.which(tool)]
    if missing:
        print(f"not installed, so not measured: {', '.join(missing)}", flush=True)
    have_tcpdump = "tcpdump" not in missing

    def best(
        tool: str, argv: list[str], capture: Path, packets: int, inputs: tuple[Path, ...] = ()
    ) -> None:
        tries = [measure(tool, argv, capture, packets, inputs) for _ in range(args.repeat)]
        runs.append(min(tries, key=lambda r: r.seconds))
        r = runs[-1]
        print(f"  {r.tool:<26} {r.capture:<30} {r.seconds:8.2f} s", flush=True)

    reference = [sys.executable, str(Path(__file__).resolve().parent / "dpkt_reference.py")]
    for capture in () if args.pairs_only else (mixed, short, over_ipv6, mixed_families, over_sll2):
        best("pcapdiff conns --json", [*pcapdiff, str(capture)], capture, n)
        if capture == short:  # the table for people, one row per connection
            table = [sys.executable, "-m", "pcapdiff", "conns", "--no-progress"]
            best("pcapdiff conns (table)", [*table, str(capture)], capture, n)
        if capture.suffix == ".pcap":  # the yardstick reads Ethernet pcap only
            best("dpkt + connection dict", [*reference, str(capture)], capture, n)
        if have_tcpdump:
            best(
                "tcpdump -r -w /dev/null",
                ["tcpdump", "-nn", "-r", str(capture), "-w", os.devnull],
                capture,
                n,
            )
        if "tshark" not in missing:
            best(
                "tshark -z conv,tcp",
                ["tshark", "-n", "-r", str(capture), "-q", "-z", "conv,tcp"],
                capture,
                n,
            )
    if not args.pairs_only:
        # flows and syncheck on the keep-alive mix, beside tcpflow doing flows' job
        own = [sys.executable, "-m", "pcapdiff"]
        ours_dir, theirs_dir = args.dir / "flows-pcapdiff", args.dir / "flows-tcpflow"
        jobs = [
            (
                "pcapdiff flows --out-dir",
                [*own, "flows", "--no-progress", "--out-dir", str(ours_dir), str(mixed)],
            ),
            ("pcapdiff flows --json", [*own, "flows", "--no-progress", "--json", str(mixed)]),
            ("pcapdiff syncheck --json", [*own, "syncheck", "--no-progress", "--json", str(mixed)]),
        ]
        if "tcpflow" not in missing:
            jobs.insert(1, ("tcpflow -r -o", ["tcpflow", "-r", str(mixed), "-o", str(theirs_dir)]))
        for tool, argv in jobs:
            for folder in (ours_dir, theirs_dir):
                shutil.rmtree(folder, ignore_errors=True)
            theirs_dir.mkdir(parents=True)
            best(tool, argv, mixed, n)
        for folder in (ours_dir, theirs_dir):
            shutil.rmtree(folder, ignore_errors=True)
    compare_old = [sys.executable, "-m", "pcapdiff", "compare", "--json"]
    if not args.pairs_only:
        # compare: the keep-alive edge capture and its origin twin behind source NAT.
        edge_pair = args.dir / f"pair-edge-{n}.pcap"
        origin_pair = args.dir / f"pair-origin-{n}.pcap"
        if not (edge_pair.exists() and origin_pair.exists()):
            write_capture(edge_pair, n, max_requests=6, twin=origin_pair)
            print(f"wrote {edge_pair} and its SNAT twin {origin_pair}", flush=True)
        best(
            "pcapdiff compare --json",
            [*compare_old, str(edge_pair), str(origin_pair)],
            edge_pair,
            2 * n,
            (edge_pair, origin_pair),
        )
        # the yardstick of compare's target: tcpdump reading both files, one after the other
        if have_tcpdump:
            best(
                "tcpdump -r both files",
                tcpdump_both(edge_pair, origin_pair),
                edge_pair,
                2 * n,
                (edge_pair, origin_pair),
            )
        if args.big:
            big_n = n * args.big
            big = ensure(args.dir / f"keepalive-{big_n}.pcap", big_n, max_requests=6)
            best("pcapdiff conns --json", [*pcapdiff, str(big)], big, big_n)
    # The real edge's pair: shared requests, SNAT, an offset of hours, both cut.
    compare_argv = [sys.executable, "-m", "pcapdiff", "compare", "--json", "--no-progress"]
    for size in (n, n * args.big) if args.big else (n,):
        edge, origin, edge_n, origin_n = ensure_pair(args.dir / f"shared-{size}", size)
        for capture, count in ((edge, edge_n), (origin, origin_n)):
            best("pcapdiff conns --json", [*pcapdiff, str(capture)], capture, count)
        best(
            "pcapdiff compare --json",
            [*compare_argv, str(edge), str(origin)],
            edge,
            edge_n + origin_n,
            (edge, origin),
        )
        if have_tcpdump:
            best(
                "tcpdump -r both files",
                tcpdump_both(edge, origin),
                edge,
                edge_n + origin_n,
                (edge, origin),
            )
        if size == n:  # the table for people, of every verdict
            table = [sys.executable, "-m", "pcapdiff", "compare", "--no-progress"]
            best(
                "pcapdiff compare (table)",
                [*table, str(edge), str(origin)],
                edge,
                edge_n + origin_n,
                (edge, origin),
            )

    print()
    width = max([len("capture"), *(len(r.capture) for r in runs)])  # names whole
    print(
        f"{'tool':<26} {'capture':<{width}} {'packets':>10} {'wall s':>8} {'packets/s':>12} "
        f"{'peak RSS MB':>12} {'exit':>5}"
    )
    for r in runs:
        print(
            f"{r.tool:<26} {r.capture:<{width}} {r.packets:>10,} {r.seconds:>8.2f} "
            f"{r.rate:>12,.0f} {r.peak_rss_mb:>12.1f} {r.status:>5}"
        )


if __name__ == "__main__":
    main()
