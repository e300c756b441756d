"""Where the objects of a hermetic run come from: the cache first, then the workspace (when
its content is the recorded one), then Git at a revision, then the default remote.

Whatever is found outside the cache is copied into it (never linked: the workspace file
keeps its inode and mode), so that the scratch directory is always filled from the cache at
the recorded oids, and a second run finds everything there.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from artver.cache.hashing import hash_bytes
from artver.errors import ArtverError
from artver.repo import Repo


class MissingDepsError(ArtverError):
    """Deps of a stage that neither the cache, the workspace, Git nor the remote hold."""


# A plain class, not a dataclass: generating one costs start-up time.
class Needed:
    """One artifact a run needs: its repo-relative path, recorded oid and size."""

    __slots__ = ("oid", "path", "size", "stage")

    def __init__(self, stage: str, path: str, oid: str, size: int | None = None) -> None:
        self.stage = stage
        self.path = path
        self.oid = oid
        self.size = size


class Sources:
    """Brings the objects of `Needed` artifacts into the repository's cache.

    `read_git(path)` returns the bytes of a file at the revision the record comes from (None
    when Git has no such file there); `remote` names the remote to fetch the rest from (None:
    the default remote, `core.remote`); `use_remote=False` never contacts one."""

    def __init__(
        self,
        repo: Repo,
        read_git: Callable[[str], bytes | None] | None = None,
        remote: str | None = None,
        use_remote: bool = True,
    ) -> None:
        self.repo = repo
        self.read_git = read_git
        self.remote = remote
        self.use_remote = use_remote
        self._observer = None

    # -- what the cache holds ----------------------------------------------------------------
    def in_cache(self, oid: str) -> bool:
        """The object, and for a directory every file its manifest lists, is in the cache."""
        odb = self.repo.odb
        if not oid.endswith(".dir"):
            return odb.exists(oid)
        if not odb.exists(oid):
            return False
        if self.repo.state.is_complete(oid):
            return True
        complete = all(odb.exists(o) for o in odb.read_manifest_oids(oid))
        if complete:
            self.repo.state.mark_complete(oid)
        return complete

    def ensure(self, needed: list[Needed]) -> None:
        """Every needed artifact in the cache, or one error naming those that are nowhere
        (and the remote that was asked)."""
        todo = [n for n in _unique(needed) if not self.in_cache(n.oid)]
        todo = [n for n in todo if not self._from_workspace(n)]
        todo = [n for n in todo if not self._from_git(n)]
        if todo:
            self._from_remote(todo)

    # -- the workspace -----------------------------------------------------------------------
    def _from_workspace(self, item: Needed) -> bool:
        """Copy the workspace's `item.path` into the cache when it holds the recorded oid."""
        from artver.ops.pipeline import Observer
        from artver.ops.snapshot import take

        if self._observer is None:
            self._observer = Observer(self.repo)
        abspath = self.repo.root / item.path
        if not os.path.lexists(abspath):
            return False
        try:
            if self._observer.oid(item.path, item.oid) != item.oid:
                return False
        except ArtverError:
            return False  # unreadable, a loop, a link out of the repository: not a source
        odb = self.repo.odb
        if not item.oid.endswith(".dir"):
            got, _ = odb.ingest_copy(str(abspath))
            return got == item.oid
        snapshot = take(self.repo, abspath, item.path)
        if snapshot.oid != item.oid:
            return False
        for f in snapshot.files:
            want = snapshot.oids[f.rel]
            if not odb.exists(want) and odb.ingest_copy(f.abspath, f.size)[0] != want:
                return False  # it changed while we copied it
        odb.add_manifest(snapshot.manifest)
        self.repo.state.mark_complete(item.oid)
        return True

    # -- Git ---------------------------------------------------------------------------------
    def _from_git(self, item: Needed) -> bool:
        """A file Git holds at the revision (source code, small inputs): stored when its bytes
        hash to the recorded oid. Directories are not read from Git."""
        if self.read_git is None or item.oid.endswith(".dir"):
            return False
        data = self.read_git(item.path)
        if data is None or hash_bytes(data) != item.oid:
            return False
        self.repo.odb.add_bytes(data, item.oid)
        return True

    # -- the remote --------------------------------------------------------------------------
    def _from_remote(self, todo: list[Needed]) -> None:
        from artver.ops.transfer import Artifact, fetch_artifacts
        from artver.remotes.errors import NoDefaultRemoteError, NotOnRemoteError

        lines = "\n".join(f"  {n.path} ({n.oid}), a dep of stage {n.stage}" for n in todo)
        if not self.use_remote:
            raise MissingDepsError(f"these deps are not in the cache:\n{lines}")
        artifacts = [Artifact(n.path, n.oid, n.size) for n in todo]
        try:
            fetch_artifacts(self.repo, artifacts, self.remote)
        except NoDefaultRemoteError:
            raise MissingDepsError(
                "these deps, at the versions recorded, are not in the cache, the workspace "
                f"or Git, and no default remote is set to fetch them from:\n{lines}",
                hint="Set one with `artver remote default NAME`, or `artver pull` them.",
            ) from None
        except NotOnRemoteError as exc:
            lacking = [n for n in todo if n.path in exc.missing] or todo
            lines = "\n".join(f"  {n.path} ({n.oid}), a dep of stage {n.stage}" for n in lacking)
            raise MissingDepsError(
                "these deps, at the versions recorded, are not in the cache, the workspace "
                f"or Git, nor on remote {exc.remote}:\n{lines}",
                hint="Someone who has them must `artver push` them to that remote.",
            ) from None


def _unique(needed: list[Needed]) -> list[Needed]:
    seen: set[str] = set()
    found = []
    for item in needed:
        if item.oid not in seen:
            seen.add(item.oid)
            found.append(item)
    return found
