"""Directory manifests for commands that read history: from the cache, else from a remote.

A manifest of an old commit is often not in the local cache (its data was never pulled); it is
small, so `diff` and `gc --cloud` fetch just the manifest from the remote (verified) instead of
declaring the directory's content unknown.
"""

from __future__ import annotations

from artver.cache.odb import CorruptObjectError
from artver.cache.tree import Manifest
from artver.errors import ArtverError
from artver.repo import Repo


class ManifestSource:
    """Reads manifests from the cache, falling back to one remote (opened on first need)."""

    def __init__(self, repo: Repo, remote_name: str | None = None, use_remote: bool = True):
        self.repo = repo
        self._remote_name = remote_name
        self.use_remote = use_remote
        self._remote = None
        self._remote_failed: str | None = None
        self._known: dict[str, Manifest | None] = {}

    def get(self, oid: str) -> Manifest | None:
        """The manifest, or None when neither the cache nor the remote has it."""
        if oid not in self._known:
            self._known[oid] = self._local(oid) or self._fetch(oid)
        return self._known[oid]

    def oids(self, dir_oid: str) -> list[str] | None:
        """The object ids the manifest lists (not kept: gc reads thousands of manifests)."""
        if dir_oid in self._known:
            manifest = self._known[dir_oid]
            return None if manifest is None else [e.oid for e in manifest.entries]
        try:
            return self.repo.odb.read_manifest_oids(dir_oid)
        except (FileNotFoundError, CorruptObjectError):
            pass
        manifest = self._fetch(dir_oid)
        return None if manifest is None else [e.oid for e in manifest.entries]

    @property
    def remote_note(self) -> str | None:
        """Why the remote could not be asked, when it could not."""
        return self._remote_failed

    def _local(self, oid: str) -> Manifest | None:
        try:
            return self.repo.odb.read_manifest(oid)
        except (FileNotFoundError, CorruptObjectError):
            return None

    def _fetch(self, oid: str) -> Manifest | None:
        if not self.use_remote or self._remote_failed:
            return None
        if self._remote_name is None and not self.repo.config.get("core.remote"):
            self._remote_failed = "no default remote"
            return None
        from artver.ops.transfer import guard_remote
        from artver.remotes.remote import open_remote

        try:
            if self._remote is None:
                self._remote = open_remote(self.repo.config, self._remote_name, self.repo.root)
            remote = self._remote
            if not guard_remote(remote, remote.exists, oid):
                return None
            guard_remote(remote, remote.download, oid, None, self.repo.odb)
            # A big directory's tree: its subdirectory objects too, level by level.
            while subtrees := self.repo.odb.missing_subtrees(oid):
                for sub in subtrees:
                    if not guard_remote(remote, remote.exists, sub):
                        return None
                    guard_remote(remote, remote.download, sub, None, self.repo.odb)
        except ArtverError as exc:
            self._remote_failed = exc.message
            return None
        return self._local(oid)
