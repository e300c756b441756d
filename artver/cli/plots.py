"""`artver plots show` and `artver plots diff`: parse, call `artver.ops.plots`, print.

Thin like the other command modules: the charts, the page and the image files are made by
`artver.ops.plots` and `artver.plots`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from artver.cli.common import JsonOpt, open_repo, sub_app
from artver.ui import out

plots_app = sub_app("plots", "Charts of plot files (Vega-Lite), on one self-contained HTML page.")

OutOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional here
    typer.Option(
        "-o",
        "--out",
        help="Directory to write index.html (and image files) into (default: artver_plots).",
        metavar="DIR",
        show_default=False,
    ),
]
PngOpt = Annotated[bool, typer.Option("--png", help="Also write each chart as a PNG file.")]
SvgOpt = Annotated[bool, typer.Option("--svg", help="Also write each chart as an SVG file.")]


@plots_app.command("show")
def show(
    targets: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(
            help="Plot ids or files (default: every plot artver.yaml defines).",
            metavar="TARGET...",
            show_default=False,
        ),
    ] = None,
    out_dir: OutOpt = None,
    json: JsonOpt = False,
    png: PngOpt = False,
    svg: SvgOpt = False,
) -> None:
    """Draw the workspace's plots into one HTML page (and PNG/SVG files)."""
    from artver.ops import plots as ops

    cwd = Path.cwd()
    shown = ops.show(open_repo(), targets or [], cwd, _out(out_dir, cwd), json, png, svg)
    _report(shown, json)


@plots_app.command("diff")
def diff(
    revisions: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(
            help="Git revisions (default: HEAD); the workspace is added when fewer than two.",
            metavar="REV...",
            show_default=False,
        ),
    ] = None,
    targets: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--targets",
            help="A plot id or file to draw (repeatable; default: every plot).",
            metavar="TARGET",
            show_default=False,
        ),
    ] = None,
    out_dir: OutOpt = None,
    json: JsonOpt = False,
    png: PngOpt = False,
    svg: SvgOpt = False,
) -> None:
    """Draw the plots of several revisions on the same axes, one colour per revision."""
    from artver.ops import plots as ops

    cwd = Path.cwd()
    shown = ops.diff(
        open_repo(), revisions or [], targets or [], cwd, _out(out_dir, cwd), json, png, svg
    )
    _report(shown, json)


def _out(out_dir: Path | None, cwd: Path) -> Path:
    from artver.ops.plots import DEFAULT_OUT

    return Path(os.path.abspath(cwd / (out_dir or Path(DEFAULT_OUT))))


def _report(shown: Any, json: bool) -> None:
    for note in shown.notes:
        out.info(f"note: {note}")
    if json:
        out.json(shown.to_dict())
        return
    if not shown.plots:
        out.result(
            "No plots: no artver.yaml defines any. Name the files (`artver plots show FILE`) "
            "or list them under `plots:` in artver.yaml."
        )
        return
    for plot in shown.plots:
        for path in plot.files:
            out.info(f"wrote {os.path.relpath(path)}")
    out.result(shown.page.as_uri())


def register(app: typer.Typer) -> None:
    app.add_typer(plots_app, name="plots")
