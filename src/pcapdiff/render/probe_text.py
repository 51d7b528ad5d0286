"""`pcapdiff probe` for people: one line per attempt as it ends, then a summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ..probe import Attempt
from ..text import safe_text


def attempt_line(a: Attempt) -> str:
    """#3 522 198.51.100.7:40112   connect 1000.2 ms total 1000.4 ms: no answer ..."""
    timing = " ".join(
        f"{name} {value:.1f} ms"
        for name, value in (
            ("connect", a.connect_ms),
            ("tls", a.tls_ms),
            ("first byte", a.first_byte_ms),
        )
        if value is not None
    )
    timing = f"{timing} total" if timing else "total"
    verdict = a.verdict if a.verdict != "local" else "err"
    return (
        f"#{a.n} {verdict:>3} {a.local or '-':<22} {timing} {a.total_ms:.1f} ms: "
        f"{safe_text(a.detail)}"
    )


def short_reason(a: Attempt) -> str:
    """What a summary groups by: the detail up to its numbers and quotes."""
    detail = a.detail.removeprefix("local error: ")
    for stop in (" within", " after", " (", ":", " for "):
        cut = detail.find(stop)
        if cut > 0:
            detail = detail[:cut]
    return safe_text(detail)


def summary_line(attempts: Sequence[Attempt]) -> str:
    """'10 attempts: 8 ok, 2 × 522 (no answer to the SYN)'."""  # noqa: RUF002
    ok = sum(1 for a in attempts if a.verdict == "ok")
    groups: Counter[tuple[str, str]] = Counter(
        (a.verdict, short_reason(a)) for a in attempts if a.verdict != "ok"
    )
    parts = [f"{ok} ok"] if ok or not groups else []
    for (verdict, why), n in sorted(groups.items(), key=lambda g: (-g[1], g[0])):
        name = "local error" if verdict == "local" else verdict
        parts.append(f"{n} × {name} ({why})")  # noqa: RUF001 - the multiplication sign
    total = len(attempts)
    return f"{total} attempt{'' if total == 1 else 's'}: " + ", ".join(parts)
