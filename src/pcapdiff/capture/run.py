"""Run a capture: start the tool, wait until it listens, stop it cleanly, write FILE.json."""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CaptureError, PcapdiffError
from .sidecar import CaptureMeta, begun, write_sidecar
from .spec import CaptureSpec, bpf_filter, capture_argv

READY = ("listening on", "Capturing on")
START_TIMEOUT_S = 15.0
# dumpcap says "Capturing on" before its capture is under way: here it lost the first
# 1-2 of 100 datagrams sent 1 ms apart right after the line (4 of 5 tries), and the
# lab's whole handshake and request (~1 ms) when the machine was slow (6 of 6 runs);
# 50 ms after it, none in 10 tries, and 100 ms still lost the lab's in 1 run of 15:
# a quarter second, once per capture. (tcpdump says "listening on" once its handle
# is active.) Tool -> seconds between its ready line and capturing.
SETTLE_AFTER_READY_S = {"tcpdump": 0.0, "dumpcap": 0.25}
STOP_TIMEOUT_S = 10.0


@dataclass
class CaptureResult:
    argv: list[str]
    meta: CaptureMeta
    stderr: str


def tool_version(tool: str) -> str:
    """The first line `TOOL --version` prints ("" when it cannot be run)."""
    try:
        out = subprocess.run(
            [tool, "--version"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else ""


def _one_line(argv: list[str], stderr: str) -> str:
    lines = [
        ln.strip()
        for ln in stderr.splitlines()
        if ln.strip() and not any(m in ln for m in READY) and "packets" not in ln
    ]
    reason = lines[-1] if lines else "exited without saying why"
    denied = [ln for ln in lines if "permission" in ln.lower()]
    if denied:  # "You don't have permission ...", then "(socket: Operation not permitted)"
        reason = denied[0].removeprefix(f"{argv[0]}: ") + "; capturing needs root or CAP_NET_RAW"
    # shlex.join: the command as a shell would need it, so a copied line runs no
    # injected part (a filter or a path with ; or $() in it).
    return f"{argv[0]} failed: {reason} (command: {shlex.join(argv)})"


def run_capture(
    spec: CaptureSpec,
    *,
    tool: str | None = None,
    started: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    fallback: Callable[[str], None] | None = None,
) -> CaptureResult:
    """Capture until the duration or count is reached, or until interrupted
    (KeyboardInterrupt: Ctrl-C, or SIGTERM as the CLI maps it); the file is flushed
    and readable either way; or until ``stop`` is set, from another thread.

    ``started`` gets the exact command once the tool listens. When the tool is not
    installed, scapy's sniffer captures instead, with the same options, and
    ``fallback`` is told why first. Raises CaptureError with the argv and the tool's
    words."""
    tool = tool or ("dumpcap" if spec.pcapng else "tcpdump")
    if shutil.which(tool) is None:
        from .sniff import sniff_capture

        if fallback is not None:
            fallback(f"{tool} is not installed: capturing with scapy's sniffer instead")
        return sniff_capture(spec, started=started, stop=stop)
    argv = capture_argv(spec, tool)
    flt = bpf_filter(spec.peers, spec.ports)
    meta = begun(spec.role, spec.interface, flt, argv, tool_version(tool), tool)
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        raise CaptureError(f"{tool}: {exc.strerror or exc}") from None
    lines: list[str] = []
    ready = threading.Event()  # the tool said it listens, or it exited
    listening = threading.Event()  # the tool said it listens

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if any(marker in line for marker in READY):  # "tcpdump: listening on lo, ..."
                listening.set()
                ready.set()
        ready.set()  # the tool exited

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        ready.wait(START_TIMEOUT_S)
        if not listening.is_set():
            _stop(proc)
            reader.join(STOP_TIMEOUT_S)
            raise CaptureError(_one_line(argv, "".join(lines)))
        time.sleep(SETTLE_AFTER_READY_S.get(tool, 0.0))
        if started is not None:
            started(shlex.join(argv))
        if stop is None:
            with contextlib.suppress(subprocess.TimeoutExpired):  # the duration is up
                proc.wait(timeout=spec.duration_s)
        else:
            deadline = None if spec.duration_s is None else time.monotonic() + spec.duration_s
            while not stop.wait(0.1) and proc.poll() is None:
                if deadline is not None and time.monotonic() >= deadline:
                    break
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM: stop cleanly below
    finally:
        _stop(proc)
        reader.join(STOP_TIMEOUT_S)
    stderr = "".join(lines)
    if proc.returncode not in (0, -signal.SIGINT, 128 + signal.SIGINT) and not spec.output.exists():
        raise CaptureError(_one_line(argv, stderr))
    meta.stop = time.time()
    captured = re.search(r"(\d+) packets? captured", stderr)
    dropped = re.search(r"(\d+) packets? dropped by kernel", stderr)
    meta.packets_captured = int(captured.group(1)) if captured else None
    meta.packets_dropped_by_kernel = int(dropped.group(1)) if dropped else None
    if meta.packets_captured and not spec.max_size_mb:
        # tcpdump does not notice a failed write (a full disk): count what reached the file
        held = _records_in(spec.output)
        if held is not None and held < meta.packets_captured:
            with contextlib.suppress(CaptureError):  # the same disk may refuse it too
                write_sidecar(spec.output, meta)
            raise CaptureError(
                f"{tool} captured {meta.packets_captured} packets but {spec.output} holds "
                f"{held}: writing it failed (is the disk full?)"
            )
    write_sidecar(spec.output, meta)
    return CaptureResult(argv, meta, stderr)


def _records_in(path: Path) -> int | None:
    """Whole records in a capture file (about 0.5 s per million); None if unreadable."""
    from ..read import read_batches  # only when counting

    try:
        return sum(len(batch.frames) for batch in read_batches(path))
    except PcapdiffError:
        return None


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGINT lets tcpdump flush and close the file; escalate only if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
