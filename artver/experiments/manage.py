"""`exp apply`, `exp branch`, `exp remove`, `exp push` and `exp pull`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from artver import gitcli
from artver.errors import ArtverError, MissingObjectsError, WouldLoseDataError
from artver.experiments import records
from artver.experiments.show import experiments, find, workspace_differs
from artver.repo import Repo


class ExperimentChangeError(ArtverError):
    pass


class Applied(NamedTuple):
    name: str
    files: list[str]  # Git-kept files written (repo-relative)
    checked_out: list[str]  # data and outputs placed from the cache


def apply(repo: Repo, name: str, force: bool = False) -> Applied:
    """Make the workspace hold the experiment: the files it changed (params, locks, metrics,
    pointers, code) and the data its locks and pointers record. Refuses, with nothing changed,
    when a file it would write has uncommitted changes of its own (unless `force`), and
    puts every file back when the data cannot be placed."""
    from artver.ops.checkout import restore
    from artver.ops.targets import resolve

    exp = find(repo, name)
    if exp.status == records.QUEUED:
        raise ExperimentChangeError(f"experiment {exp.name} is queued and has not run yet")
    head = gitcli.head(repo.root) or exp.baseline
    changed = gitcli.changed_files(repo.root, exp.baseline, exp.sha)
    if not force:
        # A file is the user's own work when it is neither what HEAD has, nor what the
        # experiment started from (the workspace then, uncommitted changes in), nor its result.
        starts = [head, exp.sha] + ([exp.snapshot] if exp.snapshot else [])
        dirty = [p for p in changed if all(workspace_differs(repo, p, s) for s in starts)]
        if dirty:
            raise ExperimentChangeError(
                f"exp apply {exp.name} would overwrite uncommitted changes in: "
                + ", ".join(sorted(dirty)),
                hint="Commit or stash them first (or use --force to discard them).",
            )
    before: dict[str, bytes | None] = {}
    for rel in changed:
        path = repo.root / rel
        try:
            before[rel] = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            before[rel] = None
    try:
        for rel in changed:
            _write(repo.root / rel, gitcli.show_file(repo.root, exp.sha, rel))
        inner = Repo(repo.root, repo.progress)  # a fresh view: its pointers and locks changed
        with inner.lock("artver exp apply"):
            result = restore(inner, resolve(inner, [], repo.root), force=force)
    except (MissingObjectsError, WouldLoseDataError):
        for rel, data in before.items():
            _write(repo.root / rel, data)
        raise
    return Applied(exp.name, sorted(changed), result.artifacts_changed)


def _write(path: Path, data: bytes | None) -> None:
    from artver.fsutil import atomic_write_bytes

    if data is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)


def branch(repo: Repo, name: str, branch_name: str) -> str:
    """A Git branch at the experiment's commit; its commit."""
    exp = find(repo, name)
    if exp.status == records.QUEUED:
        raise ExperimentChangeError(f"experiment {exp.name} is queued and has not run yet")
    if not gitcli.git(repo.root, "check-ref-format", "--branch", branch_name, check=False):
        raise ExperimentChangeError(f"{branch_name!r} is not a valid Git branch name")
    if gitcli.ref_exists(repo.root, f"refs/heads/{branch_name}"):
        raise ExperimentChangeError(
            f"a branch named {branch_name} exists already", hint="Choose another branch name."
        )
    gitcli.git(repo.root, "branch", branch_name, exp.sha)
    return exp.sha


def remove(
    repo: Repo, names: list[str], queue: bool = False, every: bool = False
) -> list[records.Experiment]:
    """Delete experiments' refs (their commits go with Git's gc); the ones removed. Every
    name is checked before any is removed."""
    if every:
        chosen = experiments(repo)
    else:
        chosen = [find(repo, n) for n in names]
        if queue:
            chosen += [e for e in experiments(repo) if e.status == records.QUEUED]
    seen = set()
    removed = []
    for exp in chosen:
        if exp.ref in seen:
            continue
        seen.add(exp.ref)
        gitcli.delete_ref(repo.root, exp.ref)
        removed.append(exp)
    return removed


def _chosen(repo: Repo, names: list[str]) -> list[records.Experiment]:
    """The named experiments, or (none named) every finished one of HEAD's baseline."""
    if names:
        found = [find(repo, n) for n in names]
    else:
        head = gitcli.head(repo.root)
        found = [e for e in experiments(repo) if e.baseline == head]
    return [e for e in found if e.status != records.QUEUED]


def _check_git_remote(repo: Repo, remote: str) -> None:
    if not gitcli.remote_exists(repo.root, remote):
        raise ExperimentChangeError(
            f"no Git remote named {remote}",
            hint="`git remote -v` lists them; add one with `git remote add NAME URL`.",
        )


class Moved(NamedTuple):
    experiments: list[str]
    data: object | None  # the artver transfer's result; None when no artver remote is set
    note: str = ""


def push(repo: Repo, git_remote: str, names: list[str], data_remote: str | None) -> Moved:
    """The experiments' refs to the Git remote, then their data to the artver remote."""
    _check_git_remote(repo, git_remote)
    chosen = _chosen(repo, names)
    if not chosen:
        return Moved([], None, "no experiment to push")
    gitcli.push_refs(repo.root, git_remote, [f"{e.ref}:{e.ref}" for e in chosen])
    moved, note = _data(repo, [e.sha for e in chosen], data_remote, "push")
    return Moved([e.name for e in chosen], moved, note)


def pull(repo: Repo, git_remote: str, names: list[str], data_remote: str | None) -> Moved:
    """Experiments' refs from the Git remote (every one there, or those named), then their
    data from the artver remote into the cache."""
    _check_git_remote(repo, git_remote)
    there = gitcli.remote_refs(repo.root, git_remote, records.EXPS)
    by_name: dict[str, list[str]] = {}
    for ref in there:
        parts = records.split_ref(ref)
        if parts is not None:
            by_name.setdefault(parts[1], []).append(ref)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ExperimentChangeError(
            f"{git_remote} has no experiment named {', '.join(unknown)}",
            hint=f"Its experiments: {', '.join(sorted(by_name)) or 'none'}",
        )
    wanted = [ref for n in (names or sorted(by_name)) for ref in by_name[n]]
    if not wanted:
        return Moved([], None, f"{git_remote} has no experiments")
    gitcli.fetch_refs(repo.root, git_remote, [f"{ref}:{ref}" for ref in wanted])
    moved, note = _data(repo, [there[ref] for ref in wanted], data_remote, "fetch")
    return Moved(sorted({records.split_ref(r)[1] for r in wanted}), moved, note)  # type: ignore[index]


def _data(repo: Repo, shas: list[str], remote: str | None, direction: str) -> tuple[object, str]:
    from artver.ops import transfer

    if remote is None and not repo.config.get("core.remote"):
        return None, "no artver remote is set (core.remote), so only the Git refs moved"
    sel = transfer.Selection(revs=shas, workspace=False)
    if direction == "push":
        return transfer.push(repo, sel, repo.root, remote), ""
    return transfer.fetch(repo, sel, repo.root, remote), ""
