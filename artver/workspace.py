"""Reading the workspace: walking tracked directories and hashing files, with the state DB.

A file whose (inode, mtime_ns, size) the state DB remembers is never read again; the rest are
hashed in parallel threads (the work is syscalls and C hashing, which release the GIL).
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from artver.cache.hashing import hash_file
from artver.errors import ArtverError, PathError
from artver.progress import NO_PROGRESS, Progress
from artver.state import Known, StateDB

EXEC_BITS = stat_mod.S_IXUSR | stat_mod.S_IXGRP | stat_mod.S_IXOTH


@dataclass(slots=True)
class WsFile:
    rel: str  # relative to the tracked root, posix ("" for a tracked file itself)
    abspath: str
    inode: int
    mtime_ns: int
    size: int
    executable: bool

    @classmethod
    def from_stat(cls, rel: str, abspath: str, st: os.stat_result) -> WsFile:
        return cls(
            rel, abspath, st.st_ino, st.st_mtime_ns, st.st_size, bool(st.st_mode & EXEC_BITS)
        )

    def known(self, oid: str) -> Known:
        return Known(self.inode, self.mtime_ns, self.size, oid)


def _os_error(display: str, exc: OSError) -> ArtverError:
    if exc.errno == errno.ELOOP:
        return PathError(display, "symlink loop")
    if exc.errno == errno.EACCES:
        return PathError(display, "permission denied (cannot read it)")
    return PathError(display, exc.strerror or str(exc))


def stat_path(abspath: str, display: str) -> os.stat_result | None:
    """stat following symlinks; None when nothing is there; a clear error for loops."""
    try:
        return os.stat(abspath)
    except FileNotFoundError:
        if os.path.islink(abspath):
            raise PathError(display, "broken symlink") from None
        return None
    except OSError as exc:
        raise _os_error(display, exc) from None


def scan_tree(root: str, display: str) -> list[WsFile]:
    """Every regular file below `root`, following symlinks; loops are errors."""
    files: list[WsFile] = []
    root_st = os.stat(root)
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
        (root, "", frozenset({(root_st.st_dev, root_st.st_ino)}))
    ]
    while stack:
        dirpath, prefix, ancestors = stack.pop()
        try:
            entries = list(os.scandir(dirpath))
        except OSError as exc:
            raise _os_error(f"{display}/{prefix}".rstrip("/"), exc) from None
        for entry in entries:
            rel = prefix + entry.name
            try:
                st = entry.stat()
            except FileNotFoundError:
                if entry.is_symlink():
                    raise PathError(f"{display}/{rel}", "broken symlink") from None
                continue  # deleted while we looked
            except OSError as exc:
                raise _os_error(f"{display}/{rel}", exc) from None
            if stat_mod.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    raise PathError(f"{display}/{rel}", "symlink loop (links back to a parent)")
                stack.append((entry.path, rel + "/", ancestors | {key}))
            elif stat_mod.S_ISREG(st.st_mode):
                files.append(WsFile.from_stat(rel, entry.path, st))
            else:
                raise PathError(f"{display}/{rel}", "not a regular file or directory")
    return files


def parallel_map(
    func: Callable[[WsFile], str], files: list[WsFile], jobs: int
) -> Iterable[tuple[WsFile, str]]:
    if len(files) <= 1 or jobs <= 1:
        return ((f, func(f)) for f in files)
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(files)))
    try:
        return list(zip(files, pool.map(func, files), strict=True))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class FileHasher:
    """Maps workspace files to their oids, reading only what the state DB does not know."""

    def __init__(self, state: StateDB, jobs: int, progress: Progress = NO_PROGRESS) -> None:
        self.state = state
        self.jobs = jobs
        self.progress = progress

    def oids(
        self,
        files: list[WsFile],
        state_key: Callable[[WsFile], str],
        known: dict[str, Known] | None = None,
        on_miss: Callable[[WsFile], str] | None = None,
        display: Callable[[WsFile], str] | None = None,
    ) -> dict[str, str]:
        """`{file.rel: oid}`. `on_miss` replaces plain hashing (e.g. hash while caching)."""
        result: dict[str, str] = {}
        misses: list[WsFile] = []
        for f in files:
            key = state_key(f)
            hit = known.get(key) if known is not None else self.state.get(key)
            if hit and hit.inode == f.inode and hit.mtime_ns == f.mtime_ns and hit.size == f.size:
                result[f.rel] = hit.oid
            else:
                misses.append(f)
        if not misses:
            return result
        hash_one = on_miss or (lambda f: hash_file(f.abspath, f.size))
        name = display or (lambda f: f.abspath)
        self.progress.start("hashing", len(misses), sum(f.size for f in misses))

        def work(f: WsFile) -> str:
            try:
                oid = hash_one(f)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    raise PathError(name(f), "disappeared while artver was reading it") from None
                raise _os_error(name(f), exc) from None
            self.progress.advance(1, f.size)
            return oid

        fresh = list(parallel_map(work, misses, self.jobs))
        self.progress.finish()
        for f, oid in fresh:
            result[f.rel] = oid
        self.state.save((state_key(f), f.known(oid)) for f, oid in fresh)
        return result
