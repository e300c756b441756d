"""What several command modules share: option types, finding the repository, the hints
printed after a command. Imports none of the command modules (they import it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from artver.ui import out

if TYPE_CHECKING:
    from artver.repo import Repo

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document and nothing else.")]
RemoteOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional here
    typer.Option("-r", "--remote", help="Remote name (default: core.remote).", show_default=False),
]
TargetsArg = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional here
    typer.Argument(help="Tracked paths, their .artver files or stage names (default: all)."),
]


JobsOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "-j",
        "--jobs",
        help="Parallel requests to the remote (default: see docs/remotes.md).",
        show_default=False,
    ),
]


def sub_app(name: str, help_text: str) -> typer.Typer:
    """A command group (`artver remote ...`) that behaves like the top-level app: help when
    run bare, -h as well as --help, plain-text help."""
    return typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def rev_option(help_text: str):
    """A `--rev REV` option with this help."""
    return typer.Option("--rev", help=help_text, show_default=False)


def open_repo() -> Repo:
    """The repository the current directory is in, printing while it waits for the lock."""
    from artver.repo import Repo

    repo = Repo.find(Path.cwd(), out.progress())
    repo.on_lock_wait = lambda holder: out.info(f"Waiting for the repository lock ({holder})...")
    return repo


def git_add_hint(paths: list[Path], deleted: list[Path] | None = None) -> None:
    """Tell the user which files to `git add` after a command changed them, and which to
    `git rm --cached` after it deleted them (`--ignore-unmatch`: some were never committed)."""
    import shlex

    lines = []
    for verb, group in (("git add", paths), ("git rm --cached --ignore-unmatch", deleted or [])):
        if group:
            shown = sorted({os.path.relpath(p) for p in group})
            lines.append(f"    {verb} {' '.join(shlex.quote(p) for p in shown)}")
    if lines:
        out.info("\nTo track the changes with git, run:\n\n" + "\n".join(lines) + "\n")


def note_checked_out_rev(rev: str, changed: list[str]) -> None:
    """After `checkout --rev` / `pull --rev`: the workspace holds REV's data, not HEAD's."""
    if changed:
        out.info(
            f"The workspace now holds the data of {rev}, but the pointer files still record "
            "the current versions:\n`artver status` shows these paths as modified; "
            "`artver checkout` returns to the current versions;\n`artver add` would record "
            "the old data as a new version."
        )
    else:
        out.info(f"The workspace already holds the data of {rev}.")


def print_notes(notes: list[str]) -> None:
    """Notes a config change produced (`note: ...`)."""
    for note in notes:
        out.info(f"note: {note}")
