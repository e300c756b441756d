"""Changing what is tracked: remove, move, unprotect, freeze, unfreeze."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artver.cli.common import git_add_hint, open_repo
from artver.ui import out, plural

StagesArg = Annotated[list[str], typer.Argument(help="Stage names.", show_default=False)]


def remove(
    targets: Annotated[
        list[str],
        typer.Argument(
            help="Tracked paths, their .artver files, or stage names.", show_default=False
        ),
    ],
    outs: Annotated[
        bool,
        typer.Option("--outs", help="Also delete the data from the workspace (only if cached)."),
    ] = False,
) -> None:
    """Stop tracking paths or stages; the data stays in the workspace unless --outs."""
    from artver.ops.remove import remove as do_remove

    result = do_remove(open_repo(), targets, Path.cwd(), outs=outs)
    for removal in result.removals:
        if removal.kind == "stage":
            out.info(f"Removed stage {removal.name} from {removal.file}")
        else:
            out.info(f"Removed {removal.name}")
        for path in removal.deleted_data:
            out.info(f"Deleted {path} from the workspace (its content is in the cache)")
        for path in removal.kept_data if outs else []:
            out.info(f"Kept {path} (cache: false: it is kept in Git, not in the cache)")
    git_add_hint(result.changed, result.deleted)


def move(
    src: Annotated[str, typer.Argument(help="A tracked path or its .artver file.")],
    dst: Annotated[str, typer.Argument(help="The new path, or an existing directory to go into.")],
) -> None:
    """Move tracked data, rename its pointer file and move its .gitignore entry."""
    from artver.ops.move import move as do_move

    result = do_move(open_repo(), src, dst, Path.cwd())
    if result.moved_data:
        out.info(f"Moved {result.src} to {result.dst}")
    else:
        out.info(
            f"Moved the pointer of {result.src} to {result.dst}; the data was not in the "
            f"workspace (`artver checkout {result.dst}` puts it there)"
        )
    for stage in result.dependents:
        out.info(f"note: stage {stage} still depends on {result.src}: edit its deps in artver.yaml")
    git_add_hint(result.changed, result.deleted)


def unprotect(
    targets: Annotated[
        list[str],
        typer.Argument(
            help="Tracked files or directories, or paths inside tracked directories.",
            show_default=False,
        ),
    ],
) -> None:
    """Make tracked files writable copies, to edit them in place without touching the cache."""
    from artver.ops.unprotect import unprotect as do_unprotect

    for res in do_unprotect(open_repo(), targets, Path.cwd()):
        if res.replaced:
            copies = "a writable copy" if res.replaced == 1 else "writable copies"
            out.info(f"Unprotected {res.shown} ({plural(res.replaced, 'file')} now {copies})")
        else:
            out.info(f"{res.shown} is already writable ({plural(res.files, 'file')}, no links)")


def _freeze(names: list[str], frozen: bool) -> None:
    from artver.ops.freeze import freeze as do_freeze

    repo = open_repo()
    results = do_freeze(repo, names, frozen)
    for res in results:
        if res.changed:
            out.info(f"{'Froze' if frozen else 'Unfroze'} stage {res.name} ({res.file})")
        else:
            out.info(f"Stage {res.name} is {'already' if frozen else 'not'} frozen")
    git_add_hint([repo.root / r.file for r in results if r.changed])


def freeze(names: StagesArg) -> None:
    """Mark stages frozen in artver.yaml: repro does not run them."""
    _freeze(names, True)


def unfreeze(names: StagesArg) -> None:
    """Drop `frozen: true` from stages in artver.yaml."""
    _freeze(names, False)


def register(app: typer.Typer) -> None:
    for command in (remove, move, unprotect, freeze, unfreeze):
        app.command()(command)
