"""Carry out a conversion plan: write artver's files, through artver's own machinery.

Data in the workspace goes through `artver add` (`ops.add.add`: its checks, its cache and
link type, its pointer and .gitignore line); data only DVC's cache holds goes through
`fromcache` and `ops.add.record`. A stage's lock entry is written by `ops.repro.record_stage`,
as `artver commit` writes one, so that it is exactly what a run of artver would record.

Each item that fails is marked so with its message and the rest goes on. Nothing of DVC's is
written to.
"""

from __future__ import annotations

import os
from pathlib import Path

from artver.dvcimport import mapping
from artver.dvcimport.plan import DataItem, Plan
from artver.errors import ArtverError
from artver.fsutil import atomic_write_text
from artver.ops.pipeline import Observer
from artver.pointer import Output
from artver.repo import Repo


def apply(plan: Plan) -> None:
    root = plan.root
    before = _gitignores(plan)
    known: dict[str, Output] = {}  # outputs taken from DVC's cache for paths the workspace lacks
    if plan.init:
        Repo.init(root, no_git=plan.no_git)
        plan.changed.update({".artver/config.yaml", ".artver/.gitignore"})
    repo = Repo.find(root)
    try:
        for _, dst, text in plan.ignores:  # first: the adds below list directories with them
            _write(plan, dst, text)
        _configure(plan, repo)
        for item in plan.pipelines:
            _write(plan, item.artver_yaml, item.text)
        for data in plan.data:
            if data.source == mapping.WORKSPACE and data.status == "convert":
                _add(plan, repo, data)
        with repo.lock("artver import-dvc"):
            for data in plan.data:
                if data.source == mapping.DVC_CACHE and data.status == "convert":
                    _from_cache(plan, repo, data, known)
    finally:
        repo.close()
    if any(s.status == "lock" for p in plan.pipelines for s in p.stages):
        _lock_stages(plan, known)
    plan.changed.update(rel for rel, text in before.items() if _text(root / rel) != text)
    plan.applied = True


def _write(plan: Plan, rel: str, text: str) -> None:
    path = plan.root / rel
    if _text(path) != text:
        atomic_write_text(path, text)
        plan.changed.add(rel)


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _gitignores(plan: Plan) -> dict[str, str | None]:
    """The .gitignore files an add or a lock entry may add a line to, with their text now."""
    import posixpath

    paths = [d.path for d in plan.data] + [
        out for p in plan.pipelines for s in p.stages for out in s.sources
    ]
    rels = {posixpath.join(posixpath.dirname(p), ".gitignore") for p in paths}
    return {rel: _text(plan.root / rel) for rel in rels}


def _configure(plan: Plan, repo: Repo) -> None:
    from artver.errors import ConfigError

    for setting in plan.settings:
        try:
            repo.set_config(setting.level, setting.key, setting.value)
        except ConfigError as exc:
            plan.skipped_config.append(f"{setting.key}: {exc.message}")
            continue
        if setting.level == "repo":
            plan.changed.add(".artver/config.yaml")


def _add(plan: Plan, repo: Repo, data: DataItem) -> None:
    from artver import pointer as pointers
    from artver.ops.add import add

    try:
        result = add(repo, [str(plan.root / data.path)], plan.root)[0]
        if data.out.extra:  # a `.dvc` file's desc: into the pointer's output
            pointer = result.pointer
            pointer.out.extra = {**data.out.extra, **pointer.out.extra}
            pointers.save(pointer)
    except ArtverError as exc:
        data.status, data.note = "failed", exc.message
        return
    data.status = "converted"
    plan.changed.add(data.pointer)


def _from_cache(plan: Plan, repo: Repo, data: DataItem, known: dict[str, Output]) -> None:
    from artver.dvcimport.fromcache import output_from_cache
    from artver.ops.add import record

    path = plan.root / data.path
    assert plan.cache is not None
    try:
        out = output_from_cache(plan.cache, data.out, path.name, repo.odb, repo.config.jobs)
        if out.is_dir:
            repo.state.mark_complete(out.oid)  # every object of it is in the cache now
        record(repo, path, out)
    except ArtverError as exc:
        data.status, data.note = "failed", exc.message
        return
    if not os.path.lexists(path):
        known[data.path] = out
    data.status = "converted"
    plan.changed.add(data.pointer)


def _lock_stages(plan: Plan, known: dict[str, Output]) -> None:
    """Lock entries for the stages whose DVC lock entry still holds, as `artver commit`
    writes them (no run-cache entry: artver did not run them), upstream stages first."""
    from artver.ops.pipeline import load

    repo = Repo.find(plan.root)  # a fresh one: it finds the pointers written meanwhile
    try:
        with repo.lock("artver import-dvc"):
            loaded = load(repo)
            observer = _Observer(repo, known)
            items = {s.name: (p, s) for p in plan.pipelines for s in p.stages}
            for name in loaded.pipeline.order():
                if name not in items or items[name][1].status != "lock":
                    continue
                item, stage_item = items[name]
                stage = loaded.pipeline.stages[name]
                if loaded.entry(stage) is not None:
                    stage_item.status = "already locked"
                    continue
                _lock_stage(plan, repo, loaded, observer, stage, stage_item)
                if stage_item.status == "locked":
                    plan.changed.add(item.artver_lock)
            for _, stage_item in items.values():
                if stage_item.status == "lock":  # not a stage of artver.yaml after all
                    stage_item.status, stage_item.reasons = "failed", ["not in artver.yaml"]
    finally:
        repo.close()


class _Observer(Observer):
    """An observer that knows what the outputs taken from DVC's cache hold where the
    workspace lacks them, as a lock made before a checkout knows them."""

    def __init__(self, repo: Repo, known: dict[str, Output]) -> None:
        super().__init__(repo)
        self.known = known

    def output(self, path: str, expect: str | None = None) -> Output | None:
        if path in self.known:
            return self.known[path]
        return super().output(path, expect)


def _lock_stage(plan: Plan, repo: Repo, loaded, observer, stage, stage_item) -> None:
    from artver.ops.repro import record_stage

    try:
        observed = observer.observe(stage, None)
        outs = None  # all in the workspace: record_stage caches them, as `artver commit` does
        if any(src == mapping.DVC_CACHE for src in stage_item.sources.values()):
            outs = [_recorded(plan, repo, observer, stage, o, stage_item) for o in stage.outs]
        record_stage(repo, loaded, observer, stage, observed, outs=outs, run_cache=False)
    except ArtverError as exc:
        stage_item.status, stage_item.reasons = "failed", [exc.message]
        return
    stage_item.status = "locked"


def _recorded(plan: Plan, repo: Repo, observer, stage, out, stage_item):
    """An out's lock record, as `record_stage` makes it, its bytes taken from where the plan
    says (the workspace, or DVC's cache)."""
    from artver import scm
    from artver.dvcimport.fromcache import output_from_cache
    from artver.ops.add import cache_path
    from artver.ops.pipeline import relative_to_file
    from artver.stages.lock import Recorded

    path = repo.root / out.path
    rel = relative_to_file(stage, out.path)
    if not out.cache:
        return observer.recorded(stage, out.path, cache=False)
    if stage_item.sources.get(out.path) == mapping.DVC_CACHE:
        assert plan.cache is not None
        recorded = stage_item.records[out.path]
        found = output_from_cache(plan.cache, recorded, path.name, repo.odb, repo.config.jobs)
        if found.is_dir:
            repo.state.mark_complete(found.oid)
        if not os.path.lexists(path):
            observer.known[out.path] = found
    else:
        found = cache_path(repo, path, out.path)
        observer.forget(out.path)
    scm.ensure_ignored(path)
    return Recorded(rel, found.oid, found.size, found.nfiles, True)
