"""`artver move SRC DST`: move pointer-tracked data, rename its pointer file (`SRC.artver` ->
`DST.artver`, with the path inside it) and move its .gitignore line to DST's directory, as
`artver add DST` would have written it. Everything is checked before anything moves."""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from artver import pointer as pointers
from artver import scm
from artver.errors import PathError
from artver.ops.pipeline_edit import Definition, definitions
from artver.pointer import SUFFIX, Output, Pointer, is_pointer_file, pointer_path_for
from artver.repo import Repo
from artver.state import Known


@dataclass
class MoveResult:
    src: str  # the data as shown
    dst: str
    moved_data: bool  # False: the data was not in the workspace (only the pointer moved)
    changed: list[Path] = field(default_factory=list)  # for `git add`
    deleted: list[Path] = field(default_factory=list)  # for `git rm --cached`
    dependents: list[str] = field(default_factory=list)  # stages whose deps still name SRC


def move(repo: Repo, src: str, dst: str, cwd: Path) -> MoveResult:
    with repo.lock("artver move"):
        defs = definitions(repo)
        pointer = _source(repo, defs, src, cwd)
        data = pointer.data_path()
        target = _destination(repo, defs, data, dst, cwd)
        moved = os.path.lexists(data)
        if moved:
            _move_data(repo, data, target)
        new = Pointer(pointer_path_for(target), [_renamed(pointer.out, target.name)], pointer.extra)
        pointers.save(new)
        pointer.file.unlink()
        old_ignore = scm.remove_ignored(data)
        new_ignore = scm.ensure_ignored(target)
    result = MoveResult(repo.display(data, cwd), repo.display(target, cwd), moved)
    for path in dict.fromkeys(p for p in (pointer.file, new.file, old_ignore, new_ignore) if p):
        (result.changed if path.exists() else result.deleted).append(path)
    rel = repo.rel(data)
    result.dependents = sorted(
        stage.name
        for definition in defs.values()
        for stage in definition.stages
        if any(dep == rel or dep.startswith(rel + "/") for dep in stage.deps)
    )
    return result


def _renamed(out: Output, name: str) -> Output:
    return Output(name, out.oid, out.size, out.nfiles, out.hash, dict(out.extra))


def _stage_output(defs: dict[str, Definition], rel: str) -> tuple[str, str, str] | None:
    """(stage, its file, how `rel` relates to its output) when `rel` is, is inside or holds
    an output of a stage."""
    for definition in defs.values():
        for stage in definition.stages:
            for out in stage.outs:
                if rel == out.path:
                    return stage.name, stage.file, "is an output"
                if rel.startswith(out.path + "/"):
                    return stage.name, stage.file, f"is inside {out.path}, an output"
                if out.path.startswith(rel + "/"):
                    return stage.name, stage.file, f"holds {out.path}, an output"
    return None


def _source(repo: Repo, defs: dict[str, Definition], src: str, cwd: Path) -> Pointer:
    from artver.ops.add import tracking_ancestor

    path = Path(os.path.abspath(cwd / src))
    repo.check_inside(path, src)
    if path == repo.root:
        raise PathError(src, "is the repository root, which artver does not track")
    pointer_file = path if is_pointer_file(path) else pointer_path_for(path)
    data = pointer_file.with_name(pointer_file.name.removesuffix(SUFFIX))
    owner = _stage_output(defs, repo.rel(data))
    if owner is not None and not pointer_file.is_file():
        stage, file, how = owner
        raise PathError(
            src,
            f"{how} of stage {stage}; artver does not move the outputs of stages",
            hint=f"Edit the output's path in {file} and run `artver repro {stage}`.",
        )
    if not pointer_file.is_file():
        ancestor = tracking_ancestor(repo, path)
        if ancestor is not None:
            owner_rel = repo.rel(ancestor)
            raise PathError(
                src,
                f"is inside {owner_rel}, which {owner_rel}{SUFFIX} tracks as a whole",
                hint=f"Move all of it (`artver move {repo.display(ancestor, cwd)} ...`), or move "
                f"the file yourself and run `artver add {repo.display(ancestor, cwd)}`.",
            )
        raise PathError(src, "not tracked by artver (no pointer file)")
    return repo.load_pointer(pointer_file)


def _destination(repo: Repo, defs: dict[str, Definition], data: Path, dst: str, cwd: Path) -> Path:
    """Where the data goes: DST, or DST/NAME when DST is an existing directory."""
    from artver.ops.add import tracking_ancestor
    from artver.ops.placement import check_tracked_path

    target = Path(os.path.abspath(cwd / dst))
    if target.is_dir() and not target.is_symlink() and target != data:
        target = target / data.name
    shown = repo.display(target, cwd)
    repo.check_inside(target, dst)
    check_tracked_path(repo, target, shown)
    if target == repo.root:
        raise PathError(dst, "is the repository root")
    if target == data:
        raise PathError(dst, "is where the data already is")
    if os.path.lexists(target):
        raise PathError(shown, "already exists; artver never moves data over another path")
    if is_pointer_file(target):
        raise PathError(shown, f"ends in {SUFFIX}, as pointer files do; choose another name")
    if os.path.lexists(pointer_path_for(target)):
        raise PathError(shown, f"its pointer file {shown}{SUFFIX} already exists")
    for parent in target.parents:
        if parent == repo.root:
            break
        if os.path.lexists(parent) and not parent.is_dir():
            raise PathError(shown, f"{repo.display(parent, cwd)} is not a directory")
    if scm.is_inside(target, data):
        raise PathError(shown, f"is inside {repo.display(data, cwd)}, the data being moved")
    problem = scm.unignorable(target.name)
    if problem is not None:
        raise PathError(repr(shown), problem)
    ancestor = tracking_ancestor(repo, target)
    if ancestor is not None:
        owner = repo.rel(ancestor)
        raise PathError(
            shown, f"is inside {owner}, which {owner}{SUFFIX} tracks: it would be tracked twice"
        )
    owner_stage = _stage_output(defs, repo.rel(target))
    if owner_stage is not None:
        stage, _, how = owner_stage
        raise PathError(shown, f"{how} of stage {stage}; tracked data cannot go there")
    return target


def _move_data(repo: Repo, data: Path, target: Path) -> None:
    """Rename the data; what the state DB knows of its files moves with them (a rename keeps
    every inode and mtime), so the next status does not hash them again."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(data, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(data, target)  # another filesystem: copied, so the state DB learns anew
        return
    old, new = repo.rel(data), repo.rel(target)
    state = repo.state
    rows = [(new, known) for known in [state.get(old)] if known is not None]
    rows += [(new + key[len(old) :], Known(*row)) for key, row in state.under(old).items()]
    state.save(rows, trusted=True)
    tree = state.tree(old)
    if tree is not None:
        state.save_tree(new, tree, 0)
