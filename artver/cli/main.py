"""The command line: parse arguments, call a use-case, print. No logic lives here.

One guard (`run`) turns ArtverError into a message on stderr and its exit code; tracebacks
are shown only with -v.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from artver import __version__
from artver.cli import (
    admin,
    data,
    experiments,
    fsck,
    history,
    hooks,
    ignore,
    import_dvc,
    import_url,
    imports,
    lineage,
    pipeline,
    plots,
    remotes,
    settings,
    tracking,
    verify,
)
from artver.errors import ArtverError, Interrupted, Terminated
from artver.ui import out

app = typer.Typer(
    name="artver",
    help="Version data, models and the pipelines that make them, next to code in Git.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (typer)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain "Error: ..." usage messages, like every other error
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        out.result(f"artver {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only errors and results.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show tracebacks.")] = False,
    directory: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("-C", help="Run as if started in this directory.", show_default=False),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    out.quiet = quiet
    out.verbose = verbose
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as exc:
            raise ArtverError(f"cannot change to {directory}: {exc.strerror}") from None


GLOBAL_FLAGS = {"-q": "quiet", "--quiet": "quiet", "-v": "verbose", "--verbose": "verbose"}


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """Accept -q/-v after the subcommand too (`artver add -q data`), as DVC users type them."""
    if not argv:
        return argv
    kept, hoisted = [], []
    for i, arg in enumerate(argv):
        if arg == "--":
            kept.extend(argv[i:])
            break
        (hoisted if arg in GLOBAL_FLAGS else kept).append(arg)
    return hoisted + kept


def _interrupted(signum: int, frame: object) -> None:
    # Raised as an ArtverError so that it reaches the guard below: typer would otherwise
    # turn Ctrl-C into a silent exit. Core code cleans up in its `finally` blocks.
    raise Interrupted("interrupted; nothing half-written was left behind")


def _terminated(signum: int, frame: object) -> None:
    # As Ctrl-C: a `kill` (or a CI job's timeout) must not leave temp files or stage
    # processes behind either.
    raise Terminated("terminated (SIGTERM); nothing half-written was left behind")


# Each command group registers its commands on the app, in the order `--help` lists them.
GROUPS = (
    data,
    ignore,
    tracking,
    settings,
    admin,
    pipeline,
    plots,
    verify,
    remotes,
    imports,
    import_url,
    history,
    lineage,
    hooks,
    fsck,
    experiments,
    import_dvc,
)
for group in GROUPS:
    group.register(app)


def _command_name(info) -> str:
    """The name typer gives a registered command (its function's name, dashed)."""
    return info.name or info.callback.__name__.lower().replace("_", "-")


def _only_the_command_named(args: list[str]) -> None:
    """Keep only the command the arguments name (if they name one): typer builds a click
    command for every registered function on each start, which costs more than most no-op
    commands do. Help and unknown names still see every command."""
    name, skip = None, False
    for arg in args:
        if skip:
            skip = False
        elif arg == "-C":
            skip = True
        elif not arg.startswith("-"):
            name = arg
            break
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if commands or groups:
        app.registered_commands, app.registered_groups = commands, groups


def _print_traceback() -> None:
    import traceback

    from artver.redact import mask_text

    print(mask_text(traceback.format_exc()), end="", file=sys.stderr)


def _log_libraries_masked() -> None:
    """With -v, the storage libraries' own warnings go to stderr (for bug reports), with any
    password or configured secret in them masked, as in every other line artver prints."""
    import logging

    from artver.redact import mask_text

    class Masked(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return mask_text(super().format(record))

    handler = logging.StreamHandler()
    handler.setFormatter(Masked(logging.BASIC_FORMAT))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def run() -> None:
    """Run the CLI with the one error guard."""
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _terminated)
    try:
        args = _hoist_global_flags(sys.argv[1:])
        if "-v" in args or "--verbose" in args:
            _log_libraries_masked()
        _only_the_command_named(args)
        app(args=args, prog_name="artver")
    except ArtverError as exc:
        if out.verbose:
            _print_traceback()
        out.error(str(exc))
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug or an unexpected OS condition: still no traceback
        if out.verbose:
            _print_traceback()
            sys.exit(1)
        out.error(f"{type(exc).__name__}: {exc} (run with -v for the traceback)")
        sys.exit(1)
