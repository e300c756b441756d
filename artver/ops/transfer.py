"""`artver push`, `fetch` and `pull`: move only the objects the other side lacks.

What a command transfers is the set of objects that the selected pointers reference (in the
workspace, or at Git revisions read through dulwich). A directory counts as its `.dir` manifest
plus every file object the manifest lists.

Push: tracked files and directories that the state DB remembers this clone pushing to (or
finding on) the remote are not asked about; with nothing else to send, the remote is not even
contacted. A directory costs one existence check of its `.dir`: a `.dir` on the remote proves
its files are there too (it is always uploaded last). For the rest, what the remote lacks is
found by listing its shards or by asking per object, whichever needs fewer requests
(`remotes.transfer.choose_strategy`).
Fetch: every object is hashed before it enters the cache (`Remote.download`); what it finds on
the remote, or missing there, updates what push remembers.
"""

from __future__ import annotations

import os
from collections import defaultdict, namedtuple
from collections.abc import Callable
from pathlib import Path

from artver import pointer as pointers
from artver.cache.integrity import pack
from artver.cache.odb import CorruptObjectError, UnsafeManifestError
from artver.cache.tree import Manifest
from artver.fsutil import unlink_quietly
from artver.ops import integrity
from artver.remotes import transfer
from artver.remotes.errors import (
    CorruptRemoteError,
    NotInCacheError,
    NotOnRemoteError,
    RemoteError,
)
from artver.remotes.remote import Remote, classify, open_remote, translate
from artver.repo import Repo

# Plain classes and namedtuples, not dataclasses or typing's NamedTuple: each costs start-up
# time on every command, and a push with nothing to send is hardly more than start-up.
# One tracked path as some pointer records it. shown: "data/images", or "data/images @v1" for a
# pointer at a revision; oid; size (None if unknown).
Artifact = namedtuple("Artifact", "shown oid size")


class Selection:
    """What a transfer covers."""

    def __init__(
        self,
        targets: list[str] | None = None,
        revs: list[str] | None = None,
        all_branches: bool = False,
        all_commits: bool = False,
        run_cache: bool = False,
        workspace: bool | None = None,
    ) -> None:
        self.targets = targets or []
        self.revs = revs or []
        self.all_branches = all_branches
        self.all_commits = all_commits
        self.run_cache = run_cache  # also every recorded run and the outputs it restores
        self.workspace = workspace  # None: unless only --rev was given

    @property
    def history(self) -> bool:
        return bool(self.revs or self.all_branches or self.all_commits)

    def with_workspace(self, workspace: bool) -> Selection:
        return Selection(
            self.targets, self.revs, self.all_branches, self.all_commits, self.run_cache, workspace
        )


class TransferResult:
    def __init__(self, remote: str, artifacts: int = 0) -> None:
        self.remote = remote
        self.transferred = 0
        self.nbytes = 0
        self.up_to_date = 0  # objects the other side already had
        self.artifacts = artifacts
        self.runs = 0  # run-cache entries sent or received
        self.repaired: list[str] = []  # corrupt cache objects pull replaced (quarantined)


# -- what is referenced ----------------------------------------------------------------------------
def collect(repo: Repo, sel: Selection, cwd: Path) -> list[Artifact]:
    """Artifacts the selection names: workspace pointers and stage outputs in the lock (unless
    only revisions are asked for), and pointers and locks at the selected revisions."""
    from artver.ops.targets import resolve

    found: list[Artifact] = []
    workspace = sel.workspace
    if workspace is None:
        workspace = not sel.revs or sel.all_branches or sel.all_commits
    if workspace:
        for target in resolve(repo, sel.targets, cwd):
            found.append(Artifact(target.shown, target.out.oid, target.out.size))
    if sel.history:
        found += _history_outputs(repo, sel, _target_paths(repo, sel.targets, cwd))
    if sel.run_cache:
        found += _run_cache_outputs(repo)
    return found


def _history_outputs(repo: Repo, sel: Selection, wanted: set[str] | None) -> list[Artifact]:
    """Cached data the pointers and locks of the selected revisions record."""
    from artver.ops.revisions import Revisions

    found = []
    with Revisions(repo) as revisions:
        commits, _ = revisions.commits(sel.revs, sel.all_branches, all_commits=sel.all_commits)
        for commit, item in revisions.iter_tracked(commits):
            if item.cached and (wanted is None or item.path in wanted):
                found.append(Artifact(f"{item.path} @{commit.label}", item.oid, item.size))
    return found


def _run_cache_outputs(repo: Repo) -> list[Artifact]:
    """Outputs of every run in the local run cache (`--run-cache`)."""
    from artver.stages import runcache

    found = []
    for key in sorted(runcache.keys(repo.cache_dir)):
        for out in runcache.lookup(repo.cache_dir, key) or []:
            if out.get("oid") and out.get("cache", True):
                found.append(
                    Artifact(f"{out['path']} (run {key[:8]})", out["oid"], out.get("size"))
                )
    return found


def _target_paths(repo: Repo, targets: list[str], cwd: Path) -> set[str] | None:
    if not targets:
        return None
    rels = set()
    for target in targets:
        path = Path(os.path.abspath(cwd / target))
        repo.check_inside(path, target)
        rels.add(repo.rel(path).removesuffix(pointers.SUFFIX))
    return rels


def _by_oid(artifacts: list[Artifact]) -> dict[str, Artifact]:
    first: dict[str, Artifact] = {}
    for art in artifacts:
        first.setdefault(art.oid, art)
    return first


def remote_jobs(repo: Repo, remote: Remote, jobs: int | None = None) -> int:
    """How many requests to a remote at once: `-j`, else `remote.NAME.jobs`, else core.jobs
    for a directory (or when set), else more for a network store, which waits on round trips."""
    if jobs is not None:
        _check_jobs(jobs)
        return jobs
    configured = remote.options.get("jobs")
    if configured is not None:
        return int(configured)
    if repo.config.get("core.jobs") is not None or remote.protocol == "file":
        # Copies between local disks are bound by the kernel creating files, as local work
        # is: core.jobs (one thread per core unless set).
        return repo.config.jobs
    # Network transfers wait on round trips, not on the CPU: more in flight than core.jobs.
    from artver.config import usable_cores

    return min(64, 16 * usable_cores())


def _check_jobs(jobs: int | None) -> None:
    if jobs is not None and jobs < 1:
        raise RemoteError("-j must be at least 1")


def _remote(repo: Repo, name: str | None) -> Remote:
    return open_remote(repo.config, name, repo.root)


def guard_remote(remote: Remote, func, *args, note: str = ""):
    """Call `func`, turning filesystem exceptions into one clear error about `remote`."""
    try:
        return func(*args)
    except RemoteError:
        raise
    except Exception as exc:
        err = translate(exc, remote, note)
        if classify(exc) in ("missing", "other") and remote.protocol in ("s3", "gs"):
            remote.check_bucket()
        raise err from None


# -- what the remote has ---------------------------------------------------------------------------
def present_on(
    remote: Remote, oids: list[str], jobs: int, expected: dict[str, int] | None = None
) -> set[str]:
    """The subset of `oids` the remote holds, with as few requests as the count allows. With
    `expected` sizes, an object of another size counts as absent: an upload cut short on a
    store that does not write atomically leaves a truncated object, which must be sent again."""
    if not oids:
        return set()
    shards = transfer.prefixes(oids)
    strategy = transfer.choose_strategy(len(oids), len(shards), None)
    if strategy == "exists":
        return _whole(_ask_each(remote, oids, jobs), expected)
    # Listing one needed shard first tells how full the remote is (and is needed anyway).
    first = guard_remote(remote, remote.list_prefix, shards[0])
    wanted = set(oids)
    strategy = transfer.choose_strategy(len(oids), len(shards), len(first))
    if strategy == "exists":
        rest = [o for o in oids if o[:2] != shards[0]]
        found = {o: first[o] for o in wanted & first.keys()} | _ask_each(remote, rest, jobs)
        return _whole(found, expected)
    if strategy == "list-all":
        listed_all = guard_remote(remote, remote.list_all)
        return _whole({o: listed_all[o] for o in wanted & listed_all.keys()}, expected)
    listed = transfer.parallel_calls(
        lambda shard: guard_remote(remote, remote.list_prefix, shard), shards[1:], jobs
    )
    there = dict(first)
    for _, found_in_shard in listed:
        there.update(found_in_shard)  # type: ignore[arg-type]
    return _whole({o: there[o] for o in wanted & there.keys()}, expected)


def _local_sizes(repo: Repo, oids: list[str]) -> dict[str, int]:
    """{object id: size} of those of `oids` in the local cache."""
    return {oid: st[1] for oid in oids if (st := repo.odb.stat(oid)) is not None}  # size


def _ask_each(remote: Remote, oids: list[str], jobs: int) -> dict[str, int | None]:
    answers = transfer.parallel_calls(lambda o: guard_remote(remote, remote.size, o), oids, jobs)
    return {oid: size for oid, size in answers if size is not None}  # type: ignore[misc]


def _whole(found: dict[str, int | None], expected: dict[str, int] | None) -> set[str]:
    """The objects found whose size is the expected one (or unknown on either side). Pure."""
    if not expected:
        return set(found)
    return {
        oid
        for oid, size in found.items()
        if size is None or size < 0 or oid not in expected or expected[oid] == size
    }


# -- push ------------------------------------------------------------------------------------------
# remote: not connected yet; by_oid: everything the selection references; pending: what the
# remote is not remembered to hold; result: the TransferResult so far
_PushStart = namedtuple("_PushStart", "remote by_oid pending result")


def _start_push(
    repo: Repo, sel: Selection, cwd: Path, remote_name: str | None, recheck: bool
) -> _PushStart:
    remote = open_remote(repo.config, remote_name, repo.root, connect=False)
    artifacts = collect(repo, sel, cwd)
    by_oid = _by_oid(artifacts)
    result = TransferResult(str(remote), artifacts=len(artifacts))
    # What this clone pushed to, or found on, the remote before is not asked about again, as
    # Git does not ask about commits its remote-tracking branches already hold: a push with
    # nothing new sends no request at all. `recheck` asks the remote about everything.
    remembered = set() if recheck else repo.state.known_on_remote(remote.key, by_oid)
    result.up_to_date += len(remembered)
    pending = {oid: art for oid, art in by_oid.items() if oid not in remembered}
    return _PushStart(remote, by_oid, pending, result)


def nothing_to_push(
    repo: Repo, sel: Selection, cwd: Path, remote_name: str | None
) -> TransferResult | None:
    """What `push` would report if everything `sel` references is remembered on the remote,
    so that it would send no request; None if it has something to ask about or send."""
    start = _start_push(repo, sel, cwd, remote_name, recheck=False)
    return start.result if not start.pending and not sel.run_cache else None


def push(
    repo: Repo,
    sel: Selection,
    cwd: Path,
    remote_name: str | None,
    jobs: int | None = None,
    recheck: bool = False,
) -> TransferResult:
    _check_jobs(jobs)
    remote, by_oid, pending, result = _start_push(repo, sel, cwd, remote_name, recheck)
    njobs = remote_jobs(repo, remote, jobs)
    if not pending and not sel.run_cache:
        return result
    remote.connect()

    # One check per directory: is its manifest there? If so, so are all its files (`recheck`
    # asks about every file: someone may have deleted some on the remote).
    dirs = [oid for oid in pending if oid.endswith(".dir")]
    dirs_there = present_on(remote, dirs, njobs, _local_sizes(repo, dirs))
    repo.state.forget_on_remote(remote.key, set(dirs) - dirs_there)
    trusted = set() if recheck else dirs_there
    repo.state.mark_on_remote(remote.key, trusted)
    result.up_to_date += len(trusted)
    singles = [oid for oid in pending if not oid.endswith(".dir")]

    owners: dict[str, str] = {}  # object -> the artifact that needs it (for messages)
    not_local: dict[str, list[str]] = defaultdict(list)
    dirs_todo: list[str] = []
    # Objects missing from the local cache are fine when the remote has them already (a clone
    # that never pulled the data can still push its code): ask before calling them lost.
    lacking: dict[str, list[str]] = {}  # file or directory -> the objects the cache lacks
    # A big directory's subdirectory objects (see `artver.cache.tree`): sent after every file
    # and before any root, so that a tree on the remote always has all it lists.
    subtrees: dict[str, str] = {}
    local: dict[str, tuple | None] = {}  # stat in the cache (None: absent); one per object

    def in_cache(oid: str) -> bool:
        if oid not in local:
            local[oid] = repo.odb.stat(oid)
        return local[oid] is not None

    for oid, art in pending.items():
        if oid in trusted:
            continue
        if not in_cache(oid):
            if oid.endswith(".dir"):  # not on the remote either: checked above
                not_local[art.shown].append(oid)
            else:
                lacking[oid] = [oid]
            continue
        if oid.endswith(".dir"):
            members = repo.odb.read_manifest_oids(oid)
            absent = [o for o in members if not in_cache(o)]
            if absent:
                lacking[oid] = absent
                continue
            for member in members:
                (subtrees if member.endswith(".dir") else owners).setdefault(member, art.shown)
            dirs_todo.append(oid)
        else:
            owners.setdefault(oid, art.shown)
    already: set[str] = set()
    if lacking:
        already = present_on(remote, sorted({o for a in lacking.values() for o in a}), njobs)
        for oid, absent in lacking.items():
            shown = by_oid[oid].shown
            if any(o not in already for o in absent):
                not_local[shown].extend(o for o in absent if o not in already)
            elif oid.endswith(".dir"):  # the rest of its files are local: send them, then it
                for member in repo.odb.read_manifest_oids(oid):
                    if member not in already:
                        chosen = subtrees if member.endswith(".dir") else owners
                        chosen.setdefault(member, shown)
                dirs_todo.append(oid)
            else:
                result.up_to_date += 1

    files = sorted(owners)
    known_sizes = {o: st[1] for o in files if (st := local.get(o)) is not None}  # size
    there = present_on(remote, files, njobs, known_sizes)
    result.up_to_date += len(there)
    todo = transfer.missing(files, there)
    sizes = {oid: known_sizes.get(oid) or os.path.getsize(repo.odb.path_of(oid)) for oid in todo}
    # An object whose stat moved since its bytes were last known good is hashed again before
    # it is sent (a workspace file linked to it may have been edited in place).
    stats = {oid: pack(st) if (st := local.get(oid)) else None for oid in todo}
    suspect = set(integrity.suspects(repo, stats))

    def upload(oid: str) -> int:
        path = repo.odb.path_of(oid)
        size = sizes[oid] if oid in sizes else os.path.getsize(path)
        if oid in suspect:
            repo.odb.verify(oid, size)  # CorruptObjectError: counted corrupt, never sent
        remote.upload(path, oid, size)
        return size

    manifests_todo = [d for d in dirs_todo if d not in dirs_there]  # (recheck: some are there)
    subtrees_todo = sorted(set(subtrees) - present_on(remote, sorted(subtrees), njobs))
    total = len(todo) + len(subtrees_todo) + len(manifests_todo)

    def start_bar() -> None:
        repo.progress.start("push", total, sum(sizes.values()))

    try:
        outcome = _batch(repo, remote, todo, upload, njobs, start_bar)
        _raise_stopped(outcome, remote, "pushed", total)
        # Manifests last, and only those whose files all made it: subdirectory objects first.
        failed = set(outcome.missing) | set(outcome.corrupt)
        for level in _by_height(repo, subtrees_todo):  # a subdirectory after its own
            level = [t for t in level if not _any_in(repo, t, failed)]
            sub_outcome = transfer.run_batch(
                level, upload, njobs, repo.progress, classify, _is_corrupt
            )
            _raise_stopped(sub_outcome, remote, "pushed", total, already=len(outcome.done))
            failed |= set(sub_outcome.missing) | set(sub_outcome.corrupt)
            outcome.done += sub_outcome.done
        ready = [d for d in dirs_todo if not _any_in(repo, d, failed)]
        dir_outcome = transfer.run_batch(
            transfer.upload_order([d for d in ready if d in manifests_todo]),
            upload,
            njobs,
            repo.progress,
            classify,
            _is_corrupt,
        )
        _raise_stopped(dir_outcome, remote, "pushed", total, already=len(outcome.done))
    finally:
        repo.progress.finish()
    on_remote = there.union(outcome.done, already)
    complete = {*dir_outcome.done, *(d for d in ready if d in dirs_there)}
    known = complete | {o for o in singles if o in on_remote}
    repo.state.forget_on_remote(remote.key, [o for o in pending if o not in known | trusted])
    repo.state.mark_on_remote(remote.key, known)
    result.transferred = len(outcome.done) + len(dir_outcome.done)
    if sel.run_cache:  # after the outputs they point at, like manifests after their files
        result.runs = _push_runs(repo, remote)
    result.nbytes = sum(sizes.get(o, 0) for o in outcome.done)
    sweep_remote_temps(remote)  # those a killed push left, where the listings met them
    repo.remember_objects()  # push takes no lock: what it verified is remembered here
    if outcome.corrupt:
        # Left where they are: a workspace symlink to one still shows the user's edits, and
        # `fsck --repair` (or the next checkout) moves it aside knowing the workspace paths.
        found = {oid: (owners.get(oid, oid), None) for oid in outcome.corrupt}
        sent = result.transferred
        others = f" ({sent} other object{'s were' if sent > 1 else ' was'})" if sent else ""
        raise integrity.CorruptCacheError(
            found, f"they were not pushed to {remote}{others}", integrity.FSCK_HINT
        )
    if outcome.missing:  # vanished from the cache while we pushed
        for oid in outcome.missing:
            not_local[owners.get(oid, oid)].append(oid)
    if not_local:
        repo.state.forget_complete()  # see checkout: the next add re-checks every object
        raise NotInCacheError(dict(not_local), str(remote), result.transferred)
    return result


def sweep_remote_temps(remote: Remote) -> tuple[int, int]:
    """Delete the stale temp files (see `fsutil.is_stale`) that listing the remote came
    across: (how many, bytes)."""
    if not remote.temps_seen:
        return 0, 0
    import time

    from artver.config import stale_temp_age

    return remote.sweep_temps(time.time(), stale_temp_age())


def _push_runs(repo: Repo, remote: Remote) -> int:
    """Run-cache entries travel with the objects, so a teammate's repro can restore a run."""
    from artver.stages import runcache

    local = runcache.keys(repo.cache_dir)
    if not local:
        return 0
    todo = sorted(local - guard_remote(remote, remote.list_runs))
    for key in todo:
        guard_remote(remote, remote.put_run, key, runcache.read_raw(repo.cache_dir, key))
    return len(todo)


def _fetch_runs(repo: Repo, remote: Remote) -> int:
    from artver.stages import runcache

    todo = sorted(guard_remote(remote, remote.list_runs) - runcache.keys(repo.cache_dir))
    return sum(
        runcache.save_raw(repo.cache_dir, key, guard_remote(remote, remote.get_run, key))
        for key in todo
    )


def _by_height(repo: Repo, oids: list[str]) -> list[list[str]]:
    """Subdirectory objects grouped by how many levels of objects they hold (those with
    none first): sent in that order, an object reaches the remote after everything below it."""
    heights: dict[str, int] = {}

    def height(oid: str) -> int:
        if oid not in heights:
            subs = repo.odb.read_node(oid).subtrees
            heights[oid] = 1 + max((height(d.oid) for d in subs), default=0)
        return heights[oid]

    levels: dict[int, list[str]] = defaultdict(list)
    for oid in oids:
        levels[height(oid)].append(oid)
    return [levels[h] for h in sorted(levels)]


def _any_in(repo: Repo, dir_oid: str, oids: set[str]) -> bool:
    return bool(oids) and any(o in oids for o in repo.odb.read_manifest_oids(dir_oid))


def _is_corrupt(exc: BaseException) -> bool:
    return isinstance(exc, CorruptObjectError)


def _raise_stopped(
    outcome: transfer.Outcome, remote: Remote, verb: str, total: int, already: int = 0
) -> None:
    if outcome.error is None:
        return
    done = already + len(outcome.done)
    note = f"{verb} {done} of {total} objects before it stopped"
    raise translate(outcome.error, remote, note) from None


# -- fetch -----------------------------------------------------------------------------------------
def fetch(
    repo: Repo, sel: Selection, cwd: Path, remote_name: str | None, jobs: int | None = None
) -> TransferResult:
    remote = _remote(repo, remote_name)
    njobs = remote_jobs(repo, remote, jobs)
    with repo.lock("artver fetch"):
        runs = _fetch_runs(repo, remote) if sel.run_cache else 0
        artifacts = collect(repo, sel, cwd)
        result = _fetch(repo, remote, artifacts, njobs)
        result.runs = runs
        return result


def fetch_artifacts(
    repo: Repo, artifacts: list[Artifact], remote_name: str | None = None
) -> TransferResult:
    """Fetch exactly `artifacts` from a remote (default `core.remote`) into the cache, for a
    caller that already holds the repository lock (verify and replay fetching a stage's deps)."""
    remote = _remote(repo, remote_name)
    return _fetch(repo, remote, artifacts, remote_jobs(repo, remote))


def fetch_from(
    repo: Repo, remote: Remote, artifacts: list[Artifact], jobs: int | None = None
) -> TransferResult:
    """Fetch exactly `artifacts` into the cache from `remote`, one the caller opened (another
    repository's, for `artver get` and `import`); the caller holds the repository lock."""
    njobs = remote_jobs(repo, remote, jobs)
    guard_remote(remote, remote.connect)
    return _fetch(repo, remote, artifacts, njobs)


def _download_batch(
    repo: Repo, remote: Remote, oids: list[str], sizes: dict[str, int | None], njobs: int
):
    """Download `oids` into the cache (verified) with one progress bar; sizes may be unknown."""

    def start_bar() -> None:
        repo.progress.start("fetch", len(oids), sum(sizes.get(o) or 0 for o in oids))

    def download(oid: str) -> int:
        return remote.download(oid, sizes.get(oid), repo.odb)

    try:
        return _batch(repo, remote, oids, download, njobs, start_bar)
    finally:
        repo.progress.finish()


def _batch(
    repo: Repo,
    remote: Remote,
    oids: list[str],
    func: Callable[[str], int],
    njobs: int,
    started: Callable[[], None],
) -> transfer.Outcome:
    """`transfer.run_batch`, except that a directory remote's copies, syscalls wrapped in
    Python like `add`'s, are first shared out between forked processes. What they leave (an
    error of any kind) goes to run_batch's threads, which retry, classify and report it.
    `started` runs once the work is under way (start the progress bar there)."""
    forked: list[str] = []
    rest = oids
    if remote.protocol == "file":
        from artver.forked_map import share_out

        def done(oid: str, nbytes: int) -> None:
            forked.append(oid)
            repo.progress.advance(1, nbytes)

        rest = list(share_out(func, oids, njobs, done, started))
    else:
        started()
    outcome = transfer.run_batch(rest, func, njobs, repo.progress, classify, _is_corrupt)
    outcome.done[:0] = forked
    return outcome


def _fetch(repo: Repo, remote: Remote, artifacts: list[Artifact], njobs: int) -> TransferResult:
    odb = repo.odb
    by_oid = _by_oid(artifacts)
    result = TransferResult(str(remote), artifacts=len(artifacts))
    not_there: dict[str, list[str]] = defaultdict(list)
    corrupt: list[str] = []

    # 1. Directory manifests (small): needed to know the files.
    dirs = [o for o in by_oid if o.endswith(".dir")]
    dirs = [d for d in dirs if not (repo.state.is_complete(d) and odb.exists(d))]
    fetch_dirs = [d for d in dirs if not odb.exists(d)]
    outcome = _download_batch(repo, remote, fetch_dirs, {}, njobs)
    _raise_stopped(outcome, remote, "fetched", len(fetch_dirs))
    for d in outcome.missing:
        not_there[by_oid[d].shown].append(d)
    corrupt += outcome.corrupt
    result.transferred += len(outcome.done)
    # A big directory's tree: its subdirectory objects, level by level.
    sub_owner = {d: d for d in dirs}
    fetched_below: set[str] = set()  # directories some of whose tree this fetch brought
    level = _missing_subtrees(odb, dirs, sub_owner)
    while level:
        sub_outcome = _download_batch(repo, remote, level, {}, njobs)
        _raise_stopped(sub_outcome, remote, "fetched", len(level))
        for d in sub_outcome.missing:
            not_there[by_oid[sub_owner[d]].shown].append(d)
            outcome.missing.append(sub_owner[d])
        corrupt += sub_outcome.corrupt
        outcome.missing += [sub_owner[d] for d in sub_outcome.corrupt]
        result.transferred += len(sub_outcome.done)
        fetched_below.update(sub_owner[d] for d in sub_outcome.done)
        level = _missing_subtrees(odb, sub_outcome.done, sub_owner)
    # A manifest on the remote vouches for all its files (it is uploaded last): what push needs
    # to know to leave this directory alone. What the remote turns out to lack, push must send.
    found_there = set(outcome.done)
    lost = set(outcome.missing)

    # 2. Every file object that is not in the cache yet.
    sizes: dict[str, int | None] = {}
    owners: dict[str, str] = {}
    owner_oids: dict[str, str] = {}
    manifests: dict[str, Manifest] = {}
    for oid, art in by_oid.items():
        if oid.endswith(".dir"):
            if oid not in dirs or not odb.exists(oid) or oid in lost:
                continue
            fetched = oid in found_there or oid in fetched_below
            manifests[oid] = _safe_manifest(odb, oid, art.shown, remote, fetched)
            for e in manifests[oid].entries:
                sizes[e.oid] = e.size
                owners.setdefault(e.oid, art.shown)
                owner_oids.setdefault(e.oid, oid)
        else:
            sizes.setdefault(oid, art.size)
            owners.setdefault(oid, art.shown)
            owner_oids.setdefault(oid, oid)
    todo = [o for o in sorted(sizes) if not odb.exists(o)]
    result.up_to_date = len(sizes) - len(todo)
    outcome = _download_batch(repo, remote, todo, sizes, njobs)
    result.transferred += len(outcome.done)
    result.nbytes = sum(sizes[o] or 0 for o in outcome.done)
    _raise_stopped(outcome, remote, "fetched", len(todo) + len(fetch_dirs), already=len(fetch_dirs))
    for oid in outcome.missing:
        not_there[owners[oid]].append(oid)
        lost.add(owner_oids[oid])
    corrupt += outcome.corrupt
    found_there.update(o for o in outcome.done if o in by_oid)
    lost.update(owner_oids.get(o, o) for o in corrupt)
    repo.state.forget_on_remote(remote.key, lost)
    repo.state.mark_on_remote(remote.key, found_there - lost)
    for d, manifest in manifests.items():
        if all(odb.exists(e.oid) for e in manifest.entries):
            repo.state.mark_complete(d)
    if corrupt:
        raise CorruptRemoteError(sorted(corrupt), str(remote))
    if not_there:
        if remote.protocol in ("s3", "gs"):
            remote.check_bucket()
        raise NotOnRemoteError(dict(not_there), str(remote))
    return result


def _missing_subtrees(odb, oids: list[str], owner: dict[str, str]) -> list[str]:
    """The subdirectory objects that the trees `oids` (in the cache) list and the cache lacks;
    each noted in `owner` with the directory it belongs to."""
    found: list[str] = []
    for oid in oids:
        if not odb.exists(oid):
            continue
        try:
            subs = odb.missing_subtrees(oid)
        except (CorruptObjectError, UnsafeManifestError):
            continue  # reading the whole manifest below says what is wrong
        for sub in subs:
            if sub not in owner:
                owner[sub] = owner[oid]
                found.append(sub)
    return found


def _safe_manifest(odb, oid: str, shown: str, remote: Remote, fetched: bool) -> Manifest:
    """The manifest `oid`, or the whole fetch refused when one of its entries is unsafe (see
    `tree.check_entries`): nothing of it is placed, and a manifest this fetch brought from the
    remote leaves the cache again, so that no later command trusts it."""
    try:
        return odb.read_manifest(oid)
    except UnsafeManifestError as exc:
        if fetched:
            unlink_quietly(odb.path_of(oid))
            unlink_quietly(odb.path_of(exc.oid))  # a subdirectory object of its tree
        raise exc.about(shown, f"remote {remote}" if fetched else "the cache") from None


# -- pull ------------------------------------------------------------------------------------------
def pull(
    repo: Repo,
    sel: Selection,
    cwd: Path,
    remote_name: str | None,
    jobs: int | None = None,
    force: bool = False,
):
    """Fetch, then the same checkout `artver checkout` does: of the workspace's pointers, or,
    with exactly one `--rev` (and no --all-*), of the data that revision records.

    A cache object the checkout finds corrupt (see `artver.ops.integrity`) is quarantined by
    it; pull then fetches a verified copy from the remote and checks out again."""
    from artver.ops.checkout import checkout

    at_rev = sel.revs[0] if len(sel.revs) == 1 and not sel.all_branches else None
    if at_rev is not None and not sel.all_commits:
        wanted, rev = sel.with_workspace(False), at_rev
    else:  # what checkout will need (the workspace's pointers), plus any revisions asked for
        wanted, rev = sel.with_workspace(True), None
    fetched = fetch(repo, wanted, cwd, remote_name, jobs)
    try:
        checked = checkout(repo, sel.targets, cwd, force=force, rev=rev)
    except integrity.CorruptCacheError as exc:
        try:
            again = fetch(repo, wanted, cwd, remote_name, jobs)
        except RemoteError as why:  # no good copy there either: the corruption is the news
            source = why.remote or "the remote"
            raise integrity.CorruptCacheError(
                exc.found,
                f"nothing was checked out, and {source} has no good copy",
                "Push a good copy from a clone that has one, or `artver add` the data again if "
                "the workspace holds the bytes you want to keep. Workspace files keep the "
                "bytes they have.",
            ) from None
        fetched.transferred += again.transferred
        fetched.nbytes += again.nbytes
        fetched.repaired = sorted(exc.found)
        checked = checkout(repo, sel.targets, cwd, force=force, rev=rev)
    return fetched, checked
