"""What a tracked path holds right now: its files and their oids, via the state DB."""

from __future__ import annotations

import stat as stat_mod
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from artver.cache.tree import FileEntry, Manifest
from artver.errors import PathError
from artver.repo import Repo
from artver.state import SavedTree
from artver.workspace import (
    FileHasher,
    WsFile,
    fingerprint,
    scan_tree,
    split_point,
    stat_path,
)


# A plain class (a dataclass costs start-up time); no __slots__: `manifest` is cached in __dict__.
class Snapshot:
    """A tracked path as found in the workspace."""

    def __init__(
        self,
        path: Path,
        kind: str,
        listed: list[WsFile] | None,
        oids: dict[str, str],
        known_oid: str | None = None,
        read: frozenset[str] = frozenset(),
        known_totals: tuple[int, int] | None = None,
        shown: str = "",
        links_within: tuple[str, ...] = (),
    ) -> None:
        self.path = path
        self.kind = kind  # "file", "dir" or "missing"
        self.listed = listed  # None when the fingerprint answered without a list
        self.oids = oids  # WsFile.rel -> oid; empty when `known_oid` answered for the tree
        self.known_oid = known_oid  # set when the stat fingerprint proved the tree unchanged
        self.read = read  # rels whose content was read (and, by add, cached)
        self.known_totals = known_totals  # (files, bytes), when known without a list
        self.shown = shown
        self.links_within = links_within  # where symlinks met when listing may lead

    @property
    def files(self) -> list[WsFile]:
        """The files, listed now if the fingerprint answered without them (rarely needed)."""
        if self.listed is None:
            self.listed = scan_tree(str(self.path), self.shown, self.links_within)
        return self.listed

    @property
    def totals(self) -> tuple[int, int]:
        """(number of files, bytes)."""
        if self.known_totals is None:
            self.known_totals = (len(self.files), sum(f.size for f in self.files))
        return self.known_totals

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
        return "dir", scan_tree(str(path), shown, repo.link_roots)
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
    base = repo.rel(path)
    if scanned is None and expect is not None and expect.endswith(".dir"):
        unchanged = _unchanged_tree(repo, path, shown, base, expect)
        if unchanged is not None:
            return unchanged
    kind, files = scanned or scan(repo, path, shown)
    hasher = FileHasher(repo.state, repo.config.jobs, repo.progress)
    if kind == "file":
        oids = hasher.oids(files, lambda f: base, None, on_miss, display=lambda f: shown)
        return Snapshot(path, kind, files, oids, read=frozenset(hasher.read_this_time))
    if kind == "missing":
        return Snapshot(path, kind, files, {})
    tree_print = fingerprint(files, split_point(str(path)))
    saved = repo.state.tree(base) if expect is not None else None
    if saved is not None and (saved.fingerprint, saved.oid) == (tree_print, expect):
        return Snapshot(
            path, kind, files, {}, known_oid=expect, shown=shown, links_within=repo.link_roots
        )
    oids = hasher.oids(
        files,
        lambda f: f"{base}/{f.rel}",
        repo.state.under(base),
        on_miss,
        display=lambda f: f"{shown}/{f.rel}",
    )
    snapshot = Snapshot(path, kind, files, oids, read=frozenset(hasher.read_this_time))
    newest = max((f.mtime_ns for f in files), default=0)
    manifest = snapshot.manifest
    saving = SavedTree(tree_print, manifest.oid, manifest.nfiles, manifest.size)
    repo.state.save_tree(base, saving, newest)
    return snapshot


def _unchanged_tree(repo: Repo, path: Path, shown: str, base: str, expect: str) -> Snapshot | None:
    """A large directory last seen as `expect`, proved unchanged by a stat fingerprint taken
    on several cores; None when that cannot tell (the caller then scans it as usual)."""
    saved = repo.state.tree(base)
    if saved is None or saved.oid != expect:
        return None
    from artver.parallel_scan import tree_print

    found = tree_print(str(path), saved.nfiles, repo.config.jobs)
    if found is None or found.fingerprint != saved.fingerprint:
        return None
    totals = (found.nfiles, found.size)
    return Snapshot(
        path,
        "dir",
        None,
        {},
        known_oid=expect,
        known_totals=totals,
        shown=shown,
        links_within=repo.link_roots,
    )
