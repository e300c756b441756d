"""What the user's targets name: pointer-tracked data and stage outputs recorded in the lock."""

from __future__ import annotations

import os
import posixpath
from collections import namedtuple
from pathlib import Path

from artver.errors import PathError
from artver.pointer import SUFFIX, Output
from artver.repo import Repo

# A path (Path) and the version of it that should be in the workspace (out: Output), as shown
# to the user; ignore: add it to .gitignore (cached data is never committed to Git).
Target = namedtuple("Target", "path out shown ignore", defaults=(True,))


def pointer_targets(repo: Repo, targets: list[str], cwd: Path) -> list[Target]:
    return [
        Target(p.data_path(), p.out, repo.display(p.data_path(), cwd))
        for p in repo.pointers(targets, cwd)
    ]


def stage_targets(repo: Repo, cwd: Path, names: list[str] | None = None) -> list[Target]:
    """Cached outputs of stages as their lock entries record them."""
    if not repo.pipeline_files():
        return []
    from artver.ops.pipeline import load, select

    loaded = load(repo)
    chosen = select(loaded, names) if names else list(loaded.pipeline.stages)
    found = []
    for name in chosen:
        stage = loaded.pipeline.stages[name]
        entry = loaded.entry(stage)
        if entry is None:
            continue
        base = posixpath.dirname(stage.file)
        for rec in entry.outs:
            if rec.oid is None or not rec.cache:
                continue
            path = repo.root / (posixpath.join(base, rec.path) if base else rec.path)
            out = Output(path.name, rec.oid, rec.size, rec.nfiles)
            found.append(Target(path, out, repo.display(path, cwd)))
    return found


def resolve(repo: Repo, targets: list[str], cwd: Path) -> list[Target]:
    """Targets for checkout: everything by default; else pointers, stage names or outputs."""
    if not targets:
        return pointer_targets(repo, [], cwd) + stage_targets(repo, cwd)
    found: list[Target] = []
    outs = {str(t.path): t for t in stage_targets(repo, cwd)} if repo.pipeline_files() else {}
    for target in targets:
        path = Path(os.path.abspath(cwd / target))
        pointer_file = path if target.endswith(SUFFIX) else path.with_name(path.name + SUFFIX)
        if pointer_file.is_file():
            found += pointer_targets(repo, [target], cwd)
        elif str(path) in outs:
            found.append(outs[str(path)])
        elif repo.pipeline_files() and _is_stage(repo, target):
            found += stage_targets(repo, cwd, [target])
        else:
            raise PathError(target, "not tracked by artver (no pointer file, stage or output)")
    return found


def _is_stage(repo: Repo, name: str) -> bool:
    from artver.ops.pipeline import load

    stages = load(repo).pipeline.stages
    return name in stages or any(s.startswith(name + "@") for s in stages)


def targets_at(repo: Repo, rev: str, targets: list[str], cwd: Path) -> list[Target]:
    """Cached data as the pointers and locks of Git revision `rev` record it (all of it, or the
    named paths). The workspace's .gitignore files are left as they are."""
    from artver.ops.revisions import Revisions

    with Revisions(repo) as revisions:
        tracked = revisions.tracked_at(revisions.commit(rev))
    wanted: dict[str, str] = {}
    for target in targets:
        path = Path(os.path.abspath(cwd / target))
        repo.check_inside(path, target)
        wanted[repo.rel(path).removesuffix(SUFFIX)] = target
    found = []
    for rel, item in sorted(tracked.items()):
        if not item.cached or (wanted and rel not in wanted):
            continue
        wanted.pop(rel, None)
        path = repo.root / rel
        out = Output(path.name, item.oid, item.size or 0, item.nfiles)
        found.append(Target(path, out, repo.display(path, cwd), ignore=False))
    if wanted:
        target = next(iter(wanted.values()))
        raise PathError(target, f"not tracked by artver at revision {rev}")
    return found
