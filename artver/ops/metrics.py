"""`artver metrics show` and `artver params diff` (the workspace against the lock)."""

from __future__ import annotations

import posixpath
from typing import Any

from artver.errors import ArtverError
from artver.ops.pipeline import Observer, load
from artver.repo import Repo
from artver.stages.params import ParamsError, flatten, load_params_file


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
