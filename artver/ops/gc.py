"""`artver gc`: remove cache (and optionally remote) objects that nothing in scope references.

What is kept is decided before anything is deleted, and the decision only ever grows the kept
set: the workspace (pointer files and locks on disk, committed or not, and anything a
workspace symlink points at) is always in scope; branches, tags or every commit are
added on request. A directory keeps its manifest and every file the manifest lists.
With `--cloud`, the remote is listed before anything local is touched, so an unreachable
remote stops the whole command with nothing deleted. Temp files that killed commands left in
the cache (and, with `--cloud`, on a directory remote) go too, once untouched for
`ARTVER_STALE_TEMP_AGE` seconds (an hour): a younger one may be a concurrent writer's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from artver.cache.hashing import is_valid_oid
from artver.config import stale_temp_age
from artver.errors import ArtverError, UsageError
from artver.fsutil import is_stale, is_temp_name, sweep_paths
from artver.ops.manifests import ManifestSource
from artver.ops.revisions import Revisions, Tracked, tracked_in_workspace
from artver.repo import Repo


@dataclass(frozen=True)
class Scope:
    workspace: bool = False
    all_branches: bool = False
    all_tags: bool = False
    all_commits: bool = False

    @property
    def history(self) -> bool:
        return self.all_branches or self.all_tags or self.all_commits

    def describe(self) -> str:
        parts = ["the workspace"]
        parts += ["all branches"] if self.all_branches else []
        parts += ["all tags"] if self.all_tags else []
        parts += ["all commits"] if self.all_commits else []
        return ", ".join(parts)


@dataclass
class Plan:
    """What gc would delete, and how much it frees."""

    scope: Scope
    kept: int  # objects in the cache that stay
    local: dict[str, int]  # oid -> size in the cache
    remote_name: str | None = None
    remote: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    shared_cache: bool = False  # the cache may serve other repositories too
    # Temp files killed commands left (path -> size), in the cache and on a directory remote:
    # no one's data, so they go without asking, unless the user declines the objects.
    temps: dict[str, int] = field(default_factory=dict)

    @property
    def temp_bytes(self) -> int:
        return sum(self.temps.values())

    @property
    def local_bytes(self) -> int:
        return sum(self.local.values())

    @property
    def empty(self) -> bool:
        return not self.local and not self.remote


@dataclass
class Result:
    plan: Plan
    deleted_local: int = 0
    freed: int = 0
    deleted_remote: int = 0
    runs_dropped: int = 0
    temps_removed: int = 0
    temp_bytes: int = 0
    done: bool = False


def unreferenced(present: Iterable[str], referenced: set[str]) -> list[str]:
    """Objects that may go. Pure."""
    return sorted(oid for oid in present if oid not in referenced)


def cached_objects(cache_dir: str, temps: list[str] | None = None) -> dict[str, int]:
    """{oid: size} of every object in the cache (`<2>/<30>[.dir]`; runs/ and tmp/ skipped).
    The temp files met in the shards (`add` writes small objects there) go to `temps`."""
    found: dict[str, int] = {}
    try:
        shards = [e for e in os.scandir(cache_dir) if len(e.name) == 2 and e.is_dir()]
    except FileNotFoundError:
        return found
    for shard in shards:
        for entry in os.scandir(shard.path):
            oid = shard.name + entry.name
            if is_valid_oid(oid) and entry.is_file(follow_symlinks=False):
                found[oid] = entry.stat(follow_symlinks=False).st_size
            elif temps is not None and is_temp_name(entry.name):
                temps.append(entry.path)
    return found


def cache_temps(cache_dir: str) -> list[str]:
    """The temp files in the cache's `tmp/` and run-cache shards (`runs/<2>/`); those in the
    object shards are found by `cached_objects`."""
    folders = [os.path.join(cache_dir, "tmp")]
    try:
        with os.scandir(os.path.join(cache_dir, "runs")) as shards:
            folders += [e.path for e in shards if len(e.name) == 2 and e.is_dir()]
    except OSError:
        pass
    found = []
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                found += [e.path for e in entries if is_temp_name(e.name)]
        except OSError:
            continue
    return found


def stale_temps(paths: list[str], now: float, max_age: float) -> dict[str, int]:
    """{path: size} of those temp files at `paths` that were left behind (`is_stale`)."""
    found = {}
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if is_stale(st, now, max_age):
            found[path] = st.st_size
    return found


def gc(
    repo: Repo,
    scope: Scope,
    cloud: bool = False,
    remote_name: str | None = None,
    dry_run: bool = False,
    confirm: Callable[[Plan], bool] = lambda plan: True,
) -> Result:
    """Plan, ask `confirm` (unless a dry run), then delete. The repo lock is held throughout,
    so no `add` or `pull` can bring in objects while gc decides."""
    if not (scope.workspace or scope.history):
        raise UsageError(
            "gc needs a scope: what should be kept?",
            hint="Use -w/--workspace, --all-branches, --all-tags or --all-commits "
            "(see `artver gc --help`).",
        )
    with repo.lock("artver gc", sweep=False):  # its own sweep, after the plan
        remote = None
        manifests = ManifestSource(repo, remote_name, use_remote=cloud)
        if cloud:
            from artver.ops.transfer import guard_remote
            from artver.remotes.remote import open_remote

            remote = open_remote(repo.config, remote_name, repo.root)
            on_remote = guard_remote(remote, remote.list_all)  # unreachable: stop here
        keep, warnings = referenced(repo, scope, manifests)
        temps = cache_temps(str(repo.cache_dir))
        local = cached_objects(str(repo.cache_dir), temps)
        going = {oid: local[oid] for oid in unreferenced(local, keep)}
        plan = Plan(scope, len(local) - len(going), going, warnings=warnings)
        plan.shared_cache = bool(repo.config.get("cache.dir"))
        if remote is not None:
            plan.remote_name = remote.name
            plan.remote = unreferenced(on_remote, keep)
            temps += remote.temps_seen
        max_age = stale_temp_age()
        plan.temps = stale_temps(temps, time.time(), max_age)
        result = Result(plan)
        if dry_run or (not plan.empty and not confirm(plan)):
            return result
        # Checked again as they go: one touched since the plan is in use after all.
        swept = sweep_paths(list(plan.temps), time.time(), max_age)
        result.temps_removed, result.temp_bytes = swept
        if plan.empty:
            return result
        if remote is not None:
            _delete_on_remote(repo, remote, plan.remote)
            result.deleted_remote = len(plan.remote)
        result.deleted_local, result.freed = _delete_local(repo, plan.local)
        result.runs_dropped = _drop_runs(repo, set(plan.local))
        result.done = True
        return result


def referenced(repo: Repo, scope: Scope, manifests: ManifestSource) -> tuple[set[str], list[str]]:
    """Every object the scope references, and warnings about what could not be known."""
    warnings: list[str] = []
    workspace = [t for t in tracked_in_workspace(repo).values() if t.cached]
    keep = {t.oid for t in workspace}
    keep |= _symlinked_objects(repo)
    history: list[Tracked] = []
    if scope.history:
        with Revisions(repo) as revisions:
            commits, truncated = revisions.commits(
                [], scope.all_branches, scope.all_tags, scope.all_commits
            )
            if truncated:
                raise ArtverError(
                    "this is a shallow clone: older commits are not here, so what they "
                    "reference cannot be known and gc --all-commits would delete it",
                    hint="Fetch the full history (`git fetch --unshallow`), or choose "
                    "-w/--all-branches/--all-tags.",
                )
            history = [item for _, item in revisions.iter_tracked(commits) if item.cached]
    keep |= {t.oid for t in history}
    # The workspace's manifests may come from the default remote even without --cloud: a
    # partial pull leaves some out, and gc must know their files before deleting anything.
    ws_manifests = manifests if manifests.use_remote else ManifestSource(repo)
    ws_dirs = {t.oid: t.path for t in workspace if t.is_dir}
    missing_in_workspace = [p for o, p in ws_dirs.items() if not _expand(o, ws_manifests, keep)]
    history_dirs = {t.oid for t in history if t.is_dir} - set(ws_dirs)
    missing_in_history = sum(1 for o in history_dirs if not _expand(o, manifests, keep))
    if missing_in_workspace:
        raise ArtverError(
            "the directory manifests of "
            + ", ".join(sorted(set(missing_in_workspace)))
            + " are not in the cache: gc cannot tell which files they need",
            hint="Fetch them (`artver fetch PATH`), or `artver add` the data again, first.",
        )
    if missing_in_history:
        warnings.append(
            f"{missing_in_history} directories recorded in history have no manifest here; "
            "their files (if any are cached) cannot be recognised"
        )
    return keep, warnings


def _expand(dir_oid: str, manifests: ManifestSource, keep: set[str]) -> bool:
    """Add the files of a directory to `keep`; False when its manifest is unknown."""
    oids = manifests.oids(dir_oid)
    if oids is None:
        return False
    keep.update(oids)
    return True


def _symlinked_objects(repo: Repo) -> set[str]:
    """Objects that workspace files link to as symlinks, tracked or not (a `git checkout`
    without `artver checkout` leaves links to versions no pointer names): deleting them
    would break those files."""
    if "symlink" not in repo.config.link_types:
        return set()
    cache = os.path.realpath(repo.cache_dir)
    found = set()
    for folder, dirs, names in os.walk(repo.root):
        dirs[:] = [d for d in dirs if d not in (".git", ".artver")]
        for name in names:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                rel = os.path.relpath(os.path.realpath(path), cache).split(os.sep)
                if len(rel) == 2 and is_valid_oid(rel[0] + rel[1]):
                    found.add(rel[0] + rel[1])
    return found


def _delete_local(repo: Repo, oids: dict[str, int]) -> tuple[int, int]:
    deleted = freed = 0
    try:
        for oid, size in oids.items():
            try:
                os.unlink(repo.odb.path_of(oid))
            except FileNotFoundError:
                continue
            deleted += 1
            freed += size
    finally:
        if deleted:
            repo.state.forget_complete()
            repo.state.forget_object_records(oids)  # what was known of their bytes
    return deleted, freed


def _delete_on_remote(repo: Repo, remote, oids: list[str]) -> None:
    from artver.ops.transfer import guard_remote

    dirs = [o for o in oids if o.endswith(".dir")]
    # Forget first: if the deletion stops halfway, push must not trust old marks.
    repo.state.forget_on_remote(remote.key, oids)
    # Manifests first: a directory whose .dir is gone is never taken as complete.
    ordered = dirs + [o for o in oids if not o.endswith(".dir")]
    for start in range(0, len(ordered), 1000):
        batch = [remote.path_of(o) for o in ordered[start : start + 1000]]
        guard_remote(remote, remote.fs.rm, batch)


def _drop_runs(repo: Repo, removed: set[str]) -> int:
    """Run-cache entries whose outputs were deleted can no longer restore them."""
    from artver.stages import runcache

    dropped = 0
    for key in runcache.keys(repo.cache_dir):
        outs = runcache.lookup(repo.cache_dir, key) or []
        if any(o.get("oid") in removed for o in outs if o.get("cache", True)):
            runcache.remove(repo.cache_dir, key)
            dropped += 1
    return dropped
