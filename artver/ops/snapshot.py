"""What a tracked path holds right now: its files and their oids, via the state DB."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from artver.cache.hashing import hash_bytes
from artver.cache.odb import ObjectStore
from artver.cache.tree import FileEntry, Manifest, limits
from artver.errors import PathError
from artver.ignore import TRANSLATION, TreeIgnore, translate
from artver.ops.plan import Change
from artver.ops.tree_snapshot import (
    BigTree,
    Ingest,
    directory_stats,
    has_inner_rules,
    take_big,
)
from artver.repo import Repo
from artver.state import SavedTree
from artver.workspace import (
    EXEC_BITS,
    FileHasher,
    TreeTooBig,
    WsFile,
    fingerprint,
    merkle,
    refuse_non_utf8,
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
        big: BigTree | None = None,
        odb: ObjectStore | None = None,
    ) -> None:
        self.path = path
        self.kind = kind  # "file", "dir" or "missing"
        self.listed = listed  # None when the fingerprint answered without a list
        self._oids = oids  # WsFile.rel -> oid; empty when `known_oid` answered for the tree
        self.big = big  # a big directory's tree, answered object by object (`tree_snapshot`)
        self.odb = odb  # where a big directory's objects are
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

    @property
    def oids(self) -> dict[str, str]:
        """{file rel: oid}; of a big directory, read from its tree (the workspace as found)."""
        if not self._oids and self.big is not None:
            self._oids = {e.path: e.oid for e in self.manifest.entries}
        return self._oids

    @cached_property
    def manifest(self) -> Manifest:
        if self.big is not None and self.odb is not None:
            return self.odb.read_manifest(self.big.oid)
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


def scan(
    repo: Repo, path: Path, shown: str, ignore: TreeIgnore | None = None, limit: int = 0
) -> Scan:
    """What is at `path`; a directory is listed without what its ignore rules exclude (those
    of its own place, unless `ignore` gives others). With `limit`, a directory of that many
    files or more is not listed: its kind is "big" (see `artver.ops.tree_snapshot`)."""
    st = stat_path(str(path), shown)
    if st is None:
        return "missing", [], None
    if stat_mod.S_ISDIR(st.st_mode):
        rules = ignore if ignore is not None else tree_ignore(repo, path)
        try:
            return "dir", scan_tree(str(path), shown, repo.link_roots, rules, limit), rules
        except TreeTooBig:
            return "big", [], rules
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
    ingest: Ingest | None = None,
    check_names: Callable[[str, list[str]], None] | None = None,
) -> Snapshot:
    """Hash what is at `path`, reading only files the state DB does not know.

    With `expect` (the oid a pointer records), a directory whose stat fingerprint is the one
    last seen with that oid is answered without looking up a single file: the common case of
    a large tracked directory that did not change.
    `on_miss` replaces plain hashing for files the state DB does not know. A big directory
    (`tree.BIG_TREE` files or more) is answered object by object (`tree_snapshot`); then
    `ingest` brings the files it lists into the cache, and `check_names` may refuse them.
    """
    base = repo.rel(path)
    big = (on_miss, ingest, check_names)
    if scanned is None and expect is not None and expect.endswith(".dir"):
        found = _from_stats(repo, path, shown, base, expect, big)
        if found is not None:
            return found
    kind, files, ignore = scanned or scan(repo, path, shown, limit=limits()[0])
    if kind == "big":
        found = _big(repo, path, shown, base, big)
        if found is not None:
            return found
        kind, files, ignore = scan(repo, path, shown)  # listed whole after all
        if check_names is not None:
            check_names("", [f.rel for f in files])
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
    refuse_non_utf8(shown, [f.rel for f in files])
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


# How `take` treats a big directory: (on_miss, ingest, check_names).
BigOptions = tuple


def _from_stats(
    repo: Repo, path: Path, shown: str, base: str, expect: str, big: BigOptions
) -> Snapshot | None:
    """A large directory last seen as `expect`, proved unchanged by a stat fingerprint taken
    on several cores; or, for a big one, answered object by object. None when that cannot
    tell (the caller then scans it as usual)."""
    saved = repo.state.tree(base)
    if saved is None:
        return None
    is_big = saved.nfiles >= limits()[0]
    from artver.parallel_scan import MIN_FILES, tree_print

    if not is_big and (saved.oid != expect or saved.nfiles < MIN_FILES):
        return None
    if not path.is_dir():
        return None
    ignore = tree_ignore(repo, path)
    if is_big:
        try:
            stats = directory_stats(repo, path, shown, ignore, saved.nfiles)
        except PathError:
            return None  # the ordinary scan says what is wrong
        prints = merkle(stats)
        found_print, nfiles, size = prints[""][:3]
    else:
        found = tree_print(str(path), saved.nfiles, repo.config.jobs, ignore)
        if found is None:
            return None
        found_print, nfiles, size = found[:3]
    fingerprint = _with_rules(found_print, ignore)
    _, ingest, _ = big
    complete = ingest is None or (repo.state.is_complete(expect) and repo.odb.exists(expect))
    if (saved.fingerprint, saved.oid) == (fingerprint, expect) and complete:
        return Snapshot(
            path,
            "dir",
            None,
            {},
            known_oid=expect,
            known_totals=(nfiles, size),
            shown=shown,
            links_within=repo.link_roots,
            ignore=ignore,
        )
    if not is_big or nfiles < limits()[0] or has_inner_rules(ignore, base):
        return None
    return _big_snapshot(repo, path, shown, stats, prints, fingerprint, ignore, big)


def _big(repo: Repo, path: Path, shown: str, base: str, big: BigOptions) -> Snapshot | None:
    """A directory whose scan stopped at `tree.BIG_TREE` files, answered object by object;
    None when it must be listed whole after all (`.artverignore` files inside it)."""
    ignore = tree_ignore(repo, path)
    stats = directory_stats(repo, path, shown, ignore, limits()[0])
    prints = merkle(stats)
    if prints[""][1] < limits()[0] or has_inner_rules(ignore, base):
        return None
    fingerprint = _with_rules(prints[""][0], ignore)
    return _big_snapshot(repo, path, shown, stats, prints, fingerprint, ignore, big)


def _big_snapshot(repo, path, shown, stats, prints, fingerprint, ignore, big) -> Snapshot:
    on_miss, ingest, check_names = big
    tree = take_big(
        repo, path, shown, stats, prints, fingerprint, ignore, on_miss, ingest, check_names
    )
    return Snapshot(
        path,
        "dir",
        None,
        {},
        known_oid=tree.oid,
        known_totals=(tree.nfiles, tree.size),
        shown=shown,
        links_within=repo.link_roots,
        ignore=ignore,
        big=tree,
        odb=repo.odb,
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
