"""The rows one chart draws: a plot's series, at each revision, flattened into one table.

As DVC's `VegaConverter` does it: every row keeps its file's columns and gains the x and y
fields the template encodes (the x and y columns' own names when the plot has one of each,
else `dvc_inferred_x_value` / `dvc_inferred_y_value`; `step`, the row's number, when the
plot names no x), `rev` (the revision), `filename` (the y file, less the directory the plot's
files share) and `field` (the y column). Besides those, `series`: the legend label, which
names what varies: the revision (`workspace`, `HEAD`, `v1`), then the file and field
(`train.json::loss`) when the plot has several y fields, or the file when it has several files
of one field. Pure.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from operator import methodcaller
from typing import Any

from artver.plots.definitions import INDEX, PlotDef, PlotError
from artver.plots.readers import Table

X_MANY = "dvc_inferred_x_value"
Y_MANY = "dvc_inferred_y_value"
SEPARATOR = "::"
_NUMBER_TYPES = {int, float, type(None)}


@dataclass(frozen=True)
class ChartData:
    rows: list[dict[str, Any]]
    x: str  # the field the x axis encodes
    y: str
    x_label: str
    y_label: str
    series: tuple[str, ...]  # the legend's labels, in order
    revs: tuple[str, ...]  # the revisions that have data for this plot
    x_numeric: bool  # every x value is a number (or null)
    y_numeric: bool


def chart_data(plot: PlotDef, sides: list[tuple[str, dict[str, Table]]]) -> ChartData:
    """The rows of `plot` from each side's tables, as (revision label, {file: Table}); a
    side lacking one of the plot's files is left out (the caller decides whether that is an
    error)."""
    resolved = []  # (rev, series, y field, x field)
    for rev, tables in sides:
        if not all(f in tables for f in plot.files):
            continue
        for s in plot.series:
            table = tables[s.file]
            x_field = INDEX if s.x_file is None else s.x_field
            if s.x_file is not None:
                _check(plot, rev, s.x_file, tables[s.x_file], s.x_field)
            if s.field is None:
                y_field = _inferred_y(table, x_field if s.x_file == s.file else None)
            else:
                _check(plot, rev, s.file, table, s.field)
                y_field = s.field
            resolved.append((rev, s, y_field, x_field))
    revs = tuple(dict.fromkeys(r for r, *_ in resolved))
    y_fields = {y for *_, y, _ in resolved if y is not None}
    x_fields = {x for *_, x in resolved}
    x_name = next(iter(x_fields)) if len(x_fields) == 1 else (X_MANY if x_fields else INDEX)
    y_name = next(iter(y_fields)) if len(y_fields) == 1 else Y_MANY
    files = list(dict.fromkeys(s.file for _, s, _, _ in resolved))
    common = posixpath.commonpath(files) if len(files) > 1 else ""

    def short(path: str) -> str:
        return path[len(common) :].strip("/") if common else path

    def label(rev: str, file: str, field: str | None) -> str:
        parts = [rev] if len(revs) > 1 else []
        if len(y_fields) > 1:
            parts += [short(file), field or ""]
        elif len(files) > 1:
            parts.append(short(file))
        return SEPARATOR.join(parts) or rev

    rows: list[dict[str, Any]] = []
    labels: dict[str, None] = {}
    sides_by_rev = dict(sides)
    for rev, s, y_field, x_field in resolved:
        tables = sides_by_rev[rev]
        name = label(rev, s.file, y_field)
        labels[name] = None
        source = tables[s.file].rows
        xs = None
        if s.x_file is not None and s.x_file != s.file:
            xs = [r.get(x_field) for r in tables[s.x_file].rows]
            if len(xs) != len(source):
                raise PlotError(
                    f"plot {plot.id} ({rev}): cannot join x column {x_field!r} of {s.x_file} "
                    f"({len(xs)} rows) with y column {y_field!r} of {s.file} ({len(source)} "
                    "rows): they need as many rows"
                )
        extra = {"rev": rev, "filename": short(s.file), "field": y_field, "series": name}
        for i, record in enumerate(source):
            row = {**record}
            if y_name == Y_MANY:
                row[Y_MANY] = record.get(y_field) if y_field is not None else None
            if s.x_file is None:
                row[INDEX] = i
            elif xs is not None:
                row[x_name] = xs[i]
            elif x_name == X_MANY:
                row[X_MANY] = record.get(x_field)
            row.update(extra)
            rows.append(row)
    return ChartData(
        rows=rows,
        x=x_name,
        y=y_name,
        x_label=plot.x_label or (x_name if x_name != X_MANY else "x"),
        y_label=plot.y_label or (y_name if y_name != Y_MANY else "y"),
        series=tuple(labels),
        revs=revs,
        x_numeric=_numeric(rows, x_name),
        y_numeric=_numeric(rows, y_name),
    )


def _inferred_y(table: Table, x_field: str | None) -> str | None:
    """DVC's y when a plot names none: the file's last column (here: that is not its x)."""
    for column in reversed(table.columns):
        if column != x_field:
            return column
    return None


def _check(plot: PlotDef, rev: str, file: str, table: Table, field: str | None) -> None:
    if field is None or not table.columns or field in table.columns:
        return
    raise PlotError(
        f"plot {plot.id}: {file} ({rev}) has no column {field!r}; its columns are "
        + ", ".join(table.columns)
    )


def _numeric(rows: list[dict[str, Any]], field: str) -> bool:
    """Whether every value of `field` is a number or null (bools are not numbers here)."""
    return set(map(type, map(methodcaller("get", field), rows))) <= _NUMBER_TYPES
