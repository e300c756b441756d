"""Queueing an experiment and running one in its own Git worktree.

The user's workspace is never touched. `queue` turns the workspace as it is (uncommitted
changes and untracked files that Git would add included, as DVC takes them) plus the `-S`
overrides into a commit on top of HEAD, written through a temporary index, and refers to it
from `refs/artver/queue/<name>`. `run_queued` checks that commit out in a worktree under
`.artver/tmp/exps/`, whose artver config points at the repository's cache (outputs are cached
as usual, and what the baseline already computed is linked in, not recomputed), places the
data, runs `repro` there, and records the result as a commit on top of the baseline under
`refs/artver/exps/<baseline>/<name>`: succeeded, or failed with the run's last lines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from artver import gitcli
from artver.errors import ArtverError
from artver.experiments import overrides as ov
from artver.experiments import records
from artver.repo import Repo

WORKTREES = ("tmp", "exps")  # under .artver/
LOG_TAIL = 20  # lines of a failed run kept in its commit message


class ExperimentError(ArtverError):
    pass


class Queued(NamedTuple):
    name: str
    sha: str  # the queued commit: baseline + workspace changes + overrides
    baseline: str
    overrides: tuple[str, ...]
    stages: tuple[str, ...]
    snapshot: str = ""  # the workspace's tree it started from
    order: int = 0  # when it was queued (ns): the queue's order, and the table's


class Result(NamedTuple):
    name: str
    sha: str
    baseline: str
    status: str
    log: str


def baseline_of(repo: Repo) -> str:
    sha = gitcli.head(repo.root)
    if sha is None:
        raise ExperimentError(
            "experiments run on top of a commit, and this repository has none yet",
            hint="Commit your pipeline first: git add -A && git commit",
        )
    return sha


def taken_names(repo: Repo) -> set[str]:
    names = set()
    for ref in gitcli.refs(repo.root, "refs/artver/"):
        parts = records.split_ref(ref)
        if parts is not None:
            names.add(parts[1])
    return names


def queue(
    repo: Repo,
    changes: list[list[ov.Override]],
    stages: list[str],
    name: str | None = None,
) -> list[Queued]:
    """One queued commit per set of overrides (a sweep gives several); nothing runs."""
    baseline = baseline_of(repo)
    taken = taken_names(repo)
    if name is not None:
        records.check_name(name)
        wanted = [name] if len(changes) == 1 else [f"{name}-{i + 1}" for i in range(len(changes))]
        for n in wanted:
            if n in taken:
                raise ExperimentError(
                    f"an experiment named {n} exists already",
                    hint="Choose another -n NAME, or remove it: artver exp remove " + n,
                )
    else:
        wanted = []
        for _ in changes:
            wanted.append(records.new_name(taken))
            taken.add(wanted[-1])
    snapshot = gitcli.snapshot_tree(repo.root, baseline)
    queued = []
    now = time.time_ns()
    for i, (exp_name, overrides) in enumerate(zip(wanted, changes, strict=True)):
        tree = _with_overrides(repo, baseline, snapshot, overrides)
        shown = ov.describe(overrides)
        msg = records.message(
            exp_name, records.QUEUED, baseline, shown, stages, order=now + i, snapshot=snapshot
        )
        sha = gitcli.commit_tree(repo.root, tree, baseline, msg)
        gitcli.update_ref(repo.root, records.queue_ref(exp_name), sha)
        queued.append(
            Queued(exp_name, sha, baseline, tuple(shown), tuple(stages), snapshot, now + i)
        )
    return queued


def _with_overrides(repo: Repo, baseline: str, tree: str, overrides: list[ov.Override]) -> str:
    """`tree` with the params files the overrides change rewritten (a temporary index)."""
    if not overrides:
        return tree
    index = gitcli.git_dir(repo.root) / f"artver-exp-index-{os.getpid()}"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        gitcli.git(repo.root, "read-tree", tree, env=env)
        for file, group in ov.by_file(overrides).items():
            if not gitcli.ref_exists(repo.root, f"{tree}:{file}"):
                raise ExperimentError(
                    f"-S names params file {file}, which does not exist",
                    hint="Name an existing file: -S FILE:KEY=VALUE (default params.yaml)",
                )
            data = gitcli.git(repo.root, "cat-file", "blob", f"{tree}:{file}")
            text = ov.apply_to_text(data, group, file)
            blob = gitcli.git(
                repo.root, "hash-object", "-w", "--stdin", input_bytes=text.encode("utf-8")
            ).strip()
            gitcli.git(repo.root, "update-index", "--cacheinfo", f"100644,{blob},{file}", env=env)
        return gitcli.git(repo.root, "write-tree", env=env).strip()
    finally:
        index.unlink(missing_ok=True)


def queued(repo: Repo) -> list[Queued]:
    """The queue, oldest first."""
    from artver.experiments.show import experiments

    waiting = [e for e in experiments(repo) if e.status == records.QUEUED]
    waiting.sort(key=lambda e: (e.order, e.created, e.name))
    return [
        Queued(e.name, e.sha, e.baseline, e.overrides, e.stages, e.snapshot, e.order)
        for e in waiting
    ]


# -- running one -----------------------------------------------------------------------------
Printer = Callable[[str, str], None]  # (stage, line)
Events = Callable[[str, str, list[str]], None]


def run_queued(
    repo: Repo,
    item: Queued,
    on_line: Printer,
    on_event: Events,
    jobs: int = 1,
) -> Result:
    """Run a queued experiment in its own worktree and record how it went. A failed stage is
    a result (status failed, with the run's last lines), not an error."""
    from artver.ops.repro import Options, StageFailed, repro

    worktree = repo.artver_dir.joinpath(*WORKTREES) / f"{item.name}-{os.getpid()}"
    tail: list[str] = []

    def keep(stage: str, line: str) -> None:
        tail.append(f"[{stage}] {line}")
        del tail[:-LOG_TAIL]
        on_line(stage, line)

    worktree.parent.mkdir(parents=True, exist_ok=True)
    gitcli.worktree_add(repo.root, worktree, item.sha)
    try:
        _configure(repo, worktree)
        inner = Repo.find(worktree, repo.progress)
        _place_data(inner)
        status, log = records.SUCCESS, ""
        try:
            repro(inner, Options(list(item.stages), jobs=jobs), on_event, keep)
        except StageFailed as exc:  # its message ends with the failed stage's last lines
            status, log = records.FAILED, exc.message
        except ArtverError as exc:
            status, log = records.FAILED, "\n".join([str(exc), *tail])
        return _record(repo, item, gitcli.snapshot_tree(worktree, item.sha), status, log)
    finally:
        gitcli.worktree_remove(repo.root, worktree)


def record_crash(repo: Repo, item: Queued, why: str) -> Result:
    """A run whose process died before it could record itself: failed, with the reason."""
    tree = gitcli.git(repo.root, "rev-parse", f"{item.sha}^{{tree}}").strip()
    return _record(repo, item, tree, records.FAILED, why)


def _record(repo: Repo, item: Queued, tree: str, status: str, log: str) -> Result:
    """The experiment's commit of `tree` on its baseline, moved from the queue to its ref."""
    msg = records.message(
        item.name,
        status,
        item.baseline,
        list(item.overrides),
        list(item.stages),
        log,
        order=item.order,
        snapshot=item.snapshot,
    )
    sha = gitcli.commit_tree(repo.root, tree, item.baseline, msg)
    exp_ref = records.exp_ref(item.baseline, item.name)
    gitcli.move_ref(repo.root, records.queue_ref(item.name), exp_ref, sha)
    return Result(item.name, sha, item.baseline, status, log)


def _configure(repo: Repo, worktree: Path) -> None:
    """The worktree's artver uses the repository's cache, and its machine-local settings
    (remotes' credentials): a copy of config.local.yaml with cache.dir set."""
    from artver.config import _load_yaml
    from artver.yamlio import dump_plain

    inner = worktree / ".artver"
    if not (inner / "config.yaml").is_file():
        raise ExperimentError(
            "the baseline has no .artver/config.yaml: commit it (or leave it untracked but "
            "not ignored) so that experiments can find the repository's settings"
        )
    local: dict[str, Any] = _load_yaml(repo.artver_dir / "config.local.yaml")
    cache = dict(local.get("cache") or {})
    cache["dir"] = str(repo.cache_dir)
    local["cache"] = cache
    (inner / "config.local.yaml").write_text(dump_plain(local), encoding="utf-8")


def _place_data(inner: Repo) -> None:
    """Link in the data and outputs the worktree's pointers and locks record, from the cache;
    what the cache lacks is left out (a stage that makes it will run)."""
    from artver.errors import MissingObjectsError
    from artver.ops.checkout import restore
    from artver.ops.targets import resolve

    with inner.lock("artver exp run"):
        targets = [t for t in resolve(inner, [], inner.root) if inner.odb.exists(t.out.oid)]
        for _ in range(2):
            try:
                restore(inner, targets)
                return
            except MissingObjectsError as exc:
                lacking = {os.path.realpath(inner.root / p) for p in exc.missing}
                targets = [t for t in targets if not _holds_any(t.path, lacking)]
        restore(inner, targets)


def _holds_any(path: Path, paths: set[str]) -> bool:
    top = os.path.realpath(path)
    return any(p == top or p.startswith(top + os.sep) for p in paths)
