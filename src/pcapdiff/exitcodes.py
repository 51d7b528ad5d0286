"""The exit status of every command, in one place (DESIGN.md, README "Exit codes").

Like diff's: 0 means the question was answered and the answer is "fine", 1 that
something is not ok, 2 trouble (bad arguments, an unreadable file, a local error).
`compare` adds 3: nothing was judged (no origin-pull connection was found), which a
CI job must not take for success; `syncheck` does the same when no SYN was seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .syncheck import Fate


class ExitCode(IntEnum):
    OK = 0  # done; for compare and probe: every connection (attempt) ok
    NOT_OK = 1  # at least one connection (attempt) is not ok
    TROUBLE = 2  # bad arguments, unreadable or damaged input, a local error
    NOTHING_JUDGED = 3  # compare found no origin-pull connection; syncheck no SYN
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


def for_outcomes(outcomes: Iterable[str]) -> ExitCode:
    """compare: over every connection judged, filters or not."""
    seen = set(outcomes)
    if not seen:
        return ExitCode.NOTHING_JUDGED
    return ExitCode.OK if seen == {"ok"} else ExitCode.NOT_OK


def for_attempts(verdicts: Iterable[str]) -> ExitCode:
    """probe: a local error (no route, no permission) is trouble on this host, not a
    verdict on the origin."""
    seen = set(verdicts)
    if "local" in seen:
        return ExitCode.TROUBLE
    return ExitCode.OK if seen <= {"ok"} else ExitCode.NOT_OK


def for_syncheck(fates: Mapping[Fate, int]) -> ExitCode:
    """syncheck, from attempts counted by fate: 1 when any SYN went unanswered or was
    refused (RST or ICMP), 0 when every one was answered (a handshake that never
    completed was answered: the loss is on the way back, and is reported)."""
    from .syncheck import FATES

    if not any(fates.values()):
        return ExitCode.NOTHING_JUDGED
    failing = any(fates.get(fate, 0) for fate, (_, fails) in FATES.items() if fails)
    return ExitCode.NOT_OK if failing else ExitCode.OK
