"""Telling that a large tracked directory is unchanged, on several cores.

A no-op `status` (or `repro`, or `checkout`) of a 20,000-file directory spends most of its time
in one `stat` per file. Threads cannot share that work: the GIL is handed over on every call,
which makes two threads slower than one. So, like Git's preloaded index but with processes,
the top-level subdirectories are shared out between forked children, each of which stats its
share and sends back one digest per subdirectory; the parent does its own share meanwhile and
combines the digests into the tree's fingerprint (`workspace.fingerprint`).

Only the fingerprint crosses the pipe, not the file list (sending 10,000 entries back costs
more than it saves). So this answers just one question, "is the tree exactly as last seen?";
any other answer, and any trouble (a symlink loop, a file that vanished, a child that failed),
returns None and the caller scans the tree the ordinary way, which reports errors properly.
"""

from __future__ import annotations

import marshal
import os
import stat as stat_mod
from typing import NamedTuple

from artver.errors import PathError
from artver.workspace import WsFile, combine_groups, group_digest, scan_subtree

# Below this many files, forking costs more than it saves.
MIN_FILES = 2_000
# Subdirectories; each is one top-level entry of the tree: (name, path, ancestors).
Share = list[tuple[str, str, frozenset[tuple[int, int]]]]


class TreePrint(NamedTuple):
    fingerprint: str
    nfiles: int
    size: int


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count(expected_files: int, subdirs: int, cores: int, jobs: int) -> int:
    """How many processes (the caller's included) should share a tree. Pure."""
    if expected_files < MIN_FILES:
        return 1
    return max(1, min(cores, jobs, subdirs, expected_files // (MIN_FILES // 2)))


def deal(items: list, workers: int) -> list[list]:
    """Share `items` out round-robin between `workers`. Pure."""
    return [items[i::workers] for i in range(workers)]


def can_fork() -> bool:
    """Forking is only safe while this process runs a single thread (a lock held by another
    thread would stay locked forever in the child)."""
    import threading

    return hasattr(os, "fork") and threading.active_count() == 1


def tree_print(root: str, expected_files: int, jobs: int) -> TreePrint | None:
    """The fingerprint, file count and size of the tree at `root`, computed by up to `jobs`
    processes; None when it cannot be done that way (then scan normally)."""
    if expected_files < MIN_FILES or not can_fork():
        return None
    try:
        root_st = os.stat(root)
        top = frozenset({(root_st.st_dev, root_st.st_ino)})
        loose: list[WsFile] = []
        subdirs: Share = []
        with os.scandir(root) as entries:
            for entry in entries:
                st = entry.stat()  # following symlinks, as scan_tree does
                if stat_mod.S_ISREG(st.st_mode):
                    loose.append(WsFile.from_stat(entry.name, entry.path, st))
                elif stat_mod.S_ISDIR(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if key in top:
                        return None
                    subdirs.append((entry.name, entry.path, top | {key}))
                else:
                    return None
    except OSError:
        return None
    workers = worker_count(expected_files, len(subdirs), usable_cores(), jobs)
    if workers < 2:
        return None
    shares = deal(sorted(subdirs), workers)
    children: list[tuple[int, int]] = []
    mine = None
    try:
        for share in shares[1:]:
            children.append(_spawn(share))  # OSError when the system allows no more processes
        mine = _digests(shares[0])
    except (OSError, PathError):
        pass  # the ordinary scan will do, and say what is wrong
    finally:
        results = [_collect(*child) for child in children]
    if mine is None or None in results:
        return None
    groups, nfiles, size = mine
    if loose:
        groups.append(("", group_digest(loose)))
        nfiles += len(loose)
        size += sum(f.size for f in loose)
    for their_groups, their_files, their_size in results:  # type: ignore[misc]
        groups += their_groups
        nfiles += their_files
        size += their_size
    return TreePrint(combine_groups(groups), nfiles, size)


def _digests(share: Share) -> tuple[list[tuple[str, str]], int, int]:
    groups: list[tuple[str, str]] = []
    nfiles = size = 0
    for name, path, ancestors in share:
        files = scan_subtree(path, name + "/", ancestors, name)
        if files:
            groups.append((name, group_digest(files)))
            nfiles += len(files)
            size += sum(f.size for f in files)
    return groups, nfiles, size


def _spawn(share: Share) -> tuple[int, int]:
    """Fork a child that writes its share's digests to a pipe; returns (pid, read end)."""
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # the child: never return into the caller's code
        status = 1
        try:
            os.close(read_end)
            data = memoryview(marshal.dumps(_digests(share)))
            while data:
                data = data[os.write(write_end, data) :]
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _collect(pid: int, read_end: int) -> tuple[list[tuple[str, str]], int, int] | None:
    chunks = []
    try:
        while chunk := os.read(read_end, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    return marshal.loads(b"".join(chunks))
