"""Times for people: a connection's start and each evidence packet's time, as a
ticket writes them ("520 at 18:51:40 UTC"). UTC unless --local-time; the date is
said once in the heading and repeated only on a time of another day."""

from __future__ import annotations

import datetime

NS = 1_000_000_000
UTC = datetime.timezone.utc
SECONDS_KEPT = 4096  # seconds' texts a TimeFormat keeps


def local_zone() -> datetime.tzinfo:
    """This host's zone, as the C library knows it (TZ, /etc/localtime)."""
    zone = datetime.datetime.now().astimezone().tzinfo
    return zone or UTC


class TimeFormat:
    """Formats capture timestamps in one zone, relative to a reference date."""

    def __init__(self, zone: datetime.tzinfo = UTC, reference_ns: int | None = None) -> None:
        self.zone = zone
        self.date = None if reference_ns is None else self._at(reference_ns).date()
        # Each second's text ("18:51:40.", the date before it on another day): a table's
        # times fall in few seconds, and strftime took 8 us a time.
        self._seconds: dict[int, str] = {}

    def _at(self, ts_ns: int) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(ts_ns // NS, self.zone).replace(
            microsecond=(ts_ns % NS) // 1000
        )

    @property
    def zone_name(self) -> str:
        if self.zone is UTC:
            return "UTC"
        when = datetime.datetime.now(self.zone)
        return when.tzname() or when.strftime("%z")

    def heading(self) -> str:
        """'times in UTC, 2026-12-01'."""
        day = f", {self.date.isoformat()}" if self.date is not None else ""
        return f"times in {self.zone_name}{day}"

    def stamp(self, ts_ns: int | None) -> str:
        """18:51:40.123, or 2026-12-02 00:00:01.500 on another day than the heading's."""
        if ts_ns is None:
            return ""
        second, rest = divmod(ts_ns, NS)
        head = self._seconds.get(second)
        if head is None:
            try:
                at = self._at(second * NS)
            except (OverflowError, OSError, ValueError):  # a timestamp no calendar holds
                return f"{ts_ns / NS:.3f}"
            head = at.strftime("%H:%M:%S.")
            if at.date() != self.date:
                head = f"{at.date().isoformat()} {head}"
            if len(self._seconds) >= SECONDS_KEPT:
                self._seconds.clear()
            self._seconds[second] = head
        return f"{head}{rest // 1_000_000:03d}"
