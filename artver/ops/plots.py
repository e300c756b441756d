"""`artver plots show` and `artver plots diff`: collect the plots, read their data, draw them.

The definitions come from each side's artver.yaml files (`artver.plots.definitions`); their
files from the workspace or, at a Git revision, from Git or the cache (`rev_source.Source`).
Everything is read and every spec built before anything is written, so a bad definition or
data file leaves the output directory as it was.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artver.ops.rev_source import Source
from artver.plots import definitions, render, templates
from artver.plots.datapoints import chart_data
from artver.plots.definitions import PlotDef, PlotError, is_image
from artver.plots.readers import Table, is_table, mime_type, read_table
from artver.repo import Repo

WORKSPACE = "workspace"
DEFAULT_OUT = "artver_plots"
PAGE = "index.html"


@dataclass
class Plot:
    """One drawn plot: its Vega-Lite spec (data inlined), or its images."""

    id: str
    source: str  # where it is defined ("" for a target no definition names)
    revisions: list[str]
    template: str | None = None
    spec: dict[str, Any] | None = None
    images: list[tuple[str, str, bytes]] = field(default_factory=list)  # (rev, mime, bytes)
    files: list[Path] = field(default_factory=list)  # the image files written for it

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "id": self.id,
            "type": "vega" if self.spec is not None else "image",
            "source": self.source,
            "revisions": self.revisions,
            "files": [str(p) for p in self.files],
        }
        if self.spec is not None:
            found["template"] = self.template
            found["spec"] = self.spec
        return found


@dataclass
class Shown:
    revisions: list[str]
    plots: list[Plot]
    page: Path | None = None  # the HTML page written (None with --json, or with no plots)
    notes: list[str] = field(default_factory=list)  # a plot a revision lacks, left out there

    def to_dict(self) -> dict[str, Any]:
        return {"revisions": self.revisions, "plots": [p.to_dict() for p in self.plots]}


def diff_sides(revs: list[str]) -> list[str | None]:
    """The sides `plots diff REV...` draws, as DVC picks them (None: the workspace, which comes
    first): no revision, the workspace and HEAD; one, the workspace and it; two or more, those
    (`workspace` names the workspace)."""
    if not revs:
        revs = ["HEAD"]
    sides: list[str | None] = [None] if len(revs) == 1 else []
    for rev in revs:
        side = None if rev == WORKSPACE else rev
        if side not in sides:
            sides.append(side)
    if None in sides:
        sides.remove(None)
        sides.insert(0, None)
    return sides


def show(
    repo: Repo,
    targets: list[str],
    cwd: Path,
    out_dir: Path,
    as_json: bool = False,
    png: bool = False,
    svg: bool = False,
) -> Shown:
    """The workspace's plots (those `targets` name, when given) drawn into `out_dir`."""
    return draw(repo, [None], targets, cwd, out_dir, as_json, png, svg)


def diff(
    repo: Repo,
    revs: list[str],
    targets: list[str],
    cwd: Path,
    out_dir: Path,
    as_json: bool = False,
    png: bool = False,
    svg: bool = False,
) -> Shown:
    """The plots of several revisions (`diff_sides`) on the same axes."""
    return draw(repo, diff_sides(revs), targets, cwd, out_dir, as_json, png, svg)


def draw(
    repo: Repo,
    sides: list[str | None],
    targets: list[str],
    cwd: Path,
    out_dir: Path,
    as_json: bool,
    png: bool,
    svg: bool,
) -> Shown:
    from artver.ops.revisions import Revisions

    pending = None
    try:
        with Revisions(repo) as revisions:
            sources = [Source(repo, revisions, rev) for rev in sides]
            labels = [s.label for s in sources]
            defs = _definitions(sources)
            named = [_target(repo, defs, t, cwd) for t in targets]
            wanted = [] if None in named else [t for t in named if t is not None]
            chosen = definitions.select(defs, wanted)
            for plot in chosen:
                templates.check(plot.template, f"plot {plot.id} ({plot.source or 'a target'})")
            if chosen and not as_json and not all(p.image for p in chosen):
                # The page's JavaScript is built (or read back) while the data are read.
                pending = render.PendingBundle(repo.artver_dir / "tmp" / "plots")
            reader = _Reader(sources)
            chosen = _expanded(chosen, sources)
            notes: list[str] = []
            plots = [_plot(plot, reader, notes) for plot in chosen]
        shown = Shown(labels, plots, notes=notes)
        if plots:
            _write(shown, out_dir, as_json, png, svg, pending)
    finally:
        if pending is not None:
            pending.cancel()
    return shown


def _definitions(sources: list[Source]) -> list[PlotDef]:
    """Every side's definitions, each id once (the first side's wins: the workspace's)."""
    found: dict[str, PlotDef] = {}
    for source in sources:
        pipelines = source.pipelines()
        for plot in definitions.collect(
            (p.file, p.sections.get("plots"), p.stages) for p in pipelines
        ):
            found.setdefault(plot.id, plot)
    return list(found.values())


def _target(repo: Repo, defs: list[PlotDef], target: str, cwd: Path) -> str | None:
    """A target as the definitions name it: a plot's id as given, else a path from `cwd`
    made repo-relative (None: the repository's root, which holds every plot)."""
    if any(d.id == target for d in defs):
        return target
    full = os.path.normpath(os.path.join(cwd, target))
    rel = os.path.relpath(full, repo.root)
    if rel == os.curdir:
        return None
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise PlotError(f"{target}: outside the repository")
    return Path(rel).as_posix()


def _expanded(chosen: list[PlotDef], sources: list[Source]) -> list[PlotDef]:
    """A plot whose id names a directory (dvclive's `dvclive/plots/metrics`) stands for one
    plot per data file or image below it, with its options."""
    found = []
    for plot in chosen:
        if not plot.from_id or is_table(plot.id) or is_image(plot.id):
            found.append(plot)
            continue
        if any(source.data(plot.id) is not None for source in sources):
            found.append(plot)
            continue
        files: dict[str, None] = {}
        for source in sources:
            files.update(dict.fromkeys(source.files_below(plot.id)))
        inside = [f for f in sorted(files) if is_table(f) or is_image(f)]
        found += [plot.for_file(f) for f in inside] if inside else [plot]
    unique: dict[str, PlotDef] = {}
    for plot in found:  # a file defined on its own and in a directory plot: drawn once
        unique.setdefault(plot.id, plot)
    return list(unique.values())


class _Reader:
    """Each side's files, read and parsed once however many plots use them."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        self._bytes: dict[tuple[int, str], bytes | None] = {}
        self._tables: dict[tuple[int, str], Table] = {}

    def data(self, side: int, path: str) -> bytes | None:
        key = (side, path)
        if key not in self._bytes:
            self._bytes[key] = self.sources[side].data(path)
        return self._bytes[key]

    def table(self, side: int, path: str) -> Table | None:
        key = (side, path)
        if key not in self._tables:
            data = self.data(side, path)
            if data is None:
                return None
            where = path if len(self.sources) == 1 else f"{path} ({self.sources[side].label})"
            self._tables[key] = read_table(data, path, where)
        return self._tables[key]


def _plot(plot: PlotDef, reader: _Reader, notes: list[str]) -> Plot:
    labels = [s.label for s in reader.sources]
    if plot.image:
        images = []
        for i, label in enumerate(labels):
            data = reader.data(i, plot.id)
            if data is not None:
                images.append((label, mime_type(plot.id), data))
        _missing(plot, [lb for lb, *_ in images], reader, notes)
        return Plot(plot.id, plot.source, [lb for lb, *_ in images], images=images)
    sides: list[tuple[str, dict[str, Table]]] = []
    for i, label in enumerate(labels):
        tables = {}
        for path in plot.files:
            table = reader.table(i, path)
            if table is not None:
                tables[path] = table
        if len(tables) == len(plot.files):
            sides.append((label, tables))
    _missing(plot, [lb for lb, _ in sides], reader, notes)
    data = chart_data(plot, sides)
    try:
        spec = templates.build(plot.template, data, plot.title)
    except PlotError as exc:
        raise PlotError(f"plot {plot.id}: {exc.message}") from None
    return Plot(plot.id, plot.source, list(data.revs), plot.template, spec)


def _missing(
    plot: PlotDef,
    found: list[str],
    reader: _Reader,
    notes: list[str],
) -> None:
    """PlotError when no side has the plot's files; a note for each side that lacks them."""
    labels = [s.label for s in reader.sources]
    lacking = [i for i, label in enumerate(labels) if label not in found]
    for i in lacking:
        absent = [f for f in plot.files if reader.data(i, f) is None]
        where = "the workspace" if labels[i] == WORKSPACE else labels[i]
        text = f"plot {plot.id}: {', '.join(absent)} {_verb(absent)} not in {where}"
        if found:
            notes.append(f"{text}: left out there")
        elif len(labels) == 1 and not plot.source:
            raise PlotError(
                f"{plot.id}: no plot has this id or file, and the workspace has no such file",
                hint="`artver plots show` with no target draws every plot artver.yaml defines.",
            )
        elif len(labels) == 1:
            raise PlotError(
                f"{text} (defined in {plot.source})",
                hint="Run the stage that writes it (`artver repro`), or fix the plot's path.",
            )
        else:
            raise PlotError(
                f"plot {plot.id}: {', '.join(plot.files)} {_verb(plot.files)} in none of "
                + ", ".join(labels)
            )


def _verb(files: list[str] | tuple[str, ...]) -> str:
    return "is" if len(files) == 1 else "are"


# -- writing -------------------------------------------------------------------------------------
def _write(
    shown: Shown,
    out_dir: Path,
    as_json: bool,
    png: bool,
    svg: bool,
    pending: render.PendingBundle | None,
) -> None:
    charts = [p for p in shown.plots if p.spec is not None]
    if (not as_json or png or svg) and charts:
        render.vl_convert()  # the extra is there, before anything is written
    script: str | Callable[[], str] = ""
    if not as_json and pending is not None and charts:
        script = pending.result  # waited for last: its child builds it meanwhile
    if out_dir.exists() and not out_dir.is_dir():
        raise PlotError(f"{out_dir}: not a directory (the plots are written into one)")
    # Every file is made before any is written: a chart that cannot be drawn writes nothing.
    files: list[tuple[Path, bytes]] = []
    names: set[str] = set()
    for plot in shown.plots:
        mine: list[tuple[Path, bytes]] = []
        stem = _unique(_file_name(plot.id), names)
        if plot.spec is not None:
            if png:
                mine.append((out_dir / f"{stem}.png", render.to_png(plot.spec, plot.id)))
            if svg:
                mine.append((out_dir / f"{stem}.svg", render.to_svg(plot.spec, plot.id).encode()))
        elif as_json:  # the page embeds images; JSON names them, copied here as DVC does
            for rev, _, data in plot.images:
                name = _unique(f"{_file_name(rev)}_{_file_name(plot.id)}", names)
                mine.append((out_dir / "static" / name, data))
        plot.files = [path for path, _ in mine]
        files += mine
    page = None
    if not as_json:
        title = "artver plots: " + ", ".join(shown.revisions)
        chart_list = [render.Chart(p.id, p.spec, p.images) for p in shown.plots]
        page = (out_dir / PAGE, render.page(chart_list, title, script).encode("utf-8"))
    from artver.fsutil import atomic_write_bytes

    try:
        for path, data in [*files, *([page] if page else [])]:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)
    except OSError as exc:
        raise PlotError(f"cannot write {exc.filename or out_dir}: {exc.strerror or exc}") from None
    shown.page = page[0] if page else None


def _file_name(text: str) -> str:
    """A file name for a plot id or revision: `eval/roc.json` -> `eval_roc.json`."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace(posixpath.sep, "_")).strip("._")
    return name or "plot"


def _unique(name: str, taken: set[str]) -> str:
    found, n = name, 2
    while found in taken:
        found, n = f"{name}-{n}", n + 1
    taken.add(found)
    return found
