"""Data from other artver repositories: get, import, update (`ls URL` is in `data`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from artver.cli.common import JobsOpt, git_add_hint, open_repo, rev_option
from artver.ui import human_size, out, plural

UrlArg = Annotated[
    str,
    typer.Argument(
        help="The source repository: a local path, file://, https://, ssh:// or git@host:path.",
        show_default=False,
    ),
]
PathArg = Annotated[
    str,
    typer.Argument(help="A path in the source repository, from its top.", show_default=False),
]
OutOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "-o",
        "--out",
        help="Where to write it (default: its name, in the current directory); an existing "
        "directory receives it inside.",
        metavar="OUT",
        show_default=False,
    ),
]
RevOpt = Annotated[
    Optional[str],  # noqa: UP045
    rev_option("The source's Git revision (default: its HEAD, the default branch)."),
]


def _repo_or_none():
    """The artver repository around the current directory, if there is one."""
    from artver.errors import NotARepoError

    try:
        return open_repo()
    except NotARepoError:
        return None


def _fetched_note(fetched) -> str:
    if not fetched.transferred:
        return f"all {plural(fetched.present, 'object')} already in the cache"
    note = f"{plural(fetched.transferred, 'object')} fetched ({human_size(fetched.nbytes)})"
    return note + (f", {fetched.present} already in the cache" if fetched.present else "")


def get(
    url: UrlArg,
    path: PathArg,
    out_path: OutOpt = None,
    rev: RevOpt = None,
    jobs: JobsOpt = None,
) -> None:
    """Download tracked data (or a file Git keeps) from another repository; not tracked here."""
    from artver.ops.imports import get as do_get

    repo = _repo_or_none()
    progress = repo.progress if repo is not None else out.progress()
    res = do_get(url, path, Path.cwd(), out_path, rev, jobs, repo, progress)
    what = f"{plural(res.nfiles, 'file')}, " if res.nfiles is not None else ""
    how = "from Git" if res.kind == "git" else _fetched_note(res.fetched)
    out.info(
        f"Downloaded {path} ({what}{human_size(res.size)}) from {res.where} to "
        f"{os.path.relpath(res.dest)}: {how}"
    )


def import_(
    url: UrlArg,
    path: PathArg,
    out_path: OutOpt = None,
    rev: RevOpt = None,
    jobs: JobsOpt = None,
) -> None:
    """Download tracked data from another repository and track it here, with its source."""
    from artver.ops.imports import import_ as do_import

    res = do_import(open_repo(), url, path, Path.cwd(), out_path, rev, jobs)
    o = res.pointer.out
    what = f"{plural(o.nfiles, 'file')}, " if o.nfiles is not None else ""
    out.info(
        f"Imported {os.path.relpath(res.pointer.data_path())} ({what}{human_size(o.size)}) "
        f"from {res.where}: {_fetched_note(res.fetched)}"
    )
    git_add_hint([res.pointer.file] + ([res.gitignore] if res.gitignore else []))


def update(
    targets: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(help="Imported paths or their .artver files (default: every import)."),
    ] = None,
    rev: Annotated[
        Optional[str],  # noqa: UP045
        rev_option("Follow this revision of the source from now on (default: the one recorded)."),
    ] = None,
    jobs: JobsOpt = None,
) -> None:
    """Bring imports up to date with their sources, fetching only what is new."""
    from artver.ops.imports import update as do_update

    results = do_update(open_repo(), targets or [], Path.cwd(), rev, jobs)
    if not results:
        out.info("No imports here: nothing to update.")
        return
    changed = []
    for res in results:
        old, new = (res.old or "")[:7] or "?", (res.new or "")[:7]
        if res.state == "updated":
            out.info(f"Updated {res.shown} ({old} -> {new}): {_fetched_note(res.fetched)}")
        elif res.state == "relocked":
            out.info(f"Updated {res.shown} ({old} -> {new}): the data did not change")
        elif res.state == "url-updated":
            out.info(f"Updated {res.shown} from its URL")
        else:
            out.info(f"{res.shown} is up to date" + (f" ({new})" if new else ""))
        if res.state in ("updated", "relocked", "url-updated"):
            changed.append(res.pointer_file)
    git_add_hint(changed)


def register(app: typer.Typer) -> None:
    app.command()(get)
    app.command("import")(import_)
    app.command()(update)
