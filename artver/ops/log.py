"""`artver log PATH [--all] [-n N]`: every version of an artifact across Git history.

A version is what the pointer file or the lock of a commit records for the path (or for the
tracked directory that holds it). Only commits whose pointer file or lock blobs differ from
their parent's are read: a commit with the same blob ids holds the same version, so the blobs
are compared by id, never by content, and each distinct set of them is parsed once. What a
commit showed (its parents, the blob ids, the version, its author, dates and subject) is
remembered in the state DB, so the next `log` of the path reads only commits made since.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from artver.errors import PathError, PointerError, UsageError
from artver.history import Commit, RevisionError
from artver.pointer import SUFFIX
from artver.repo import Repo
from artver.stages.lock import LOCK_NAME, LockEntry

LOG_VERSION = 1  # bump when what a remembered commit holds changes


class Version(NamedTuple):
    artifact: str  # the tracked path: PATH, or a tracked directory holding it
    oid: str | None  # None: not tracked at this commit (removed)
    size: int | None = None
    nfiles: int | None = None
    stage: str | None = None  # the stage whose output it is; None for a pointer file
    source: str = ""  # the pointer file or lock that records it

    @property
    def is_dir(self) -> bool:
        return self.oid is not None and self.oid.endswith(".dir")


class Entry(NamedTuple):
    commit: str
    author: str
    email: str
    time: int  # author time
    tz: int  # seconds east of UTC
    subject: str
    version: Version


class LogResult(NamedTuple):
    target: str
    entries: list[Entry]  # newest first
    commits: int  # commits walked
    truncated: bool  # a shallow clone: older history is missing
    scope: str  # "HEAD" or "all refs"


# -- pure parts ------------------------------------------------------------------------------
def ancestors(path: str) -> list[str]:
    """`path` and each directory above it, the longest first."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def key_of(files: dict[str, bytes], path: str) -> str:
    """What decides the path's version at a commit: the blob ids of the pointer files that
    could track it and of every lock. Equal keys, equal versions. Pure."""
    wanted = {a + SUFFIX for a in ancestors(path)}
    return "\n".join(
        f"{p}={blob.decode()}"
        for p, blob in sorted(files.items())
        if p in wanted or posixpath.basename(p) == LOCK_NAME
    )


def new_versions(
    order: list[str], parents: dict[str, list[str]], version: dict[str, Version | None]
) -> list[str]:
    """The commits (in `order`) whose version differs from each of their parents' (a root,
    or a commit whose parents are not in the walk, differs when it tracks the path). Pure."""
    found = []
    for sha in order:
        mine = version[sha]
        known = [p for p in parents[sha] if p in version]
        if known:
            if all(_oid(version[p]) != _oid(mine) for p in known):
                found.append(sha)
        elif mine is not None and mine.oid is not None:
            found.append(sha)
    return found


def _oid(v: Version | None) -> tuple[str, str | None] | None:
    return None if v is None or v.oid is None else (v.artifact, v.oid)


def lock_version(
    rel: str, lock: str, names: list[str], entry: Callable[[str], dict | None], hint: list[str]
) -> Version | None:
    """The version of `rel` (or a directory holding it) that a lock at `lock` records, trying
    the stages in `hint` first (the producer rarely changes from one commit to the next)."""
    base = posixpath.dirname(lock)
    wanted = {a: i for i, a in enumerate(ancestors(rel))}
    for name in [*hint, *(n for n in names if n not in hint)]:
        raw = entry(name)
        if raw is None:
            continue
        for out in LockEntry.from_dict(raw).outs:
            path = posixpath.join(base, out.path) if base else out.path
            if path in wanted and out.oid is not None:
                return Version(path, out.oid, out.size, out.nfiles, name, lock)
    return None


# -- reading history -------------------------------------------------------------------------
def log(
    repo: Repo, target: str, cwd: Path, all_refs: bool = False, limit: int | None = None
) -> LogResult:
    """The versions of `target` (relative to `cwd`) in the commits reachable from HEAD (or
    from every ref), newest first, at most `limit`."""
    from artver.ops.lock_history import Reader, target_path
    from artver.ops.revisions import Revisions

    if limit is not None and limit < 1:
        raise UsageError(f"-n takes a number of versions of at least 1, not {limit}")
    path = target_path(repo, target, cwd)
    remembered = repo.state.log_commits(path)
    with Revisions(repo) as revisions:
        history = revisions.history
        if all_refs:
            tips = list(history.tips(["refs/", "HEAD"]))
        else:
            head = history.head()
            if head is None:
                raise RevisionError("HEAD names no commit: the repository has no commits yet")
            tips = [head]
        walk = _Walk(Reader(revisions), path, remembered)
        order, truncated = walk.run(tips)
        shown = new_versions(order, walk.parents, walk.versions)
        entries = [walk.entry(sha) for sha in shown]
    if walk.fresh:
        repo.state.save_log_commits(path, walk.fresh.items())
    if not entries:
        scope = "any ref" if all_refs else "HEAD"
        raise PathError(
            target,
            f"never tracked by artver in the {len(order)} commits reachable from {scope}",
            hint=None if all_refs else "`--all` also searches every branch and tag.",
        )
    entries.sort(key=lambda e: -walk.times[e.commit])  # stable: ties keep the walk's order
    if limit is not None:
        entries = entries[:limit]
    return LogResult(path, entries, len(order), truncated, "all refs" if all_refs else "HEAD")


class _Walk:
    """Every commit reachable from the tips: parents and version of each, from what the state
    DB remembers, else from Git (a commit's metadata blobs, parsed once per distinct set)."""

    def __init__(self, reader: Any, path: str, remembered: dict[str, Any]) -> None:
        self.reader = reader
        self.path = path
        self.remembered = {s: r for s, r in remembered.items() if r and r[0] == LOG_VERSION}
        self.parents: dict[str, list[str]] = {}
        self.versions: dict[str, Version | None] = {}
        self.times: dict[str, int] = {}
        self.keys: dict[str, str] = {}
        self.by_key: dict[str, Version | None] = {}
        self.infos: dict[str, Any] = {}
        self.fresh: dict[str, Any] = {}
        self.hint: list[str] = []

    def run(self, tips: list[str]) -> tuple[list[str], bool]:
        history = self.reader.history
        order: list[str] = []
        stack = list(reversed(tips))
        truncated = False
        while stack:
            sha = stack.pop()
            if sha in self.parents:
                continue
            row = self.remembered.get(sha)
            if row is not None:
                _, parents, key, version, info, time = row
                self.parents[sha] = list(parents)
                self.keys[sha], self.times[sha] = key, time
                self.versions[sha] = None if version is None else Version(*version)
                self.by_key.setdefault(key, self.versions[sha])
                if info is not None:
                    self.infos[sha] = info
            else:
                self._read(sha)
            order.append(sha)
            if sha in history.shallow:
                truncated = True
                continue
            stack.extend(p for p in reversed(self.parents[sha]) if p not in self.parents)
        return order, truncated

    def _read(self, sha: str) -> None:
        history = self.reader.history
        # Every commit's summary is needed (`log` sorts by commit time); read first, it also
        # gives the header that `parents` and `files` need: one read of the commit.
        info = self._info(sha)
        parents = [] if sha in history.shallow else history.parents(sha)
        files = self.reader.files(sha)
        key = key_of(files, self.path)
        if key not in self.by_key:
            self.by_key[key] = self._version(sha, files)
        version = self.by_key[key]
        self.parents[sha], self.keys[sha], self.versions[sha] = parents, key, version
        self.times[sha] = info[5]
        packed = None if version is None else tuple(version)
        if sha not in history.shallow:  # its parents are unknown here, not absent
            self.fresh[sha] = (LOG_VERSION, tuple(parents), key, packed, info, info[5])

    def _info(self, sha: str) -> tuple:
        if sha not in self.infos:
            author, when, zone, committed, subject = self.reader.history.summary(sha)
            name, _, email = author.partition(" <")
            self.infos[sha] = (name, email.rstrip(">"), when, zone, subject, committed)
        return self.infos[sha]

    def _version(self, sha: str, files: dict[str, bytes]) -> Version | None:
        commit = Commit(sha, sha[:8])
        for artifact in ancestors(self.path):
            pointer = artifact + SUFFIX
            if pointer in files:
                for t in self._pointer(commit, pointer, files[pointer]):
                    if t.path == artifact:
                        return Version(artifact, t.oid, t.size, t.nfiles, None, pointer)
        for lock_path in sorted(p for p in files if posixpath.basename(p) == LOCK_NAME):
            where = f"{lock_path} at commit {sha[:8]}"
            blob = files[lock_path]
            lock = self.reader.lock(blob, lambda b=blob: self.reader.history.blob(b), where)
            found = lock_version(self.path, lock_path, lock.names(), lock.entry, self.hint)
            if found is not None:
                self.hint = [found.stage] if found.stage else []
                return found
        return Version(self.path, None)

    def _pointer(self, commit: Commit, path: str, blob: bytes) -> list[Any]:
        """What a pointer blob records. Parsed here, not through `Revisions` (which remembers
        every blob in the state DB): the commit's whole result is remembered instead."""
        from artver.ops.revisions import pointer_outputs
        from artver.safetext import POINTER_MAX, BadText, decode

        where = f"{path} at commit {commit.sha[:8]}"
        try:
            text = decode(self.reader.history.blob(blob), POINTER_MAX, "pointer")
        except BadText as exc:
            raise PointerError(where, str(exc)) from None
        return pointer_outputs(text, path, where)

    def entry(self, sha: str) -> Entry:
        name, email, time, tz, subject, _ = self._info(sha)
        version = self.versions[sha] or Version(self.path, None)
        return Entry(sha, name, email, time, tz, subject, version)
