"""`artver status -c/--cloud`: which of the workspace's data is not on the remote, or not in
the cache, or in neither (lost). Asks the remote with the same batched listing push uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from artver.cache.odb import CorruptObjectError
from artver.repo import Repo

IN_SYNC, NOT_ON_REMOTE, NOT_IN_CACHE, LOST = "in sync", "not on remote", "not in cache", "lost"


@dataclass
class CloudStatus:
    path: str  # as shown to the user
    oid: str
    objects: int  # the artifact's objects: a file's one, or a directory's files + manifest
    not_on_remote: list[str] = field(default_factory=list)  # in the cache only: push them
    not_in_cache: list[str] = field(default_factory=list)  # on the remote only: pull them
    lost: list[str] = field(default_factory=list)  # in neither
    files_unknown: bool = False  # the manifest is in neither: its files cannot be listed

    @property
    def state(self) -> str:
        return state_of(self)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "oid": self.oid,
            "state": self.state,
            "objects": self.objects,
            "not_on_remote": len(self.not_on_remote),
            "not_in_cache": len(self.not_in_cache),
            "lost": len(self.lost),
            "files_unknown": self.files_unknown,
        }


def classify(oids: list[str], in_cache: set[str], on_remote: set[str]) -> dict[str, list[str]]:
    """Each object by where it is: {"not on remote": [...], "not in cache": [...], "lost":
    [...]} (objects in both are not listed). Pure."""
    found: dict[str, list[str]] = {NOT_ON_REMOTE: [], NOT_IN_CACHE: [], LOST: []}
    for oid in oids:
        cached, there = oid in in_cache, oid in on_remote
        if cached and not there:
            found[NOT_ON_REMOTE].append(oid)
        elif there and not cached:
            found[NOT_IN_CACHE].append(oid)
        elif not cached and not there:
            found[LOST].append(oid)
    return found


def state_of(status: CloudStatus) -> str:
    """The worst of an artifact's objects, in the order that matters to its owner: lost, then
    not pushed, then not fetched. Pure."""
    if status.lost or status.files_unknown:
        return LOST
    if status.not_on_remote:
        return NOT_ON_REMOTE
    if status.not_in_cache:
        return NOT_IN_CACHE
    return IN_SYNC


def cloud_status(
    repo: Repo, targets: list[str], cwd: Path, remote_name: str | None, jobs: int | None = None
) -> tuple[str, list[CloudStatus]]:
    """(the remote as shown, the status of each artifact the targets name: every pointer and
    recorded stage output by default)."""
    from artver.ops.targets import resolve
    from artver.ops.transfer import guard_remote, present_on, remote_jobs
    from artver.remotes.remote import open_remote

    remote = open_remote(repo.config, remote_name, repo.root, connect=False)
    found = resolve(repo, targets, cwd)
    guard_remote(remote, remote.connect)
    jobs = remote_jobs(repo, remote, jobs)
    objects: dict[str, list[str]] = {}
    unknown: set[str] = set()
    for target in found:
        objects[target.out.oid] = [target.out.oid]
    on_remote_dirs: set[str] = set()
    dirs = [oid for oid in objects if oid.endswith(".dir")]
    if dirs:
        on_remote_dirs = present_on(remote, dirs, jobs)
    for oid in dirs:
        files = _manifest_files(repo, remote, oid, oid in on_remote_dirs)
        if files is None:
            unknown.add(oid)
        else:
            objects[oid] += files
    every = sorted({o for oids in objects.values() for o in oids})
    in_cache = {o for o in every if repo.odb.stat(o) is not None}
    on_remote = present_on(remote, every, jobs)
    result = []
    for target in found:
        oids = objects[target.out.oid]
        where = classify(oids, in_cache, on_remote)
        result.append(
            CloudStatus(
                target.shown,
                target.out.oid,
                len(oids),
                where[NOT_ON_REMOTE],
                where[NOT_IN_CACHE],
                where[LOST],
                target.out.oid in unknown,
            )
        )
    return str(remote), result


def _manifest_files(repo: Repo, remote, oid: str, on_remote: bool) -> list[str] | None:
    """The file objects of directory `oid`, from its manifest in the cache or else on the
    remote (read, checked, not stored); None when neither has a sound one."""
    from artver.cache.tree import Manifest
    from artver.ops.transfer import guard_remote

    try:
        return sorted({e.oid for e in repo.odb.read_manifest(oid).entries})
    except (FileNotFoundError, CorruptObjectError, ValueError):
        pass
    if not on_remote:
        return None
    from artver.cache.hashing import hash_bytes

    data = guard_remote(remote, remote.fs.cat_file, remote.path_of(oid))
    if hash_bytes(data) + ".dir" != oid:
        return None
    try:
        return sorted({e.oid for e in Manifest.from_bytes(data).entries})
    except ValueError:
        return None
