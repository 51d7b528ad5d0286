"""The command line: options in, one library call, render out.

One module per command (``*_cmd.py``), their shared helpers in ``common``; the value
types and shared options are ``pcapdiff.params``. Exit codes are
``exitcodes.ExitCode`` (DESIGN.md, README "Exit codes"): 0 done and every connection
ok, 1 a connection is not ok, 2 trouble (bad options, an unreadable or damaged file)
with a one-line message on stderr and no traceback, 3 (compare) nothing was judged,
(syncheck) no SYN was seen.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import io
import os
import sys

import click

from ..errors import PcapdiffError
from ..exitcodes import ExitCode

# The commands, each in its module NAME_cmd, imported when the command runs (or --help
# lists them all): `pcapdiff conns` does not pay for capture's, probe's and flows' imports.
COMMANDS = ("compare", "report", "conns", "flows", "syncheck", "capture", "probe")

SHORT_USAGE = """usage: pcapdiff COMMAND [OPTIONS] [ARGS]...

  compare EDGE [ORIGIN]   judge every origin-pull connection: whose fault a 52x was
  report RESULT --html F  the evidence page (HTML) of a 'compare --json' result
  conns CAPTURE           list every TCP connection of one capture
  flows CAPTURE           show each connection's reassembled HTTP (tcpflow's job)
  syncheck ORIGIN         do the CDN's SYNs reach the origin, and are they answered?
  capture --role ...      capture the origin pull on this host, correctly
  probe URL --origin-ip   reproduce the origin pull, as a CDN node would

'pcapdiff --help' for more, 'pcapdiff COMMAND --help' for one command."""


class _LazyGroup(click.Group):
    """The commands of COMMANDS, each imported on first use, in COMMANDS' order."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        command = getattr(importlib.import_module(f".{cmd_name}_cmd", __name__), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=_LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(None, "-V", "--version", package_name="pcapdiff")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Packet-level evidence for CDN 52x errors: read, track and compare TCP captures.

    \b
    Exit status: 0 done (compare, probe: every connection ok), 1 a connection is not
    ok, 2 trouble (bad options, unreadable file), 3 compare judged nothing (syncheck:
    saw no SYN).
    Shell completion (bash): eval "$(_PCAPDIFF_COMPLETE=bash_source pcapdiff)"
    """
    if ctx.invoked_subcommand is None:
        click.echo(SHORT_USAGE, err=True)
        ctx.exit(ExitCode.TROUBLE)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: every failure is one line on stderr and exit code 2."""
    # Millions of short-lived tuples per run make CPython's default GC thresholds
    # trigger full collections over and over; our records hold no reference cycles.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    # A stdout that cannot encode some text (PYTHONIOENCODING=ascii, a C locale) shows
    # it as escapes instead of failing mid-table.
    if sys.stdout is None or sys.stderr is None:  # started with >&- or 2>&-
        if sys.stderr is not None:
            sys.stderr.write("error: standard output is closed\n")
        return ExitCode.TROUBLE
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = _run(argv)
        sys.stdout.flush()  # a full disk shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # `pcapdiff conns big.pcap | head`: the reader left before the end.
        _drop_stdout()
        click.echo("error: the output was closed before it was complete (broken pipe)", err=True)
        return ExitCode.TROUBLE
    except OSError as exc:  # input errors are PcapdiffError: this is the output
        _drop_stdout()
        click.echo(f"error: writing the output failed: {exc.strerror or exc}", err=True)
        return ExitCode.TROUBLE


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush fails no more."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _run(argv: list[str] | None) -> int:
    """The command, its errors as one line each."""
    try:
        # Not standalone: click returns ctx.exit()'s code instead of raising it.
        code = cli.main(args=argv, prog_name="pcapdiff", standalone_mode=False)
        if isinstance(code, int):
            return code
    except click.BadParameter as exc:
        # "--origin-ip: '198.51.100.2:8080' is not an address (put the port in the URL)"
        if isinstance(exc, click.MissingParameter):
            text = exc.format_message()
        else:
            text = _named(exc) + exc.message
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"error: {text}{hint}", err=True)
        return ExitCode.TROUBLE
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        return ExitCode.TROUBLE
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return ExitCode.TROUBLE
    except PcapdiffError as exc:
        click.echo(f"error: {exc}", err=True)
        return ExitCode.TROUBLE
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("error: interrupted", err=True)
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return ExitCode.INTERRUPTED
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else ExitCode.TROUBLE
    return ExitCode.OK


def _named(exc: click.BadParameter) -> str:
    """The option (or argument) a bad value was given to, as 'NAME: '."""
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        param = exc.param
        hint = (
            "/".join(param.opts) if isinstance(param, click.Option) else param.human_readable_name
        )
    if isinstance(hint, (list, tuple)):
        hint = "/".join(hint)
    return f"{hint}: " if hint else ""


def entry() -> None:
    sys.exit(main())
