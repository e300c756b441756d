"""Data from URLs: import-url (tracked, with its source's version marker) and get-url (a plain,
verified download)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from artver.cli.common import RemoteOpt, git_add_hint, open_repo
from artver.ui import human_size, out, plural

UrlArg = Annotated[
    str,
    typer.Argument(
        metavar="URL",
        help="s3://, gs://, http(s)://, file:// or any fsspec URL, or a local path.",
        show_default=False,
    ),
]
JobsOpt = Annotated[
    Optional[int],  # noqa: UP045 - typer needs Optional here
    typer.Option(
        "-j",
        "--jobs",
        help="Files downloaded at once (default: core.jobs locally, more over a network).",
        show_default=False,
    ),
]


def import_url(
    url: UrlArg,
    out_path: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            metavar="[OUT]",
            help="Where to track it (default: the URL's last name, in the current directory).",
            show_default=False,
        ),
    ] = None,
    to_remote: Annotated[
        bool,
        typer.Option("--to-remote", help="Stream it straight to a remote; keep no local copy."),
    ] = False,
    remote: RemoteOpt = None,
    jobs: JobsOpt = None,
) -> None:
    """Download data from a URL into the cache and track it, with its source's version."""
    from artver.ops.import_url import import_url as do_import

    res = do_import(open_repo(), url, out_path, Path.cwd(), to_remote, remote, jobs)
    pointer = res.added.pointer
    o = pointer.out
    shown = os.path.relpath(pointer.data_path())
    what = f"{plural(o.nfiles, 'file')}, " if o.nfiles is not None else ""
    if res.remote is not None:
        out.info(
            f"Imported {shown} ({what}{human_size(o.size)}) from {res.url} to remote "
            f"{res.remote}: {plural(res.sent, 'object')} sent"
        )
        out.info(f"`artver pull {shown}` gets it here.")
    else:
        out.info(f"Imported {shown} ({what}{human_size(o.size)}) from {res.url}")
    gitignore = res.added.gitignore
    git_add_hint([pointer.file] + ([gitignore] if gitignore else []))


def get_url(
    url: UrlArg,
    out_path: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            metavar="[OUT]",
            help="Where to write it (default: its last name here; a directory: into it).",
            show_default=False,
        ),
    ] = None,
    jobs: JobsOpt = None,
) -> None:
    """Download data from a URL, checked on the way; nothing is tracked."""
    from artver.errors import NotARepoError
    from artver.ops.import_url import get_url as do_get

    try:
        repo = open_repo()  # a remote configured on the same store lends its endpoint
    except NotARepoError:
        repo = None
    res = do_get(repo, url, out_path, Path.cwd(), jobs)
    what = f"{plural(res.nfiles, 'file')}, " if res.kind == "dir" else ""
    out.info(f"Downloaded {url} to {os.path.relpath(res.path)} ({what}{human_size(res.size)})")


def register(app: typer.Typer) -> None:
    for command in (import_url, get_url):
        app.command()(command)
