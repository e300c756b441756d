"""What a Git revision tracks: pointer files and the stage outputs its `artver.lock` files
record, read from Git's object store (never checked out), and the same for the workspace.

Each blob (a pointer file or a lock at some commit) is parsed once however many commits
carry it, so walking thousands of commits costs one parse per distinct version.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artver import pointer as pointers
from artver.errors import ArtverError
from artver.history import Commit, History, RevisionError, open_history
from artver.repo import PIPELINE_FILE, Repo
from artver.safetext import LOCK_MAX, POINTER_MAX, BadText, decode, read_text
from artver.stages.lock import LOCK_NAME, LockFileError, lock_path_for, parse_lock
from artver.state import MISSING

WORKSPACE = "workspace"


@dataclass(frozen=True)
class Tracked:
    """A path some pointer file or lock records, and the version it records."""

    path: str  # repo-relative, posix
    oid: str
    size: int | None
    nfiles: int | None
    cached: bool = True  # False: a stage output kept in Git (`cache: false`)
    source: str = ""  # the pointer or lock file that records it

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(".dir")


def is_metadata(name: str) -> bool:
    return name.endswith(pointers.SUFFIX) or name in (LOCK_NAME, PIPELINE_FILE)


class Revisions:
    """Reads the tracked artifacts of revisions of one repository."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._history: History | None = None
        self._parsed: dict[bytes, list[Tracked]] = {}
        self._to_remember: list[tuple[str, str, Any]] = []

    @property
    def history(self) -> History:
        if self._history is None:
            from artver.scm import find_git_root

            if find_git_root(self.repo.root) is None:
                raise RevisionError(
                    "this artver repository is not in Git (`init --no-git`): it has no revisions"
                )
            self._history = open_history(self.repo.root, is_metadata)
        return self._history

    def close(self) -> None:
        if self._history is not None:
            self._history.close()
        if self._to_remember:
            self.repo.state.save_parsed_many(self._to_remember)
            self._to_remember = []

    def __enter__(self) -> Revisions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def commit(self, rev: str) -> Commit:
        return Commit(self.history.resolve(rev), rev)

    def commits(
        self,
        revs: list[str],
        all_branches: bool = False,
        all_tags: bool = False,
        all_commits: bool = False,
    ) -> tuple[list[Commit], bool]:
        """The commits a selection names, each once; and whether history was cut short by a
        shallow clone (only possible with `all_commits`)."""
        chosen: dict[str, str] = {}
        for rev in revs:
            chosen.setdefault(self.history.resolve(rev), rev)
        if all_branches:
            for sha, name in self.history.tips(["refs/heads/"]).items():
                chosen.setdefault(sha, name)
        if all_tags:
            for sha, name in self.history.tips(["refs/tags/"]).items():
                chosen.setdefault(sha, name)
        truncated = False
        if all_commits:
            tips = self.history.tips(["refs/", "HEAD"])
            walked, truncated = self.history.walk(tips)
            for sha in walked:
                chosen.setdefault(sha, tips.get(sha) or sha[:8])
        return [Commit(sha, label) for sha, label in chosen.items()], truncated

    # -- what a commit tracks ----------------------------------------------------------------
    def tracked_at(self, commit: Commit) -> dict[str, Tracked]:
        found: dict[str, Tracked] = {}
        for path, blob in self.history.files_at(commit.sha):
            name = posixpath.basename(path)
            if name == PIPELINE_FILE:
                continue
            for item in self._parse(commit, path, blob, name == LOCK_NAME):
                found[item.path] = item
        return found

    def iter_tracked(self, commits: list[Commit]) -> Iterator[tuple[Commit, Tracked]]:
        """(commit, tracked) for every distinct pointer/lock blob (at its path) in the commits."""
        seen: set[tuple[str, bytes]] = set()
        for commit in commits:
            for path, blob in self.history.files_at(commit.sha):
                name = posixpath.basename(path)
                if name == PIPELINE_FILE or (path, blob) in seen:
                    continue
                seen.add((path, blob))
                for item in self._parse(commit, path, blob, name == LOCK_NAME):
                    yield commit, item

    def _parse(self, commit: Commit, path: str, blob: bytes, is_lock: bool) -> list[Tracked]:
        key = blob + path.encode("utf-8", "surrogateescape")
        known = self._parsed.get(key)
        if known is not None:
            return known
        # Blobs never change: what one records is remembered in the state DB for next time.
        remembered_as = f"git-blob:{blob.decode()}:{path}:v2"
        rows = self.repo.state.parsed(remembered_as, "1")
        if rows is not MISSING:
            self._parsed[key] = [Tracked(*row) for row in rows]
            return self._parsed[key]
        where = f"{path} at {commit.label} (commit {commit.sha[:8]})"
        limit, kind = (LOCK_MAX, "lock") if is_lock else (POINTER_MAX, "pointer")
        try:
            text = decode(self.history.blob(blob), limit, kind)
        except BadText as exc:
            if is_lock:
                raise LockFileError(f"invalid lock file {where}: {exc}") from None
            raise pointers.PointerError(where, str(exc)) from None
        parsed = lock_outputs(text, path, where) if is_lock else pointer_outputs(text, path, where)
        self._parsed[key] = parsed
        rows = [(t.path, t.oid, t.size, t.nfiles, t.cached, t.source) for t in parsed]
        self._to_remember.append((remembered_as, "1", rows))
        return parsed

    def read(self, commit: Commit, path: str) -> bytes | None:
        return self.history.read(commit.sha, path)

    def recorded_by(self, commit: Commit, path: str, blob: bytes) -> list[Tracked]:
        """What one pointer file or lock (the blob at `path` in `commit`) records, parsed
        once per blob like everything `tracked_at` reads."""
        return self._parse(commit, path, blob, posixpath.basename(path) == LOCK_NAME)


def pointer_outputs(text: str, rel: str, where: str) -> list[Tracked]:
    """What a pointer file records; `rel` is its repo-relative path."""
    p = pointers.parse(text, Path(rel), where)
    base = posixpath.dirname(rel)
    return [
        Tracked(posixpath.join(base, o.path), o.oid, o.size, o.nfiles, source=rel) for o in p.outs
    ]


def lock_outputs(text: str, rel: str, where: str) -> list[Tracked]:
    """Stage outputs a lock file records (with a content id); `rel` is the lock's path."""
    try:
        entries = parse_lock(text, where)
    except LockFileError as exc:
        raise LockFileError(f"invalid lock file {exc.message}") from None
    base = posixpath.dirname(rel)
    found = []
    for entry in entries.values():
        for rec in entry.outs:
            if rec.oid is None:
                continue
            path = posixpath.join(base, rec.path) if base else rec.path
            found.append(Tracked(path, rec.oid, rec.size, rec.nfiles, rec.cache, rel))
    return found


def tracked_in_workspace(repo: Repo) -> dict[str, Tracked]:
    """What the pointer files and locks on disk record (committed to Git or not)."""
    found: dict[str, Tracked] = {}
    for p in repo.pointers():
        for out in p.outs:
            path = repo.rel(p.data_path(out))
            found[path] = Tracked(path, out.oid, out.size, out.nfiles, source=repo.rel(p.file))
    for pipeline_file in repo.pipeline_files():
        rel = lock_path_for(repo.rel(pipeline_file))
        try:
            text = read_text(repo.root / rel, LOCK_MAX, "lock")
        except FileNotFoundError:
            continue
        except BadText as exc:
            raise LockFileError(f"invalid lock file {rel}: {exc}") from None
        except OSError as exc:
            raise ArtverError(f"cannot read {rel}: {exc.strerror or exc}") from None
        for item in lock_outputs(text, rel, rel):
            found[item.path] = item
    return found


def describe(source: str, commit: Commit | None) -> dict[str, Any]:
    if commit is None:
        return {"rev": WORKSPACE}
    return {"rev": source, "commit": commit.sha}
