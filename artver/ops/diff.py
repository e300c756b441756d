"""`artver diff [A [B]]`: what tracked data changed between two revisions, or between a
revision (default HEAD) and the workspace.

Both sides are maps of tracked paths (pointer files and stage outputs in locks) to versions.
The workspace side is what is on disk now (hashed through the state DB, so unchanged data is
not read), like `git diff` compares against the files, not the index. Inside a directory that
changed, the files are compared through the two `.dir` manifests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from artver.cache.tree import Manifest
from artver.history import Commit
from artver.ops.manifests import ManifestSource
from artver.ops.revisions import WORKSPACE, Revisions, Tracked, tracked_in_workspace
from artver.repo import Repo


@dataclass(frozen=True)
class Version:
    oid: str
    size: int | None

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(".dir")


@dataclass
class Changes:
    """Paths added, deleted, modified and renamed (same content, new path)."""

    added: dict[str, Version] = field(default_factory=dict)
    deleted: dict[str, Version] = field(default_factory=dict)
    modified: dict[str, tuple[Version, Version]] = field(default_factory=dict)
    renamed: dict[str, tuple[str, Version]] = field(default_factory=dict)  # new -> (old, v)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "deleted": len(self.deleted),
            "modified": len(self.modified),
            "renamed": len(self.renamed),
        }

    def __bool__(self) -> bool:
        return any(self.counts().values())


def compare(old: dict[str, Version], new: dict[str, Version]) -> Changes:
    """Changes from `old` to `new`. A deleted and an added path with the same content are a
    rename (paired in path order when content repeats). Pure."""
    changes = Changes()
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path), new.get(path)
        if before is None and after is not None:
            changes.added[path] = after
        elif after is None and before is not None:
            changes.deleted[path] = before
        elif before is not None and after is not None and before.oid != after.oid:
            changes.modified[path] = (before, after)
    gone: dict[str, list[str]] = {}
    for path, version in changes.deleted.items():
        gone.setdefault(version.oid, []).append(path)
    for path, version in list(changes.added.items()):
        candidates = gone.get(version.oid)
        if candidates:
            old_path = candidates.pop(0)
            del changes.added[path]
            del changes.deleted[old_path]
            changes.renamed[path] = (old_path, version)
    return changes


@dataclass
class DirChanges:
    """Inside a modified directory: the file changes, or why they are unknown."""

    changes: Changes | None
    unknown: str | None = None


@dataclass
class DiffResult:
    old: dict[str, Any]
    new: dict[str, Any]
    changes: Changes
    inside: dict[str, DirChanges]  # changed directory -> its file changes

    def summary(self) -> dict[str, int]:
        counts = self.changes.counts()
        for sub in self.inside.values():
            if sub.changes is not None:
                for key, n in sub.changes.counts().items():
                    counts[f"files {key}"] = counts.get(f"files {key}", 0) + n
        return counts


# -- the two sides ---------------------------------------------------------------------------------
class _Side:
    """One side of a diff: versions of tracked paths, and their files when they are dirs."""

    def __init__(self, versions: dict[str, Version]) -> None:
        self.versions = versions

    def files(self, path: str, manifests: ManifestSource) -> dict[str, Version] | str:
        """{relpath: version} inside the directory `path`, or why it is unknown."""
        oid = self.versions[path].oid
        manifest = manifests.get(oid)
        if manifest is None:
            why = f"its manifest {oid} is not in the cache"
            note = manifests.remote_note
            return why + (f" (remote: {note})" if note else " nor on the remote")
        return _versions(manifest)


class _WorkspaceSide(_Side):
    def __init__(self, repo: Repo, tracked: dict[str, Tracked]) -> None:
        from artver.ops.snapshot import take

        self._files: dict[str, dict[str, Version]] = {}
        versions = {}
        for path, item in tracked.items():
            snapshot = take(repo, repo.root / path, path, expect=item.oid)
            oid = snapshot.oid
            if oid is None:
                continue  # not in the workspace: deleted
            size = item.size if oid == item.oid else sum(f.size for f in snapshot.files)
            versions[path] = Version(oid, size)
            if snapshot.kind == "dir" and snapshot.known_oid is None:
                sizes = {f.rel: f.size for f in snapshot.files}
                self._files[path] = {
                    rel: Version(o, sizes.get(rel)) for rel, o in snapshot.oids.items()
                }
        super().__init__(versions)

    def files(self, path: str, manifests: ManifestSource) -> dict[str, Version] | str:
        if path in self._files:
            return self._files[path]
        return super().files(path, manifests)


def _versions(manifest: Manifest) -> dict[str, Version]:
    return {e.path: Version(e.oid, e.size) for e in manifest.entries}


def _rev_side(revisions: Revisions, commit: Commit) -> _Side:
    tracked = revisions.tracked_at(commit)
    return _Side({p: Version(t.oid, t.size) for p, t in tracked.items()})


def _inside(old: dict[str, Version] | str, new: dict[str, Version] | str) -> DirChanges:
    """The file changes between two file maps, or why they are unknown (a string)."""
    if isinstance(old, str) or isinstance(new, str):
        return DirChanges(None, old if isinstance(old, str) else str(new))
    return DirChanges(compare(old, new))


def diff(
    repo: Repo, a: str | None = None, b: str | None = None, remote: str | None = None
) -> DiffResult:
    """Changes from revision `a` (default HEAD) to revision `b` (default: the workspace)."""
    old_rev = a or "HEAD"
    with Revisions(repo) as revisions:
        old_commit = revisions.commit(old_rev)
        new_commit = revisions.commit(b) if b is not None else None
        old_side = _rev_side(revisions, old_commit)
        if new_commit is not None:
            new_side = _rev_side(revisions, new_commit)
        else:
            new_side = _WorkspaceSide(repo, tracked_in_workspace(repo))
    changes = compare(old_side.versions, new_side.versions)
    manifests = ManifestSource(repo, remote)
    inside: dict[str, DirChanges] = {}
    for path, (before, after) in changes.modified.items():
        if before.is_dir and after.is_dir:
            inside[path] = _inside(old_side.files(path, manifests), new_side.files(path, manifests))
    # An added or deleted directory: every file in it was added or deleted.
    for path, version in changes.added.items():
        if version.is_dir:
            inside[path] = _inside({}, new_side.files(path, manifests))
    for path, version in changes.deleted.items():
        if version.is_dir:
            inside[path] = _inside(old_side.files(path, manifests), {})
    old_info = {"rev": old_rev, "commit": old_commit.sha}
    new_info = {"rev": b, "commit": new_commit.sha} if new_commit else {"rev": WORKSPACE}
    return DiffResult(old_info, new_info, changes, inside)
