"""`artver checkout`: make the workspace match what the pointers and the lock record."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from artver import scm
from artver.cache.integrity import pack_stat
from artver.cache.odb import CorruptObjectError, UnsafeManifestError
from artver.cache.tree import FileEntry, diff_trees
from artver.errors import MissingObjectsError, WouldLoseDataError
from artver.ops.integrity import check_objects
from artver.ops.placement import check_parents, check_tracked_path
from artver.ops.plan import Change, plan_checkout, would_lose
from artver.ops.snapshot import Snapshot, ignored_in_the_way, take
from artver.ops.targets import Target
from artver.repo import Repo
from artver.state import Known
from artver.workspace import shared_map


@dataclass
class CheckoutResult:
    counts: Counter = field(default_factory=Counter)  # create/modify/delete/relink
    artifacts_changed: list[str] = field(default_factory=list)
    artifacts_unchanged: int = 0


@dataclass
class _Job:
    target: Target
    snapshot: Snapshot
    changes: list[Change]

    @property
    def shown(self) -> str:
        return self.target.shown


def _recorded(repo: Repo, target: Target, missing: dict[str, str]) -> dict:
    """{relpath: FileEntry} that the target records; notes a missing manifest in `missing`."""
    out, shown = target.out, target.shown
    if not out.is_dir:
        return {"": FileEntry("", out.oid, out.size)}
    try:
        return repo.odb.read_manifest(out.oid).by_path()
    except UnsafeManifestError as exc:
        raise exc.about(shown) from None
    except (FileNotFoundError, CorruptObjectError):
        missing[shown] = out.oid
        return {}


def _tree_changes(repo: Repo, target: Target, found: str, missing: dict[str, str]) -> list[Change]:
    """The changes from the big directory `found` (the workspace, its objects in the cache) to
    the one the target records, read only where the two trees differ (`tree.diff_trees`)."""
    try:
        return [
            Change(path, old.oid if old is not None else None, new)
            for path, old, new in diff_trees(repo.odb.read_node, found, target.out.oid)
        ]
    except UnsafeManifestError as exc:
        raise exc.about(target.shown) from None
    except (FileNotFoundError, CorruptObjectError, ValueError):
        missing[target.shown] = target.out.oid
        return []


def _stat_objects(repo: Repo, job: _Job, stats: dict[str, bytes | None]) -> None:
    """The stat of each object `job` places, into `stats` (None: not in the cache). Only the
    objects this checkout will place are looked at: usually a handful."""
    for change in job.changes:
        if change.new is not None and change.new.oid not in stats:
            stats[change.new.oid] = repo.odb.packed_stat(change.new.oid)


def _note_missing_objects(
    job: _Job, stats: dict[str, bytes | None], missing: dict[str, str]
) -> None:
    absent = [c for c in job.changes if c.new is not None and stats[c.new.oid] is None]
    for change in absent[:5]:
        assert change.new is not None
        missing[f"{job.shown}/{change.path}" if change.path else job.shown] = change.new.oid
    if len(absent) > 5:
        missing[f"{job.shown} (and {len(absent) - 5} more files)"] = job.target.out.oid


def _target(root: Path, rel: str) -> Path:
    return root / rel if rel else root


def _users(jobs: list[_Job], oids: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """For the error about the corrupt objects `oids`: ({oid: the first path placing it, as
    shown}, {oid: every path placing it})."""
    bad = set(oids)
    needed_by: dict[str, str] = {}
    paths: dict[str, list[str]] = {}
    for job in jobs:
        for change in job.changes:
            if change.new is not None and change.new.oid in bad:
                shown = f"{job.shown}/{change.path}" if change.path else job.shown
                needed_by.setdefault(change.new.oid, shown)
                dest = str(_target(job.target.path, change.path))
                paths.setdefault(change.new.oid, []).append(dest)
    return needed_by, paths


def _apply(repo: Repo, job: _Job) -> None:
    root = job.target.path
    deletes = [c for c in job.changes if c.typ == "delete"]
    places = [c for c in job.changes if c.new is not None]
    for change in deletes:
        os.unlink(_target(root, change.path))
    is_dir = job.target.out.is_dir
    _prune_empty_dirs(root, [c.path for c in deletes], keep_root=is_dir)
    if is_dir:
        root.mkdir(parents=True, exist_ok=True)
    made: set[Path] = set()
    for change in places:
        parent = _target(root, change.path).parent
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
    odb = repo.odb

    def place(change: Change) -> tuple[int, int, int, int, int, bool]:
        dest = _target(root, change.path)
        assert change.new is not None
        how = odb.materialize(
            change.new.oid, str(dest), change.new.executable, size=change.new.size
        )
        st = os.stat(dest)
        # Plain numbers: they may cross a pipe. A hardlink's stat is the object's.
        hardlink = how == "hardlink"
        return st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_nlink, hardlink

    placed: list[tuple[str, Known]] = []
    linked: list[tuple[str, bytes]] = []  # (oid, its stat now) of the objects hard-linked

    def done(change: Change, numbers: tuple[int, int, int, int, int, bool]) -> None:
        assert change.new is not None
        inode, mtime_ns, size, ctime_ns, nlink, hardlink = numbers
        placed.append((change.path, Known(inode, mtime_ns, size, change.new.oid)))
        if hardlink:
            linked.append((change.new.oid, pack_stat(inode, size, mtime_ns, ctime_ns, nlink)))
        repo.progress.advance(1, change.new.size)

    def start_bar() -> None:
        repo.progress.start("checkout", len(places), sum(c.new.size for c in places if c.new))

    shared_map(place, places, repo.config.jobs, done, start_bar)
    repo.progress.finish()
    # Proved sound just before: linking moved their ctime, so remember them as they are now.
    repo.state.save_object_records(linked)
    base = repo.rel(root)
    repo.state.save(
        ((f"{base}/{rel}" if rel else base, known) for rel, known in placed), trusted=True
    )
    if job.target.ignore:
        scm.ensure_ignored(root)


def _prune_empty_dirs(root: Path, deleted: list[str], keep_root: bool) -> None:
    """Remove directories that our deletions left empty (never anything else)."""
    candidates = set()
    for rel in deleted:
        parent = _target(root, rel).parent
        while parent != root.parent and (parent == root or root in parent.parents):
            candidates.add(parent)
            parent = parent.parent
    for directory in sorted(candidates, key=lambda p: len(p.parts), reverse=True):
        if directory == root and keep_root:
            continue
        try:
            directory.rmdir()
        except OSError:
            pass  # not empty: it holds something we were not asked to remove


def _sweep_beside(path: Path) -> None:
    """Delete the temp files that killed checkouts of the file `path` left beside it, once
    stale (`fsutil.is_stale`)."""
    import time

    from artver.config import stale_temp_age
    from artver.fsutil import sweep_temps

    sweep_temps(str(path.parent), time.time(), stale_temp_age(), of=path.name)


def restore(
    repo: Repo, targets: list[Target], force: bool = False, relink: bool = False
) -> CheckoutResult:
    """Make each target's path hold its recorded version. The caller holds the repo lock.

    Everything is checked before anything changes: missing objects, corrupt ones (whose
    stat moved since their bytes were last known good, and which hash to something else now:
    they are quarantined) and content that would be lost stop the whole checkout with nothing
    touched in the workspace.
    """
    result = CheckoutResult()
    missing: dict[str, str] = {}
    stats: dict[str, bytes | None] = {}
    jobs: list[_Job] = []
    for target in targets:
        checked = check_tracked_path(repo, target.path, target.shown, target.out.is_dir)
        target = target._replace(path=checked)
        snapshot = take(repo, target.path, target.shown, expect=target.out.oid)
        if snapshot.oid == target.out.oid and not relink:
            result.artifacts_unchanged += 1
            if target.ignore:
                scm.ensure_ignored(target.path)
            continue
        if snapshot.big is not None and not relink:
            changes = _tree_changes(repo, target, snapshot.big.oid, missing)
        else:
            if snapshot.known_oid is not None:  # --relink needs the per-file picture
                snapshot = take(repo, target.path, target.shown)
            recorded = _recorded(repo, target, missing)
            changes = plan_checkout(recorded, snapshot.oids, relink)
        job = _Job(target, snapshot, ignored_in_the_way(snapshot, changes))
        if target.out.is_dir:
            check_parents(repo, target.path, [c.path for c in job.changes], target.shown)
        _stat_objects(repo, job, stats)
        _note_missing_objects(job, stats, missing)
        jobs.append(job)
    if missing:
        # Objects went missing behind artver's back: no directory is known complete any more,
        # so the next `add` or `fetch` checks every object again instead of trusting the mark.
        repo.state.forget_complete()
        raise MissingObjectsError(missing)
    if stats:
        check_objects(repo, stats, lambda bad: _users(jobs, bad), "nothing was checked out")
        repo.remember_objects()  # those it hashed again, before linking moves their ctime
    if not force:
        lost = [
            f"{job.shown}/{c.path}" if c.path else job.shown
            for job in jobs
            for c in would_lose(job.changes, repo.odb.exists)
        ]
        if lost:
            raise WouldLoseDataError(lost)
    for job in jobs:
        if not job.target.out.is_dir:  # a directory's are dealt with as it is listed
            _sweep_beside(job.target.path)
        _apply(repo, job)
        result.counts.update(c.typ for c in job.changes)
        result.artifacts_changed.append(job.shown)
    return result


def checkout(
    repo: Repo,
    targets: list[str],
    cwd: Path,
    force: bool = False,
    relink: bool = False,
    rev: str | None = None,
) -> CheckoutResult:
    """With `rev`, the data that Git revision records, leaving the pointer files (and HEAD)
    as they are: the workspace then differs from its pointers until the next checkout."""
    from artver.ops.targets import resolve, targets_at

    with repo.lock("artver checkout"):
        chosen = resolve(repo, targets, cwd) if rev is None else targets_at(repo, rev, targets, cwd)
        return restore(repo, chosen, force, relink)
