"""`artver check-ignore`: which paths the .artverignore files exclude."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artver.cli.common import JsonOpt, open_repo
from artver.ui import out


def check_ignore(
    paths: Annotated[list[str], typer.Argument(help="Paths to check.", show_default=False)],
    details: Annotated[
        bool,
        typer.Option(
            "-d", "--details", help="Show the ignore file, line and pattern that decided."
        ),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Print the paths that .artverignore files exclude; exit 1 when none is."""
    from artver.ops.check_ignore import check_ignore as do_check

    results = do_check(open_repo(), paths, Path.cwd())
    if json:
        out.json({"paths": [r.to_dict() for r in results]})
    else:
        for res in results:
            if details and res.match is not None:
                out.result(f"{res.source}:{res.match.line}:{res.match.pattern}\t{res.path}")
            elif res.ignored:
                out.result(res.path)
    if not any(r.ignored for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("check-ignore")(check_ignore)
