"""What a tracked path holds right now: its files and their oids, via the state DB."""

from __future__ import annotations

import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from artver.cache.tree import FileEntry, Manifest
from artver.errors import PathError
from artver.repo import Repo
from artver.workspace import FileHasher, WsFile, fingerprint, scan_tree, stat_path


@dataclass
class Snapshot:
    """A tracked path as found in the workspace."""

    path: Path
    kind: str  # "file", "dir" or "missing"
    files: list[WsFile]
    oids: dict[str, str]  # WsFile.rel -> oid; empty when `known_oid` answered for the tree
    known_oid: str | None = None  # set when the stat fingerprint proved the tree unchanged
    read: frozenset[str] = frozenset()  # rels whose content was read (and, by add, cached)

    @cached_property
    def manifest(self) -> Manifest:
        return Manifest.build(
            FileEntry(f.rel, self.oids[f.rel], f.size, f.executable) for f in self.files
        )

    @property
    def oid(self) -> str | None:
        if self.known_oid is not None:
            return self.known_oid
        if self.kind == "file":
            return self.oids[""]
        if self.kind == "dir":
            return self.manifest.oid
        return None


def scan(repo: Repo, path: Path, shown: str) -> tuple[str, list[WsFile]]:
    st = stat_path(str(path), shown)
    if st is None:
        return "missing", []
    if stat_mod.S_ISDIR(st.st_mode):
        return "dir", scan_tree(str(path), shown)
    if stat_mod.S_ISREG(st.st_mode):
        return "file", [WsFile.from_stat("", str(path), st)]
    raise PathError(shown, "not a regular file or directory")


def take(
    repo: Repo,
    path: Path,
    shown: str,
    on_miss: Callable[[WsFile], str] | None = None,
    scanned: tuple[str, list[WsFile]] | None = None,
    expect: str | None = None,
) -> Snapshot:
    """Hash what is at `path`, reading only files the state DB does not know.

    With `expect` (the oid a pointer records), a directory whose stat fingerprint is the one
    last seen with that oid is answered without looking up a single file: the common case of
    a large tracked directory that did not change.
    `on_miss` replaces plain hashing for files the state DB does not know.
    """
    kind, files = scanned or scan(repo, path, shown)
    base = repo.rel(path)
    hasher = FileHasher(repo.state, repo.config.jobs, repo.progress)
    if kind == "file":
        oids = hasher.oids(files, lambda f: base, None, on_miss, display=lambda f: shown)
        return Snapshot(path, kind, files, oids, read=frozenset(hasher.read_this_time))
    if kind == "missing":
        return Snapshot(path, kind, files, {})
    tree_print = fingerprint(files)
    if expect is not None and repo.state.tree(base) == (tree_print, expect):
        return Snapshot(path, kind, files, {}, known_oid=expect)
    oids = hasher.oids(
        files,
        lambda f: f"{base}/{f.rel}",
        repo.state.under(base),
        on_miss,
        display=lambda f: f"{shown}/{f.rel}",
    )
    snapshot = Snapshot(path, kind, files, oids, read=frozenset(hasher.read_this_time))
    newest = max((f.mtime_ns for f in files), default=0)
    repo.state.save_tree(base, tree_print, snapshot.manifest.oid, newest)
    return snapshot
