"""`artver fsck`: re-hash every object in the cache (and, with a remote, every object there),
check every manifest, and find what the workspace references but the cache lacks.

Every object is read once, on one forked process per core as `add` hashes (a directory remote
too; an object-store remote on threads). The verdicts go through the pure rules of
`artver.ops.fsck_check`; who uses a bad object is named from the workspace's pointers and
locks and, only when something is wrong, from the branch tips and tags (cheap: one tree per
ref, manifests from the cache). `--repair` is in `artver.ops.fsck_repair`.
"""

from __future__ import annotations

import os
from operator import itemgetter

from artver.cache.tree import Manifest
from artver.errors import ArtverError
from artver.ops import fsck_check as rules
from artver.ops.fsck_check import Problem, User
from artver.ops.fsck_scan import check_all, check_remote_all, list_objects, read_manifest
from artver.ops.revisions import Tracked, tracked_in_workspace
from artver.repo import Repo

_OID_SIZE = itemgetter(1, 2)  # (oid, size) of a manifest's FileEntry
# Manifests of more bytes than this take as long to parse as thousands of small objects take
# to read: this process then takes a smaller share of the objects (see fsck_scan.check_all).
HEAVY_MANIFESTS = 256 * 1024


class Checked:
    """What one store held: objects read, their bytes, and how many were manifests."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.objects = 0
        self.bytes = 0
        self.manifests = 0

    def count(self, results: dict[str, object]) -> None:
        self.objects = len(results)
        self.bytes = sum([v for v in results.values() if v.__class__ is int])
        self.manifests = sum(1 for oid in results if oid[-4:] == ".dir")

    def to_dict(self) -> dict:
        return {
            "where": self.where,
            "objects": self.objects,
            "bytes": self.bytes,
            "manifests": self.manifests,
        }


class Report:
    def __init__(self, cache: Checked) -> None:
        self.cache = cache
        self.remote: Checked | None = None
        self.referenced = 0  # objects the workspace references
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        # The verdicts, for the repair: oid -> check result (see fsck_check.judge).
        self.cache_results: dict[str, object] = {}
        self.remote_results: dict[str, object] | None = None

    @property
    def unresolved(self) -> list[Problem]:
        return [p for p in self.problems if not p.repaired]

    @property
    def sound(self) -> bool:
        """Nothing wrong, or everything wrong was repaired."""
        return not self.unresolved

    def to_dict(self) -> dict:
        return {
            "sound": self.sound,
            "cache": self.cache.to_dict(),
            "remote": self.remote.to_dict() if self.remote else None,
            "referenced": self.referenced,
            "problems": [p.to_dict() for p in self.problems],
            "counts": rules.summary_counts(self.problems),
            "repaired": sum(1 for p in self.problems if p.repaired),
            "notes": self.notes,
        }


class _Refs:
    """What the workspace references: its artifacts and the files of its directories."""

    def __init__(self, artifacts: list[Tracked]) -> None:
        self.artifacts = artifacts
        self.dirs = {art.oid for art in artifacts if art.is_dir}
        self.manifests: dict[str, Manifest] = {}  # the sound ones
        self.subtree_oids: set[str] = set()  # the subdirectory objects of big directories

    def check_manifests(self, odb, oids: list[str], results: dict[str, object]) -> None:
        """Check these manifests of the workspace's directories here, keeping the sound ones:
        they are needed to know the files, and parsing one is the check."""
        for oid in oids:
            results[oid], manifest = read_manifest(odb.path_of(oid), oid)
            if manifest is not None:
                self.manifests[oid] = self._whole(odb, manifest) if manifest.subtrees else manifest

    def _whole(self, odb, root: Manifest) -> Manifest:
        """A big directory's files from every object of its tree that is sound (the objects
        themselves are checked with the rest of the cache, and required here)."""
        entries: list = []
        todo = [("", root)]
        while todo:
            prefix, node = todo.pop()
            entries += [e._replace(path=prefix + e.path) for e in node.entries]
            for sub in node.subtrees:
                self.subtree_oids.add(sub.oid)
                _, child = read_manifest(odb.path_of(sub.oid), sub.oid)
                if child is not None:
                    todo.append((f"{prefix}{sub.name}/", child))
        return Manifest(tuple(entries))

    def required(self) -> dict[str, int | None]:
        """{oid: recorded size} of everything referenced (a manifest's own size is unknown)."""
        found: dict[str, int | None] = {}
        for manifest in self.manifests.values():
            found.update(map(_OID_SIZE, manifest.entries))  # in C: 20,000 entries take 1 ms
        for art in self.artifacts:
            found[art.oid] = None if art.is_dir else art.size
        found.update(dict.fromkeys(self.subtree_oids))
        return found

    def users(self, oids: set[str]) -> dict[str, list[User]]:
        found: dict[str, list[User]] = {}
        for art in self.artifacts:
            if art.oid in oids:
                found.setdefault(art.oid, []).append(User(art.path, art.source))
            manifest = self.manifests.get(art.oid)
            for entry in manifest.entries if manifest is not None else ():
                if entry.oid in oids:
                    found.setdefault(entry.oid, []).append(
                        User(f"{art.path}/{entry.path}", art.source)
                    )
        return found


def fsck(repo: Repo, remote_name: str | None = None, repair: bool = False) -> Report:
    """Check the cache, and with `remote_name` every object of that remote too; with
    `repair`, put right what can be (see `artver.ops.fsck_repair`): fetching from that remote,
    else the default one. The repository lock is taken only to repair."""
    remote = None
    if remote_name is not None:  # an unknown remote is refused before anything is read
        from artver.remotes.remote import open_remote

        remote = open_remote(repo.config, remote_name, repo.root)
    if not repair:
        return _check(repo, remote)
    from artver.ops.fsck_repair import repair as do_repair

    with repo.lock("artver fsck --repair"):
        report = _check(repo, remote)
        do_repair(repo, report, remote, remote_name)
        return report


def _check(repo: Repo, remote) -> Report:
    cache_dir = str(repo.cache_dir)
    report = Report(Checked("cache"))
    refs = _Refs([t for t in tracked_in_workspace(repo).values() if t.cached])
    oids, unlisted = list_objects(cache_dir)
    # The workspace's manifests are checked by this process while the others read the rest.
    present = set(oids)
    mine = [oid for oid in refs.dirs if oid in present]
    results: dict[str, object] = {}
    results.update(
        check_all(
            cache_dir,
            [oid for oid in oids if oid not in refs.dirs] if mine else oids,
            repo.config.jobs,
            repo.progress,
            "fsck",
            lambda: refs.check_manifests(repo.odb, mine, results),
            heavy=_manifest_bytes(repo, mine) > HEAVY_MANIFESTS,
        )
    )
    report.cache.count(results)
    required = refs.required()
    report.referenced = len(required)
    problems = rules.diagnose(results, required)
    problems += [
        Problem(rules.UNREADABLE, shard, "cache", f"cannot list the directory {shard}/: {why}")
        for shard, why in unlisted
    ]
    _mark_hazards(repo, refs, problems)
    if problems:
        repo.state.forget_complete()  # no directory may be taken as whole in the cache now
    if remote is not None:
        problems += _check_remote(repo, remote, report, refs)
    _name_users(refs, problems)
    if problems:
        _name_commits(repo, problems, results, report.notes)
    report.problems = problems
    report.cache_results = results
    return report


def _manifest_bytes(repo: Repo, oids: list[str]) -> int:
    total = 0
    for oid in oids:
        try:
            total += os.stat(repo.odb.path_of(oid)).st_size
        except OSError:
            pass
    return total


def _name_users(refs: _Refs, problems: list[Problem]) -> None:
    users = refs.users({p.oid for p in problems})
    for problem in problems:
        problem.users = users.get(problem.oid, [])


def _mark_hazards(repo: Repo, refs: _Refs, problems: list[Problem]) -> None:
    """A corrupt object that a workspace file shares (hardlink) or points at (symlink) was
    most likely changed through that file: name the file."""
    corrupt = [p for p in problems if p.kind in (rules.CORRUPT, rules.TRUNCATED)]
    inodes: dict[str, tuple[int, int]] = {}
    shared = False
    for problem in corrupt:
        try:
            st = os.stat(repo.odb.path_of(problem.oid))
        except OSError:
            continue
        inodes[problem.oid] = (st.st_dev, st.st_ino)
        shared = shared or st.st_nlink > 1
    if not inodes or not (shared or "symlink" in repo.config.link_types):
        return  # no other name for these inodes: nothing in the workspace can be them
    wanted = set(inodes.values())
    rules.mark_hazards(problems, inodes, _workspace_inodes(repo, refs.artifacts, wanted))


def _workspace_inodes(
    repo: Repo, artifacts: list[Tracked], wanted: set[tuple[int, int]]
) -> dict[tuple[int, int], list[tuple[str, bool]]]:
    """(device, inode) -> [(repo-relative path, is a symlink)] of the tracked workspace files
    whose inode (a symlink's target's) is one of `wanted`."""
    found: dict[tuple[int, int], list[tuple[str, bool]]] = {}

    def look(path: str, rel: str, is_link: bool) -> None:
        try:
            st = os.stat(path)
        except OSError:
            return
        key = (st.st_dev, st.st_ino)
        if key in wanted:
            found.setdefault(key, []).append((rel, is_link))

    for art in artifacts:
        top = os.path.join(repo.root, art.path)
        if not art.is_dir:
            look(top, art.path, os.path.islink(top))
            continue
        for folder, _dirs, names in os.walk(top):
            base = os.path.relpath(folder, repo.root).replace(os.sep, "/")
            for name in names:
                path = os.path.join(folder, name)
                look(path, f"{base}/{name}", os.path.islink(path))
    return found


def _check_remote(repo: Repo, remote, report: Report, refs: _Refs) -> list[Problem]:
    """Read every object on the remote once; a manifest there promises all its files."""
    from artver.ops.transfer import guard_remote, remote_jobs

    checked = Checked(f"remote {remote}")
    report.remote = checked
    where = checked.where
    if remote.protocol == "file":
        oids, unlisted = list_objects(remote.root)
        results = check_all(remote.root, oids, repo.config.jobs, repo.progress, "fsck remote")
    else:
        sizes = guard_remote(remote, remote.list_all)
        unlisted = []
        results = check_remote_all(remote, sizes, remote_jobs(repo, remote), repo.progress)
    checked.count(results)
    report.remote_results = results
    promised = rules.promised(
        [(e.oid, e.size) for e in _remote_manifest(remote, oid).entries]
        for oid, verdict in results.items()
        if oid.endswith(".dir") and isinstance(verdict, int)
    )
    problems = rules.diagnose(
        results,
        promised,
        where,
        {**refs.required(), **promised},
        "not there, though a manifest on the remote lists it",
    )
    problems += [
        Problem(rules.UNREADABLE, shard, where, f"cannot list the directory {shard}/: {why}")
        for shard, why in unlisted
    ]
    bad = {p.oid for p in problems}
    if bad:  # push must not trust what it remembers sending there
        dirs = {d for d, m in refs.manifests.items() if any(e.oid in bad for e in m.entries)}
        repo.state.forget_on_remote(remote.key, bad | dirs)
    return problems


def _remote_manifest(remote, oid: str) -> Manifest:
    """A manifest on the remote that proved sound (read again: manifests are few and small
    next to the files they list)."""
    from artver.ops.transfer import guard_remote

    if remote.protocol == "file":
        with open(remote.path_of(oid), "rb") as fobj:
            return Manifest.from_bytes(fobj.read())
    return Manifest.from_bytes(guard_remote(remote, remote.fs.cat_file, remote.path_of(oid)))


def _name_commits(
    repo: Repo, problems: list[Problem], results: dict[str, object], notes: list[str]
) -> None:
    """Name the branches and tags (and a detached HEAD) whose data uses each bad object."""
    from artver.history import Commit
    from artver.ops.revisions import Revisions

    bad = {p.oid for p in problems}
    try:
        with Revisions(repo) as revisions:
            history = revisions.history
            labels: dict[str, list[str]] = {}
            for prefix in ("refs/heads/", "refs/tags/"):
                for sha, name in history.tips([prefix]).items():
                    labels.setdefault(sha, []).append(name)
            head = history.head()
            if head is not None and head not in labels:
                labels[head] = ["HEAD"]
            tracked: list[tuple[str, str, str]] = []
            for sha, names in labels.items():
                items = revisions.tracked_at(Commit(sha, names[0])).values()
                tracked += [(n, t.path, t.oid) for t in items if t.cached for n in names]
    except ArtverError as exc:  # not in Git, an unreadable pointer at some commit...
        notes.append(f"the commits using the bad objects are not named: {exc.message}")
        return
    manifests: dict[str, list[str] | None] = {}
    for _, _, oid in tracked:
        if oid.endswith(".dir") and oid not in manifests:
            manifests[oid] = None
            if isinstance(results.get(oid), int):
                try:
                    manifests[oid] = repo.odb.read_manifest_oids(oid)
                except (OSError, ArtverError):
                    pass
    using = rules.commits_using(bad, tracked, manifests)
    for problem in problems:
        problem.commits = using.get(problem.oid, [])
