"""What to plot: the plot definitions an artver.yaml gives, read as DVC reads a dvc.yaml's.

Two places define plots. The top-level `plots:` list, whose items are a file path (a data file
or an image) or a one-key mapping `ID: {x, y, template, title, x_label, y_label}`, where ID is
the data file, or any name when `y` maps files to their fields:

    plots:
      - eval/importance.png
      - eval/train.csv: {x: epoch, y: [loss, acc]}
      - train_vs_val:
          x: epoch
          y: {eval/train.json: loss, eval/val.json: [loss, acc]}

and a stage's `plots:` outs (`- eval/roc.json: {x: fpr, y: tpr}`), which `stages.schema` parses
into `Out`s with `plot=True` and their options. Paths are relative to the artver.yaml's
directory. Pure: values in, values out; reading the files is `artver.ops.plots`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from artver.errors import ArtverError

INDEX = "step"  # the x field when a plot names none: the row's number, as DVC calls it
DEFAULT_TEMPLATE = "linear"
PROPS = ("x", "y", "template", "title", "x_label", "y_label")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif")


class PlotError(ArtverError):
    """A plot that cannot be drawn: a bad definition, a missing file or column, bad data."""


def is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_SUFFIXES)


@dataclass(frozen=True)
class Series:
    """One line (or set of marks) of a plot: a y column of a file, and where its x comes from."""

    file: str  # repo-relative data file holding the y values
    field: str | None  # its y column; None: its last column (DVC's inference)
    x_file: str | None = None  # the file holding the x values; None: the row index (`step`)
    x_field: str | None = None


@dataclass(frozen=True)
class PlotDef:
    id: str  # the data file (repo-relative) or, when `y` maps files to fields, a name
    series: tuple[Series, ...]
    template: str = DEFAULT_TEMPLATE
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None
    source: str = ""  # where: "artver.yaml", "artver.yaml, stage train"; "" for a target
    from_id: bool = True  # the id is the data file: a directory there stands for its files

    @property
    def files(self) -> tuple[str, ...]:
        """Every file the plot reads, each once, y files first."""
        found = dict.fromkeys(s.file for s in self.series)
        found.update(dict.fromkeys(s.x_file for s in self.series if s.x_file is not None))
        return tuple(found)

    @property
    def image(self) -> bool:
        return self.from_id and is_image(self.id)

    def for_file(self, path: str) -> PlotDef:
        """This definition applied to `path`, a file inside the directory its id names."""
        series = tuple(
            replace(
                s,
                file=path if s.file == self.id else s.file,
                x_file=path if s.x_file == self.id else s.x_file,
            )
            for s in self.series
        )
        return replace(self, id=path, series=series)


# -- parsing -------------------------------------------------------------------------------------
def top_level(section: list[Any], pipeline_file: str) -> list[PlotDef]:
    """The definitions of an artver.yaml's top-level `plots:` list (`pipeline_file` is its
    repo-relative path; the list's `${...}` are already resolved)."""
    base = posixpath.dirname(pipeline_file)
    defs = []
    for i, item in enumerate(section):
        where = f"{pipeline_file}, plots[{i}]"
        if isinstance(item, str):
            name, props = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, props = next(iter(item.items()))
        else:
            raise PlotError(
                f"{where}: each plot is a file path or a one-key mapping "
                "`ID: {x, y, template, title, x_label, y_label}`"
            )
        if not isinstance(name, str) or not name.strip():
            raise PlotError(f"{where}: a plot's id must be a file path or a name")
        where = f"{pipeline_file}, plot {name}"
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise PlotError(f"{where}: its options must be a mapping of {', '.join(PROPS)}")
        defs.append(definition(name, props, base, where, pipeline_file))
    return defs


def stage_plots(stages: Iterable[Any]) -> list[PlotDef]:
    """The definitions of the stages' `plots:` outs (`stages.schema.Stage` values)."""
    defs = []
    for stage in stages:
        for out in stage.outs:
            if not out.plot:
                continue
            where = f"{stage.file}, stage {stage.name}, plot {out.path}"
            props = {k: _thawed(v) for k, v in out.plot_props if k != "header"}
            if isinstance(props.get("y"), dict) or isinstance(props.get("x"), dict):
                raise PlotError(
                    f"{where}: a stage's plot names the fields of its own file; a mapping of "
                    "files to fields belongs in the top-level `plots:`"
                )
            defs.append(definition(out.path, props, "", where, f"{stage.file}, stage {stage.name}"))
    return defs


def collect(files: Iterable[tuple[str, list[Any] | None, Iterable[Any]]]) -> list[PlotDef]:
    """Every definition of the pipeline files given as (path, top-level `plots` list or None,
    stages): the top-level ones in file order, then the stages' plots that no top-level
    definition already names (the same file defined twice is drawn once)."""
    defs: list[PlotDef] = []
    stage_defs: list[PlotDef] = []
    for path, section, stages in files:
        defs += top_level(section or [], path)
        stage_defs += stage_plots(stages)
    ids = {d.id for d in defs}
    return defs + [d for d in stage_defs if d.id not in ids]


def definition(name: str, props: dict[str, Any], base: str, where: str, source: str) -> PlotDef:
    """One plot from its id and options (paths relative to `base`, the artver.yaml's
    directory); `where` names it in messages."""
    unknown = sorted(set(props) - set(PROPS), key=str)
    if unknown:
        raise PlotError(
            f"{where}: unknown plot option {unknown[0]!r} (expected one of {', '.join(PROPS)})"
        )
    template = _text(props.get("template"), where, "template") or DEFAULT_TEMPLATE
    y, x = props.get("y"), props.get("x")
    if isinstance(y, dict):
        from_id, plot_id = False, name
        ys = [
            (_path(file, base, where), field)
            for file, fields in y.items()
            for field in _fields(fields, where, f"y of {file}")
        ]
        if not ys:
            raise PlotError(f"{where}: y names no file")
    else:
        from_id = True
        plot_id = _path(name, base, where)
        fields = [None] if y is None else _fields(y, where, "y")
        ys = [(plot_id, f) for f in fields]
    xs = _xs(x, ys, base, where)
    series = tuple(Series(f, field, *x_of) for (f, field), x_of in zip(ys, xs, strict=True))
    return PlotDef(
        id=plot_id,
        series=series,
        template=template,
        title=_text(props.get("title"), where, "title"),
        x_label=_text(props.get("x_label"), where, "x_label"),
        y_label=_text(props.get("y_label"), where, "y_label"),
        source=source,
        from_id=from_id,
    )


def _xs(
    x: Any, ys: list[tuple[str, str | None]], base: str, where: str
) -> list[tuple[str | None, str | None]]:
    """(x file, x field) for each y: DVC's rules, and one more (each y file its own x)."""
    if x is None:
        return [(None, None)] * len(ys)
    if isinstance(x, str):
        field = _field(x, where, "x")
        return [(file, field) for file, _ in ys]
    if not isinstance(x, dict) or not x:
        raise PlotError(f"{where}: x must be a field name or a mapping {{file: field}}")
    xs = {_path(f, base, where): _field(field, where, f"x of {f}") for f, field in x.items()}
    if all(file in xs for file, _ in ys):
        return [(file, xs[file]) for file, _ in ys]
    if len(xs) == 1:  # one x column for every y, joined row by row
        return [next(iter(xs.items()))] * len(ys)
    if len(xs) == len(ys):  # DVC pairs them in order
        return list(xs.items())
    raise PlotError(
        f"{where}: x names {len(xs)} files and y {len(ys)} fields: give one x, one for each y "
        "file, or one for each y field"
    )


def _fields(value: Any, where: str, what: str) -> list[str]:
    if isinstance(value, list) and value:
        return [_field(v, where, what) for v in value]
    return [_field(value, where, what)]


def _field(value: Any, where: str, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PlotError(f"{where}: {what} must be a field name or a list of field names")
    return str(value)


def _text(value: Any, where: str, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PlotError(f"{where}: {what} must be text")
    return str(value)


def _path(path: Any, base: str, where: str) -> str:
    """`path` (relative to `base`) as a repo-relative posix path, or PlotError."""
    if not isinstance(path, str) or not path.strip():
        raise PlotError(f"{where}: {path!r} is not a file path")
    if "\0" in path:
        raise PlotError(f"{where}: {path!r}: a path cannot hold a NUL character")
    if posixpath.isabs(path) or path.startswith("\\"):
        raise PlotError(f"{where}: {path}: paths must be relative to the artver.yaml")
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined == "." or joined == ".." or joined.startswith("../"):
        raise PlotError(f"{where}: {path}: outside the repository")
    if joined.split("/")[0] in (".git", ".artver"):
        raise PlotError(f"{where}: {path}: inside {joined.split('/')[0]}")
    return joined


def _thawed(value: Any) -> Any:
    """A stage out's plot option as YAML gave it (`stages.schema` keeps lists as tuples, and
    mappings as tuples of pairs)."""
    if isinstance(value, tuple):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {k: _thawed(v) for k, v in value}
        return [_thawed(v) for v in value]
    return value


# -- targets -------------------------------------------------------------------------------------
def select(defs: list[PlotDef], targets: list[str]) -> list[PlotDef]:
    """The definitions whose id or a file of which a target names (a target may name a
    directory above them); a target no definition names is plotted with the defaults, as DVC
    does (`targets` are repo-relative; all definitions when there are none)."""
    if not targets:
        return defs
    chosen: dict[int, PlotDef] = {}
    extra: dict[str, PlotDef] = {}
    for target in targets:
        norm = posixpath.normpath(target) if target else target
        found = [i for i, d in enumerate(defs) if _names(d, target) or _names(d, norm)]
        for i in found:
            chosen[i] = defs[i]
        if not found and norm not in extra:
            path = _path(norm, "", f"target {target}")
            extra[path] = PlotDef(id=path, series=(Series(path, None),))
    return [chosen[i] for i in sorted(chosen)] + list(extra.values())


def _names(plot: PlotDef, target: str) -> bool:
    inside = target.rstrip("/") + "/"
    return (
        plot.id == target
        or target in plot.files
        or plot.id.startswith(inside)
        or any(f.startswith(inside) for f in plot.files)
    )
