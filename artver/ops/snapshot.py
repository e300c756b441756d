"""What a tracked path holds right now: its files and their oids, via the state DB."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from artver.cache.hashing import hash_bytes
from artver.cache.tree import FileEntry, Manifest
from artver.errors import PathError
from artver.ignore import TRANSLATION, TreeIgnore, translate
from artver.ops.plan import Change
from artver.repo import Repo
from artver.state import SavedTree
from artver.workspace import (
    EXEC_BITS,
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
        ignore: TreeIgnore | None = None,
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
        self.ignore = ignore  # the .artverignore rules a directory was listed with

    @property
    def files(self) -> list[WsFile]:
        """The files, listed now if the fingerprint answered without them (rarely needed)."""
        if self.listed is None:
            self.listed = scan_tree(str(self.path), self.shown, self.links_within, self.ignore)
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


# What `scan` found: ("file", "dir" or "missing", the files, the ignore rules of a directory).
Scan = tuple[str, list[WsFile], TreeIgnore | None]


def ignore_parser(repo: Repo):
    """Translates an ignore file's text, remembering the translation in the state DB."""
    return lambda rel, text: repo.parse_remembered(f"{TRANSLATION}:{rel}", text, translate)


def tree_ignore(repo: Repo, path: Path, base: str | None = None) -> TreeIgnore:
    """The `.artverignore` rules for the directory `path`, which sits at `base` (default: its
    own place) in the repository."""
    where = repo.rel(path) if base is None else base
    return TreeIgnore(str(repo.root), where, ignore_parser(repo))


def scan(repo: Repo, path: Path, shown: str, ignore: TreeIgnore | None = None) -> Scan:
    """What is at `path`; a directory is listed without what its ignore rules exclude (those
    of its own place, unless `ignore` gives others)."""
    st = stat_path(str(path), shown)
    if st is None:
        return "missing", [], None
    if stat_mod.S_ISDIR(st.st_mode):
        rules = ignore if ignore is not None else tree_ignore(repo, path)
        return "dir", scan_tree(str(path), shown, repo.link_roots, rules), rules
    if stat_mod.S_ISREG(st.st_mode):
        return "file", [WsFile.from_stat("", str(path), st)], None
    raise PathError(shown, "not a regular file or directory")


def tree_fingerprint(files: list[WsFile], path: Path, ignore: TreeIgnore | None) -> str:
    """The stat fingerprint of a listed directory, combined with its ignore files (when any
    was read): editing one changes it even when the files it lets through stay the same."""
    return _with_rules(fingerprint(files, split_point(str(path))), ignore)


def _with_rules(tree_print: str, ignore: TreeIgnore | None) -> str:
    if ignore is None or not ignore.read:
        return tree_print
    return hash_bytes(f"{tree_print}\0{ignore.digest()}".encode())


def take(
    repo: Repo,
    path: Path,
    shown: str,
    on_miss: Callable[[WsFile], str] | None = None,
    scanned: Scan | None = None,
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
    kind, files, ignore = scanned or scan(repo, path, shown)
    hasher = FileHasher(repo.state, repo.config.jobs, repo.progress)
    if kind == "file":
        oids = hasher.oids(files, lambda f: base, None, on_miss, display=lambda f: shown)
        return Snapshot(path, kind, files, oids, read=frozenset(hasher.read_this_time))
    if kind == "missing":
        return Snapshot(path, kind, files, {})
    tree_print = tree_fingerprint(files, path, ignore)
    saved = repo.state.tree(base) if expect is not None else None
    if saved is not None and (saved.fingerprint, saved.oid) == (tree_print, expect):
        return Snapshot(
            path,
            kind,
            files,
            {},
            known_oid=expect,
            shown=shown,
            links_within=repo.link_roots,
            ignore=ignore,
        )
    oids = hasher.oids(
        files,
        lambda f: f"{base}/{f.rel}",
        repo.state.under(base),
        on_miss,
        display=lambda f: f"{shown}/{f.rel}",
    )
    snapshot = Snapshot(
        path, kind, files, oids, read=frozenset(hasher.read_this_time), ignore=ignore
    )
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
    from artver.parallel_scan import MIN_FILES, tree_print

    if saved.nfiles < MIN_FILES:
        return None
    ignore = tree_ignore(repo, path)
    found = tree_print(str(path), saved.nfiles, repo.config.jobs, ignore)
    if found is None or _with_rules(found.fingerprint, ignore) != saved.fingerprint:
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
        ignore=ignore,
    )


def ignored_in_the_way(snapshot: Snapshot, changes: list[Change]) -> list[Change]:
    """`changes` (a checkout's plan for the directory `snapshot` shows) corrected for files
    the ignore rules leave out of the listing but that are still there, where the pointer
    records a file: their content counts as what checkout would overwrite (and could lose),
    and one that already holds the recorded bytes is left alone."""
    if snapshot.ignore is None or not snapshot.ignore.read:
        return changes
    from artver.cache.hashing import hash_file

    fixed = []
    for change in changes:
        if change.old is None and change.new is not None:
            dest = snapshot.path / change.path
            try:
                st = os.stat(dest)
            except (FileNotFoundError, NotADirectoryError):
                st = None
            if st is not None and stat_mod.S_ISREG(st.st_mode):
                found = hash_file(dest, st.st_size)
                same_mode = change.new.executable == bool(st.st_mode & EXEC_BITS)
                if found == change.new.oid and same_mode:
                    continue
                change = Change(change.path, found, change.new)
        fixed.append(change)
    return fixed
