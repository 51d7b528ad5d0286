"""Running a correct capture: argv builders for tcpdump/dumpcap, a runner that stops
them cleanly, and the metadata sidecar that `compare` reads.

Capture is real tcpdump (or dumpcap for pcapng); argv lists only, never a shell.
"""

from __future__ import annotations

from .run import CaptureResult, run_capture
from .sidecar import CaptureMeta, clock_state, read_sidecar, sidecar_path
from .spec import CaptureSpec, bpf_filter, capture_argv

__all__ = [
    "CaptureMeta",
    "CaptureResult",
    "CaptureSpec",
    "bpf_filter",
    "capture_argv",
    "clock_state",
    "read_sidecar",
    "run_capture",
    "sidecar_path",
]
