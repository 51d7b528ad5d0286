"""The command line's value types and shared options: each value is parsed once, by a
click parameter type, so every mistake is one line naming its option."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import filters
from .errors import PcapdiffError
from .read import DEFAULT_MAX_RATIO

Command = TypeVar("Command", bound=Callable[..., Any])

# No span of time pcapdiff deals with is longer than ten years either way.
MAX_SECONDS = 10 * 365 * 86400

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".gz", ".bz2", ".xz", ".zst")


class Seconds(click.FloatRange):
    """A finite number of seconds in a range: click's FloatRange lets nan and inf
    through (nan compares false with every bound)."""

    name = "number of seconds"

    def __init__(self, min: float | None = None, max: float = MAX_SECONDS) -> None:
        super().__init__(min=-MAX_SECONDS if min is None else min, max=max)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return super().convert(number, param, ctx)


class _Parsed(click.ParamType):  # type: ignore[type-arg]
    """A value parsed by a library function that raises ValueError with the message."""

    parse: Callable[[str], Any]

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return type(self).parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class NetworkType(_Parsed):
    name = "ADDR|CIDR"
    parse = staticmethod(filters.parse_network)


class AddressType(_Parsed):
    name = "ADDR"
    parse = staticmethod(filters.parse_address)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        return str(super().convert(value, param, ctx))


class ClientType(_Parsed):
    name = "ADDR[:PORT]"
    parse = staticmethod(filters.parse_client)


class OutcomeType(_Parsed):
    name = "NAME|CODE"
    parse = staticmethod(filters.parse_outcomes)


class WhenType(_Parsed):
    name = "TIME"
    parse = staticmethod(filters.parse_when)


class HeaderType(click.ParamType):  # type: ignore[type-arg]
    """'NAME: VALUE' -> (name, value)."""

    name = "'NAME: VALUE'"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        name, sep, text = str(value).partition(":")
        if not sep or not name.strip():
            self.fail(f"{value!r}: write NAME: VALUE", param, ctx)
        return name.strip(), text.strip()


class OriginSpecType(click.ParamType):  # type: ignore[type-arg]
    """--origin HOST[:PORT]; a capture file given here is the second argument."""

    name = "HOST[:PORT]"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from .match import parse_origin

        text = str(value)
        if text.lower().endswith(CAPTURE_SUFFIXES) or Path(text).is_file():
            self.fail(
                f"{text!r} is a capture file, not an address: the origin capture is the "
                "second argument (pcapdiff compare EDGE ORIGIN)",
                param,
                ctx,
            )
        try:
            parse_origin(text)
        except ValueError as exc:
            self.fail(f"{text!r}: {exc}", param, ctx)
        return text


class CaptureFiles(click.ParamType):  # type: ignore[type-arg]
    """A capture: a file, - for stdin, a quoted glob ('eth*.pcap'), or a rotated ring
    by its base name (ring.pcap for ring.pcap0 .. ring.pcap9): a list of paths."""

    name = "CAPTURE"

    def convert(self, value: Any, param: Any, ctx: Any) -> list[Path]:
        if isinstance(value, list):
            return value
        from .files import capture_files

        try:
            files = capture_files(str(value))
        except PcapdiffError as exc:
            self.fail(str(exc), param, ctx)
        for path in files:
            if path.is_dir():
                self.fail(f"{path}: is a directory, not a capture file", param, ctx)
        return files


class TimeWindow(click.ParamType):  # type: ignore[type-arg]
    """START,END: epoch seconds or ISO 8601 times (UTC unless they say otherwise)."""

    name = "START,END"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[float, float]:
        if isinstance(value, tuple):
            return value
        start_text, sep, end_text = str(value).partition(",")
        if not sep:
            self.fail(f"{value!r} is not START,END", param, ctx)
        start, end = self._time(start_text, param, ctx), self._time(end_text, param, ctx)
        if end < start:
            self.fail(f"{value!r}: END is before START", param, ctx)
        return start, end

    def _time(self, text: str, param: Any, ctx: Any) -> float:
        text = text.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = datetime.datetime.fromisoformat(text)
            except ValueError:
                self.fail(f"{text!r} is neither epoch seconds nor an ISO 8601 time", param, ctx)
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.timezone.utc)
            return when.timestamp()
        if not math.isfinite(seconds):
            self.fail(f"{text!r} is not a finite time", param, ctx)
        return seconds


class OutputFile(click.Path):
    """capture -o: a file, never '-' (tcpdump's stdout would lose the packets)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if str(value) == "-":
            self.fail(
                "'-' is not a file: capture writes a file and its FILE.json sidecar "
                "(to stream packets, run tcpdump -w - yourself)",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


# --- options more than one command takes ------------------------------------------------


def progress_option(command: Command) -> Command:
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Show a progress bar on stderr (default: when stderr is a terminal).",
    )(command)


def max_ratio_option(command: Command) -> Command:
    return click.option(
        "--max-ratio",
        type=click.IntRange(min=0),
        default=DEFAULT_MAX_RATIO,
        show_default=True,
        help="Stop reading compressed input that expands to more than this many times "
        "its size (past 256 MiB): a decompression bomb. 0 reads it all.",
    )(command)


def strict_option(command: Command) -> Command:
    return click.option(
        "--strict",
        is_flag=True,
        help="Treat a file cut off inside a record as an error (exit 2), not a warning.",
    )(command)


def local_time_option(command: Command) -> Command:
    return click.option(
        "--local-time",
        is_flag=True,
        help="Show (and read --since/--until) times in this host's zone instead of UTC.",
    )(command)


def port_option(help: str, low: int = 1) -> Callable[[Command], Command]:
    return click.option(
        "--port", "ports", multiple=True, type=click.IntRange(low, 65535), help=help
    )


def endpoint_options(command: Command) -> Command:
    """--host ADDR|CIDR and --port N: connections with either at either end."""
    command = port_option("Only connections with this port at either end. Repeatable.", low=0)(
        command
    )
    return click.option(
        "--host",
        "hosts",
        multiple=True,
        type=NetworkType(),
        help="Only connections with this address (or network) at either end. Repeatable.",
    )(command)


def request_option(command: Command) -> Command:
    return click.option(
        "--request",
        metavar="TEXT",
        default="",
        help="Only connections whose request (method, host, path; TLS SNI) contains TEXT.",
    )(command)
