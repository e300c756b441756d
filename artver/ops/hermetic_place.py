"""Filling and emptying scratch directories fast: a stage's deps are often tens of thousands
of files, and a hermetic run places every one of them and removes them afterwards.

The scratch directory is new and only this process writes to it, so a file is placed by one
call (no temp name and rename: there is nothing to replace), from several threads (the
syscalls release the GIL), with the first link type that works here, remembered.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from artver.cache.links import UNSUPPORTED, reflink
from artver.cache.odb import ObjectStore
from artver.fsutil import DISK_FULL_ERRNOS, disk_full, kernel_copy, unlink_quietly
from artver.workspace import parallel_map


class Placer:
    """Puts cache objects at new paths by the first of `types` ("reflink", "hardlink",
    "copy") that this filesystem accepts. Executables are never hardlinked: the object's
    mode (0444) would be theirs."""

    def __init__(self, store: ObjectStore, types: list[str], jobs: int = 1) -> None:
        self.store = store
        self.types = [t for t in types if t in ("reflink", "hardlink", "copy")]
        if "copy" not in self.types:
            self.types.append("copy")
        self.jobs = jobs
        self._lock = threading.Lock()

    def put(self, oid: str, dest: str, executable: bool = False, size: int | None = None):
        src = self.store.path_of(oid)
        mode = 0o777 if executable else 0o666
        for how in list(self.types):
            if how == "hardlink" and executable:
                continue
            try:
                if how == "reflink":
                    reflink(src, dest, mode)
                elif how == "hardlink":
                    os.link(src, dest)
                else:
                    kernel_copy(src, dest, mode, size)
                return
            except OSError as exc:
                if exc.errno in DISK_FULL_ERRNOS:
                    unlink_quietly(dest)
                    raise disk_full(exc, dest) from None
                if exc.errno not in UNSUPPORTED or how == "copy":
                    raise
                with self._lock:  # not possible here: never tried again in this run
                    if how in self.types:
                        self.types.remove(how)

    def place(self, oid: str, dest: Path, executable: bool = False) -> None:
        """Object `oid` (a file, or a directory's every file) at `dest`."""
        if not oid.endswith(".dir"):
            dest.parent.mkdir(parents=True, exist_ok=True)
            # No size hint: a lock's size is not proof of the object's (old locks lack it).
            self.put(oid, str(dest), executable)
            return
        base = str(dest)
        entries = self.store.read_manifest(oid).entries
        parents = {base}
        for e in entries:
            cut = e.path.rfind("/")
            if cut > 0:
                parents.add(f"{base}/{e.path[:cut]}")
        for parent in sorted(parents):
            os.makedirs(parent, exist_ok=True)
        parallel_map(
            lambda e: self.put(e.oid, f"{base}/{e.path}", e.executable, e.size),
            list(entries),
            self.jobs,
        )


def remove_tree(path: Path, jobs: int = 1) -> None:
    """Delete a scratch directory: its files from several threads, then its directories;
    whatever that cannot remove (a command made something read-only) goes through rmtree."""
    try:
        dirs: list[str] = []
        depth: dict[str, int] = {str(path): 0}
        stack = [str(path)]
        while stack:
            top = stack.pop()
            dirs.append(top)
            with os.scandir(top) as listing:
                below = [e.path for e in listing if e.is_dir(follow_symlinks=False)]
            for sub in below:
                depth[sub] = depth[top] + 1
            stack += below

        def clear(directory: str) -> None:
            with os.scandir(directory) as listing:
                for entry in listing:
                    if not entry.is_dir(follow_symlinks=False):
                        os.unlink(entry.path)

        parallel_map(clear, dirs, jobs)
        # The deepest first; those of one depth at once (each rmdir waits on the journal).
        for level in sorted(set(depth.values()), reverse=True):
            parallel_map(os.rmdir, [d for d in dirs if depth[d] == level], jobs)
    except FileNotFoundError:
        if not os.path.lexists(path):
            return
        _rmtree(path)
    except OSError:
        _rmtree(path)


def _rmtree(path: Path) -> None:
    def writable_again(func, name, _exc) -> None:
        try:
            os.chmod(os.path.dirname(name), 0o755)
            func(name)
        except OSError:
            pass

    import sys

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=writable_again)
    else:  # onerror is deprecated from 3.12 on
        shutil.rmtree(path, onerror=writable_again)
