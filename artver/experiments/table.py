"""`exp show` as pure functions: rows of values into columns, sorted, trimmed, formatted.

A row is a baseline commit or an experiment on top of it; its values are keyed by
(kind, file, key), kind being "params" or "metrics". Reading them from Git is
`artver.experiments.show`'s job.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, NamedTuple

from artver.errors import UsageError

PARAMS, METRICS = "params", "metrics"
Key = tuple[str, str, str]  # (kind, file, key)


class Row(NamedTuple):
    name: str  # the experiment's name, or the baseline's label (HEAD, a branch, a short SHA)
    rev: str  # the commit, in full
    baseline: str  # the baseline commit; equal to rev for a baseline row
    status: str  # "baseline", "success", "failed", "queued"
    created: int
    values: dict[Key, Any]
    env: tuple[str, ...] = ()  # how its recorded environment differs from the baseline's
    order: int = 0  # when it was queued (ns): breaks ties of `created` (whole seconds)


def columns(rows: list[Row], only_changed: bool = False) -> list[Key]:
    """Metrics first, then params, each in file then key order; with `only_changed`, only
    those whose value is not the same in every row that has them."""
    keys = sorted({k for r in rows for k in r.values}, key=lambda k: (k[0] != METRICS, k[1], k[2]))
    if only_changed:
        keys = [k for k in keys if len({_same(r.values.get(k)) for r in rows}) > 1]
    return keys


def _same(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def header(key: Key, keys: list[Key]) -> str:
    """A column's name: its key, with its file when another file has the same key."""
    _kind, file, name = key
    clash = any(k[2] == name and k != key for k in keys)
    return f"{file}:{name}" if clash else name


def sort_rows(rows: list[Row], by: str | None, descending: bool = False) -> list[Row]:
    """Baselines stay where they are; the experiments under each are sorted by the column
    `by` (a key, or FILE:KEY), newest first when no column is given. Rows without the value
    go last."""
    if by is None:
        return _group(rows, lambda exps: sorted(exps, key=lambda r: (-r.created, -r.order)))
    keys = {k for r in rows for k in r.values}
    file, _, name = by.rpartition(":")
    matching = [k for k in keys if k[2] == name and (not file or k[1] == file)]
    if not matching:
        known = sorted({f"{k[1]}:{k[2]}" for k in keys})
        raise UsageError(
            f"--sort-by {by}: no experiment has that param or metric"
            + (f" (known: {', '.join(known[:12])})" if known else "")
        )
    if len({k[1] for k in matching}) > 1:
        files = ", ".join(sorted({f"{k[1]}:{name}" for k in matching}))
        raise UsageError(f"--sort-by {by} is in several files: name one ({files})")
    key = matching[0]

    def order(exps: list[Row]) -> list[Row]:
        have = [r for r in exps if _sortable(r.values.get(key))]
        rest = [r for r in exps if not _sortable(r.values.get(key))]
        have.sort(key=lambda r: _sort_value(r.values[key]), reverse=descending)
        return have + rest

    return _group(rows, order)


def _sortable(value: Any) -> bool:
    return value is not None and not isinstance(value, dict | list)


def _sort_value(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def _group(rows: list[Row], order) -> list[Row]:
    out: list[Row] = []
    exps: list[Row] = []
    for row in rows:
        if row.status == "baseline":
            out += order(exps)
            exps = []
            out.append(row)
        else:
            exps.append(row)
    return out + order(exps)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def text_rows(rows: list[Row], keys: list[Key]) -> tuple[list[str], list[list[str]]]:
    """(column names, cells) for a table: experiment, rev, created, state, values, env."""
    names = ["Experiment", "rev", "State", *(header(k, keys) for k in keys), "env"]
    out = []
    for row in rows:
        label = row.name if row.status == "baseline" else f"├── {row.name}"
        state = "" if row.status in ("baseline", "success") else row.status
        out.append(
            [
                label,
                row.rev[:7],
                state,
                *(cell(row.values.get(k)) for k in keys),
                "; ".join(row.env) if row.env else "-",
            ]
        )
    return names, out


def to_json(rows: list[Row]) -> list[dict[str, Any]]:
    def nested(row: Row, kind: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for (k, file, key), value in sorted(row.values.items()):
            if k == kind:
                found.setdefault(file, {})[key] = value
        return found

    return [
        {
            "name": row.name,
            "rev": row.rev,
            "baseline": row.baseline,
            "kind": "baseline" if row.status == "baseline" else "experiment",
            "status": None if row.status == "baseline" else row.status,
            "created": row.created,
            "params": nested(row, PARAMS),
            "metrics": nested(row, METRICS),
            "env": list(row.env),
        }
        for row in rows
    ]


def to_csv(rows: list[Row], keys: list[Key]) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(
        ["Experiment", "rev", "baseline", "State", "Created", *(header(k, keys) for k in keys)]
    )
    for row in rows:
        writer.writerow(
            [
                row.name,
                row.rev,
                row.baseline,
                row.status,
                row.created,
                *("" if row.values.get(k) is None else cell(row.values.get(k)) for k in keys),
            ]
        )
    return stream.getvalue()


def to_markdown(rows: list[Row], keys: list[Key]) -> str:
    names, cells = text_rows(rows, keys)

    def line(items: list[str]) -> str:
        return "| " + " | ".join(i.replace("|", "\\|") for i in items) + " |"

    lines = [line(names), line(["---"] * len(names))]
    lines += [line(c) for c in cells]
    return "\n".join(lines) + "\n"
