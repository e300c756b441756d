"""`artver destroy`: stop using artver in this repository, keeping the data.

Every pointer file, every artver.yaml and artver.lock, the .gitignore lines artver wrote for
tracked paths and stage outputs, artver's lines in the Git hooks, and `.artver/` (the cache
with it, when the cache is there) are removed. The tracked data stays in the workspace as plain
writable files: links into the cache are replaced by copies first (`unprotect`), before
anything is deleted.

Refused, with nothing changed, when a tracked path's recorded content is in the cache and
nowhere in the workspace (a missing file, or one modified since it was recorded): deleting the
cache would lose it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from artver import scm
from artver.cache.odb import CorruptObjectError, UnsafeManifestError
from artver.errors import ArtverError, PointerError
from artver.ops.remove import WouldLoseError
from artver.pointer import SUFFIX, Output
from artver.repo import Repo


@dataclass
class Tracked:
    path: Path  # a tracked file or directory in the workspace
    shown: str
    out: Output | None  # what its pointer or the lock records (None: not known)


@dataclass
class DestroyPlan:
    pointers: list[Path] = field(default_factory=list)
    pipelines: list[Path] = field(default_factory=list)  # artver.yaml and artver.lock files
    tracked: list[Tracked] = field(default_factory=list)
    cache_dir: Path = Path()
    cache_goes: bool = True  # the cache is inside .artver/ (else it is left where it is)
    objects: int = 0  # in the cache
    cache_bytes: int = 0


@dataclass
class DestroyResult:
    plan: DestroyPlan
    done: bool = False
    copied: int = 0  # workspace files that were links into the cache and became copies
    hooks: list[str] = field(default_factory=list)  # hooks artver's lines were taken out of
    changed: list[Path] = field(default_factory=list)  # for `git add`
    deleted: list[Path] = field(default_factory=list)  # for `git rm --cached`


def destroy(repo: Repo, cwd: Path, confirm: Callable[[DestroyPlan], bool]) -> DestroyResult:
    """`confirm(plan)` is asked once everything is checked; False changes nothing."""
    from artver.ops.unprotect import unprotect_path

    with repo.lock("artver destroy"):
        plan = _plan(repo, cwd)
        lost = _only_in_cache(repo, plan)
        if lost:
            raise WouldLoseError(
                "destroy would delete the cache, the only place that holds the recorded content of",
                lost,
                "Run `artver checkout` to put it back in the workspace (or `artver commit` to "
                "record what is there now), then run `artver destroy` again.",
            )
        result = DestroyResult(plan)
        if not confirm(plan):
            return result
        for item in plan.tracked:
            result.copied += unprotect_path(
                repo, item.path, item.shown, item.path, item.out
            ).replaced
        result.hooks, touched = _remove_hooks(repo)
        for item in plan.tracked:
            gitignore = scm.remove_ignored(item.path)
            if gitignore is not None:
                touched.append(gitignore)
        for path in [*plan.pointers, *plan.pipelines]:
            path.unlink()
            touched.append(path)
        touched += [
            p for p in (repo.artver_dir / n for n in (".gitignore", "config.yaml")) if p.exists()
        ]
    repo.close()
    shutil.rmtree(repo.artver_dir)
    result.done = True
    for path in dict.fromkeys(touched):
        (result.changed if path.exists() else result.deleted).append(path)
    return result


def _plan(repo: Repo, cwd: Path) -> DestroyPlan:
    from artver.ops.targets import stage_targets
    from artver.stages.lock import lock_path_for

    plan = DestroyPlan(cache_dir=repo.cache_dir)
    plan.cache_goes = scm.is_inside(
        Path(os.path.realpath(repo.cache_dir)), repo.artver_dir.resolve()
    )
    plan.pointers = sorted(repo.iter_pointer_files())
    for file in plan.pointers:
        data = file.with_name(file.name.removesuffix(SUFFIX))
        try:
            out: Output | None = repo.load_pointer(file).out
            data = file.parent / out.path
        except PointerError:  # broken: the data it names is kept as it is
            out = None
        plan.tracked.append(Tracked(data, repo.display(data, cwd), out))
    for file in repo.pipeline_files():
        plan.pipelines.append(file)
        lock = repo.root / lock_path_for(repo.rel(file))
        if lock.exists():
            plan.pipelines.append(lock)
    if plan.pipelines:
        from artver.ops.pipeline import load

        recorded = {t.path: t.out for t in stage_targets(repo, cwd)}
        for stage in load(repo).pipeline.stages.values():
            for o in stage.cached_outs:
                path = repo.root / o.path
                plan.tracked.append(Tracked(path, repo.display(path, cwd), recorded.get(path)))
    plan.objects, plan.cache_bytes = _cache_size(repo.cache_dir) if plan.cache_goes else (0, 0)
    return plan


def _cache_size(cache: Path) -> tuple[int, int]:
    objects = size = 0
    try:
        subdirs = [e for e in os.scandir(cache) if e.is_dir() and len(e.name) == 2]
    except FileNotFoundError:
        return 0, 0
    for sub in subdirs:
        for entry in os.scandir(sub.path):
            if entry.is_file(follow_symlinks=False):
                objects += 1
                size += entry.stat(follow_symlinks=False).st_size
    return objects, size


def _only_in_cache(repo: Repo, plan: DestroyPlan) -> list[str]:
    """Tracked files whose recorded content is in the cache but nowhere in the workspace."""
    from artver.ops.snapshot import take

    odb = repo.odb
    recorded: list[tuple[Tracked, dict[str, str]]] = []
    present: set[str] = set()
    for item in plan.tracked:
        snapshot = take(repo, item.path, item.shown)
        current = dict(snapshot.oids) if snapshot.kind != "missing" else {}
        present.update(current.values())
        recorded.append((item, current))
    lost = []
    for item, current in recorded:
        for rel, oid in _recorded_oids(repo, item.out).items():
            if current.get(rel) != oid and oid not in present and odb.exists(oid):
                lost.append(f"{item.shown}/{rel}" if rel else item.shown)
    return sorted(set(lost))


def _recorded_oids(repo: Repo, out: Output | None) -> dict[str, str]:
    """{path below the tracked path ("" for a file): oid} as recorded; {} when not known (the
    directory's manifest is not in the cache: then nor is anything to lose by deleting it)."""
    if out is None:
        return {}
    if not out.is_dir:
        return {"": out.oid}
    try:
        manifest = repo.odb.read_manifest(out.oid)
    except (FileNotFoundError, CorruptObjectError, UnsafeManifestError):
        return {}
    return {entry.path: entry.oid for entry in manifest.entries}


def _remove_hooks(repo: Repo) -> tuple[list[str], list[Path]]:
    """Take artver's lines out of the Git hooks (`artver install --uninstall`), if it can:
    (the hooks changed, those of them that are in the work tree, for Git)."""
    from artver.ops.hooks import uninstall

    try:
        result = uninstall(repo.root)
    except ArtverError:  # no Git, or hooks artver cannot edit: they stay as they are
        return [], []
    changed = [c for c in result.changes if c.action != "absent"]
    return [c.name for c in changed], [c.path for c in changed] if result.in_work_tree else []
