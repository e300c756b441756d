"""`artver metrics show` and `artver params diff` (the workspace against the lock)."""

from __future__ import annotations

import posixpath
from typing import Any

from artver.errors import ArtverError
from artver.ops.pipeline import Observer, load
from artver.ops.rev_source import Source
from artver.repo import Repo
from artver.stages.params import ParamsError, flatten, load_params_file, selected


def metrics_show(repo: Repo) -> list[dict[str, Any]]:
    """Every numeric (or text) value in the metrics files of all stages."""
    loaded = load(repo)
    rows = []
    for name in loaded.pipeline.order():
        stage = loaded.pipeline.stages[name]
        for out in stage.outs:
            if not out.metric:
                continue
            try:
                data = load_params_file(repo.root, out.path, kind="metrics")
            except ParamsError as exc:
                rows.append({"stage": name, "path": out.path, "key": None, "error": exc.message})
                continue
            for key, value in flatten(data, "").items():
                rows.append({"stage": name, "path": out.path, "key": key, "value": value})
    return rows


def params_diff(repo: Repo, show_all: bool = False) -> list[dict[str, Any]]:
    """Params each stage uses now against the values it last ran with."""
    loaded = load(repo)
    observer = Observer(repo)
    rows = []
    for name in loaded.pipeline.order():
        stage = loaded.pipeline.stages[name]
        if not stage.params:
            continue
        entry = loaded.entry(stage)
        now = observer.params(stage)
        before = entry.params if entry else {}
        base = posixpath.dirname(stage.file)
        for file in sorted(set(now) | set(before)):
            old_flat: dict[str, Any] = {}
            new_flat: dict[str, Any] = {}
            for key, value in (before.get(file) or {}).items():
                old_flat.update(flatten(value, key))
            for key, value in (now.get(file) or {}).items():
                new_flat.update(flatten(value, key))
            for key in sorted(set(old_flat) | set(new_flat)):
                old, new = old_flat.get(key), new_flat.get(key)
                if old != new or show_all:
                    rows.append(
                        {
                            "stage": name,
                            "file": posixpath.join(base, file) if base else file,
                            "key": key,
                            "old": old,
                            "new": new,
                        }
                    )
    if not loaded.pipeline.stages:
        raise ArtverError("there is no pipeline here (no artver.yaml)")
    return rows


# -- across revisions ------------------------------------------------------------------------------
def _sources(repo: Repo, a: str | None, b: str | None) -> tuple[Any, Source, Source]:
    from artver.ops.rev_source import sources

    return sources(repo, a, b)


def metric_values(source: Source) -> dict[tuple[str, str], Any]:
    values: dict[tuple[str, str], Any] = {}
    for stage in source.stages():
        for out in stage.outs:
            if not out.metric:
                continue
            data = source.parsed(out.path, "metrics")
            for key, value in flatten(data or {}, "").items():
                values[(out.path, key)] = value
    return values


def _delta(old: Any, new: Any) -> Any:
    def is_number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    return round(new - old, 12) if is_number(old) and is_number(new) else None


def metrics_diff(
    repo: Repo, a: str | None = None, b: str | None = None, show_all: bool = False
) -> tuple[str, str, list[dict[str, Any]]]:
    """Metrics at revision `a` (default HEAD) against revision `b` (default: the workspace)."""
    return _compare_sides(repo, a, b, metric_values, "path", show_all)


def _compare_sides(
    repo: Repo, a: str | None, b: str | None, values, first: str, show_all: bool
) -> tuple[str, str, list[dict[str, Any]]]:
    """Rows of {first, key, old, new, change} for the values of two sides that differ."""
    revisions, old, new = _sources(repo, a, b)
    with revisions:
        before, after = values(old), values(new)
    rows = []
    for where, key in sorted(before.keys() | after.keys()):
        o, n = before.get((where, key)), after.get((where, key))
        if o != n or show_all:
            rows.append({first: where, "key": key, "old": o, "new": n, "change": _delta(o, n)})
    return old.label, new.label, rows


def param_values(source: Source) -> dict[tuple[str, str], Any]:
    values: dict[tuple[str, str], Any] = {}
    files: dict[str, dict[str, Any] | None] = {}
    for stage in source.stages():
        for ref in stage.params:
            if ref.file not in files:
                files[ref.file] = source.parsed(ref.file, "params")
            for key, value in selected(files[ref.file] or {}, ref.key).items():
                values[(ref.file, key)] = value
    return values


def params_diff_revisions(
    repo: Repo, a: str | None = None, b: str | None = None, show_all: bool = False
) -> tuple[str, str, list[dict[str, Any]]]:
    """Params the stages use at revision `a` (default HEAD) against revision `b` (default:
    the workspace), read from the params files of each side."""
    return _compare_sides(repo, a, b, param_values, "file", show_all)
