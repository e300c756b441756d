"""`artver remove`: stop tracking paths (their pointer files) or stages (their definitions in
artver.yaml and their lock entries), with the .gitignore lines artver wrote for them. The data
stays in the workspace; `outs` deletes it too, but only what the cache holds every byte of.

Every target is resolved and checked before anything is changed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from artver import scm
from artver.errors import ArtverError, PathError, PointerError
from artver.ops.pipeline_edit import GENERATED, Definition, definitions, edit, find
from artver.pointer import SUFFIX, is_pointer_file, pointer_path_for
from artver.repo import Repo

MAX_SHOWN = 20


class WouldLoseError(ArtverError):
    """Deleting these workspace files would lose content that exists nowhere else."""

    def __init__(self, what: str, paths: list[str], hint: str) -> None:
        shown = [f"  {p}" for p in paths[:MAX_SHOWN]]
        if len(paths) > MAX_SHOWN:
            shown.append(f"  ... and {len(paths) - MAX_SHOWN} more")
        super().__init__(f"{what}:\n" + "\n".join(shown), hint=hint)
        self.paths = paths


@dataclass
class Removal:
    kind: str  # "pointer" or "stage"
    name: str  # the pointer file as shown, or the stage's name
    file: str = ""  # a stage's artver.yaml, repo-relative
    deleted_data: list[str] = field(default_factory=list)  # workspace paths `outs` deleted
    kept_data: list[str] = field(default_factory=list)  # `outs`: outputs kept (cache: false)


@dataclass
class RemoveResult:
    removals: list[Removal] = field(default_factory=list)
    changed: list[Path] = field(default_factory=list)  # files left changed: `git add` them
    deleted: list[Path] = field(default_factory=list)  # files deleted: `git rm --cached` them


@dataclass
class _Plan:
    removal: Removal
    pointer_file: Path | None = None
    definition: Definition | None = None
    unignore: list[Path] = field(default_factory=list)  # data paths whose .gitignore line goes
    data: list[tuple[Path, str]] = field(default_factory=list)  # what `outs` deletes, shown


def remove(repo: Repo, targets: list[str], cwd: Path, outs: bool = False) -> RemoveResult:
    with repo.lock("artver remove"):
        defs: dict[str, Definition] | None = None
        plans: list[_Plan] = []
        seen: set[tuple[str, str]] = set()
        for target in targets:
            plan = _pointer_plan(repo, target, cwd, outs)
            if plan is None:
                if defs is None:
                    defs = definitions(repo)
                plan = _stage_plan(repo, defs, target, cwd)
            key = (plan.removal.kind, plan.removal.name)
            if key not in seen:
                seen.add(key)
                plans.append(plan)
        if outs:
            lost = [
                unsaved
                for plan in plans
                for path, shown in plan.data
                for unsaved in _unsaved(repo, path, shown)
            ]
            if lost:
                raise WouldLoseError(
                    "--outs would delete files whose content is not in the cache; it would be lost",
                    lost,
                    "Run `artver commit` (or `artver add`) to record them first, or remove "
                    "without --outs to keep the data.",
                )
        touched: list[Path] = []
        for plan in plans:
            touched += _apply(repo, plan, outs)
    result = RemoveResult([plan.removal for plan in plans])
    for path in dict.fromkeys(touched):
        (result.changed if os.path.lexists(path) else result.deleted).append(path)
    return result


def _pointer_plan(repo: Repo, target: str, cwd: Path, outs: bool) -> _Plan | None:
    path = Path(os.path.abspath(cwd / target))
    repo.check_inside(path, target)
    pointer_file = path if is_pointer_file(path) else pointer_path_for(path)
    if not pointer_file.is_file():
        return None
    try:
        data = repo.load_pointer(pointer_file).data_path()
    except PointerError:
        if outs:  # which data it names is unknown: nothing is deleted on a guess
            raise
        data = pointer_file.with_name(pointer_file.name.removesuffix(SUFFIX))
    removal = Removal("pointer", repo.display(pointer_file, cwd))
    return _Plan(removal, pointer_file, None, [data], [(data, repo.display(data, cwd))])


def _stage_plan(repo: Repo, defs: dict[str, Definition], target: str, cwd: Path) -> _Plan:
    if target not in defs and target.split(GENERATED, 1)[0] not in defs:
        _not_tracked(repo, defs, target, cwd)
    definition = find(defs, target, "remove")
    from artver.stages.lock import read_lock

    read_lock(repo.root, definition.file)  # a damaged lock stops the command before any change
    removal = Removal("stage", definition.name, definition.file)
    plan = _Plan(removal, None, definition)
    for stage in definition.stages:
        for out in stage.outs:
            path = repo.root / out.path
            if not out.cache:  # kept in Git, never in .gitignore: `outs` leaves it alone
                removal.kept_data.append(repo.display(path, cwd))
            elif path not in plan.unignore:
                plan.unignore.append(path)
                plan.data.append((path, repo.display(path, cwd)))
    return plan


def _not_tracked(repo: Repo, defs: dict[str, Definition], target: str, cwd: Path) -> None:
    """Raise the error that says best why `target` names nothing `remove` can stop tracking."""
    from artver.ops.add import tracking_ancestor

    path = Path(os.path.abspath(cwd / target))
    rel = repo.rel(path)
    for definition in defs.values():
        for stage in definition.stages:
            for out in stage.outs:
                if rel == out.path or rel.startswith(out.path + "/"):
                    what = "an output" if rel == out.path else f"inside {out.path}, an output"
                    raise PathError(
                        target,
                        f"is {what} of stage {stage.name} (in {stage.file}), not tracked by a "
                        "pointer file",
                        hint=f"`artver remove {definition.name}` stops tracking the stage; or "
                        f"edit its outs in {stage.file}.",
                    )
    ancestor = tracking_ancestor(repo, path)
    if ancestor is not None:
        owner = repo.display(ancestor, cwd)
        raise PathError(
            target,
            f"is inside {repo.rel(ancestor)}, which {repo.rel(ancestor)}{SUFFIX} tracks as a whole",
            hint=f"`artver remove {owner}` stops tracking all of it.",
        )
    raise PathError(target, "not tracked by artver (no pointer file, and no stage of that name)")


def _unsaved(repo: Repo, path: Path, shown: str) -> list[str]:
    """The files at `path` whose content the cache does not hold (shown), for `--outs`."""
    from artver.ops.snapshot import take

    snapshot = take(repo, path, shown)
    if snapshot.kind == "missing":
        return []
    odb = repo.odb
    return [
        f"{shown}/{rel}" if rel else shown
        for rel, oid in sorted(snapshot.oids.items())
        if not odb.exists(oid)
    ]


def delete_data(path: Path) -> bool:
    """Delete a tracked file or directory from the workspace; False when nothing was there."""
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    else:
        return False
    return True


def _apply(repo: Repo, plan: _Plan, outs: bool) -> list[Path]:
    """Carry out one removal; returns the files it changed or deleted (for Git)."""
    touched: list[Path] = []
    if outs:
        for path, shown in plan.data:
            if delete_data(path):
                plan.removal.deleted_data.append(shown)
    if plan.definition is not None:
        touched += _drop_stage(repo, plan.definition)
    for path in plan.unignore:
        gitignore = scm.remove_ignored(path)
        if gitignore is not None:
            touched.append(gitignore)
    if plan.pointer_file is not None:
        plan.pointer_file.unlink()
        touched.append(plan.pointer_file)
    return touched


def _drop_stage(repo: Repo, definition: Definition) -> list[Path]:
    """Take the definition out of its artver.yaml and its stages out of the lock beside it."""
    from artver.stages.lock import lock_path_for, read_lock, write_lock

    file = definition.file
    gone = edit(repo, file, lambda stages: stages.pop(definition.name))
    touched = [repo.root / file]
    lock = repo.root / lock_path_for(file)
    entries = read_lock(repo.root, file)
    names = {stage.name for stage in definition.stages}
    if gone and lock.exists():  # no pipeline beside it: the lock means nothing any more
        lock.unlink()
        touched.append(lock)
    elif names & set(entries):
        kept = {name: entry for name, entry in entries.items() if name not in names}
        if kept:
            write_lock(repo.root, file, kept)
        else:
            lock.unlink()
        touched.append(lock)
    return touched
