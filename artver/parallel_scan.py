"""Telling that a large tracked directory is unchanged, on several cores.

A no-op `status` (or `repro`, or `checkout`) of a 20,000-file directory spends most of its time
in one `stat` per file. Threads cannot share that work: the GIL is handed over on every call,
which makes two threads slower than one. So, like Git's preloaded index but with processes,
the work is shared out between forked children: the subdirectories at the tree's split point,
its top or the first level below it with more than one entry (each child sends back one digest
per subdirectory), and slices of the files there (a flat directory of 20,000 images; each child
sends back their stat numbers). The parent does its own share
meanwhile and combines everything into the tree's fingerprint (`workspace.fingerprint`).

The rules of the `.artverignore` files above the tree and at its split point are applied as
`scan_tree` applies them (the parent reads them; the children inherit them); a tree with an
`.artverignore` deeper inside it is never answered here: the ordinary scan reads and applies
it.

Only digests and numbers cross the pipe, not file lists (sending 10,000 entries back costs
more than it saves). So this answers just one question, "is the tree exactly as last seen?";
any other answer, and any trouble (a symlink loop, a file that vanished, a child that failed),
returns None and the caller scans the tree the ordinary way, which reports errors properly.
"""

from __future__ import annotations

import marshal
import os
import stat as stat_mod
from array import array
from typing import NamedTuple

from artver.config import usable_cores
from artver.errors import PathError
from artver.forked_map import can_fork, fork_child
from artver.fsutil import is_temp_name, met_temp
from artver.ignore import IGNORE_FILE, Scope, TreeIgnore, could_match_any, is_ignored
from artver.workspace import (
    DIR_FLAGS,
    EXEC_BITS,
    DirStat,
    merkle,
    numbers_digest,
    split_point,
    stat_numbers,
)

# Below this many files, forking costs more than it saves.
MIN_FILES = 2_000
# Subdirectories at the tree's split point: (name, path, rel prefix, ancestors' (dev, inode)).
Share = list[tuple[str, str, str, frozenset[tuple[int, int]]]]


class TreePrint(NamedTuple):
    fingerprint: str
    nfiles: int
    size: int
    stats: dict[str, DirStat]  # each directory's own files (`workspace.dir_stats`)


def worker_count(expected_files: int, units: int, cores: int, jobs: int) -> int:
    """How many processes (the caller's included) should share a tree of `units` pieces of
    work (subdirectories, and slices of the files at its top). Pure."""
    if expected_files < MIN_FILES:
        return 1
    return max(1, min(cores, jobs, units, expected_files // (MIN_FILES // 2)))


def slices(items: list, parts: int) -> list[list]:
    """`items` cut into `parts` contiguous pieces of near-equal length, in order. Pure."""
    n = len(items)
    return [items[i * n // parts : (i + 1) * n // parts] for i in range(parts)]


def deal(items: list, workers: int) -> list[list]:
    """Share `items` out round-robin between `workers`. Pure."""
    return [items[i::workers] for i in range(workers)]


def tree_print(
    root: str, expected_files: int, jobs: int, ignore: TreeIgnore | None = None
) -> TreePrint | None:
    """The fingerprint, file count and size of the tree at `root`, computed by up to `jobs`
    processes; None when it cannot be done that way (then scan normally). With `ignore`, what
    the `.artverignore` files above the tree and at its split point exclude is left out, as
    `scan_tree` leaves it out (one deeper inside it: None)."""
    if expected_files < MIN_FILES or not can_fork():
        return None
    listed = _top_level(root, split_point(root), ignore)
    if listed is None:
        return None
    subdirs, loose_rels, loose_paths, scope = listed
    units = len(subdirs) + len(loose_paths) // (MIN_FILES // 2)
    workers = worker_count(expected_files, units, usable_cores(), jobs)
    if workers < 2:
        return None
    work = list(zip(deal(sorted(subdirs), workers), slices(loose_paths, workers), strict=True))
    children: list[tuple[int, int]] = []
    mine = None
    try:
        for share, paths in work[1:]:
            children.append(_spawn(share, paths, scope))  # OSError: no more processes allowed
        mine = _work(*work[0], scope)
    except (OSError, PathError):
        pass  # the ordinary scan will do, and say what is wrong
    finally:
        results = [_collect(*child) for child in children]
    if mine is None or None in results:
        return None
    return _assemble([mine, *results], loose_rels)  # type: ignore[list-item]


def _assemble(results: list[tuple[list, bytes]], loose_rels: list[str]) -> TreePrint:
    """One TreePrint from the workers' results, in the order their shares were dealt."""
    stats: dict[str, DirStat] = {}
    loose_numbers = []
    for their_stats, numbers in results:
        stats.update((row[0], row[1:]) for row in their_stats)
        loose_numbers.append(numbers)
    if loose_rels:
        numbers = array("q", b"".join(loose_numbers))
        digest = numbers_digest(numbers.tobytes(), loose_rels)
        split = loose_rels[0].rpartition("/")[0]
        stats[split] = (digest, len(loose_rels), sum(numbers[2::4]), max(numbers[1::4]))
    top = merkle(stats)[""]
    return TreePrint(top[0], top[1], top[2], stats)


def _top_level(
    root: str, split: str, ignore: TreeIgnore | None
) -> tuple[Share, list[str], list[str], Scope] | None:
    """The subdirectories at the tree's split point, and the rels and paths of the files there
    (not stat'ed yet: their stats are shared out too), less what the ignore rules exclude;
    and the rules for below it. None when something there needs the ordinary scan."""
    scope = ignore.outer if ignore is not None else ()
    if scope and any(is_ignored(scope, split[: i + 1].rstrip("/"), True) for i in _slashes(split)):
        return None  # the split point lies in an ignored directory: nothing is left
    rules_here = False
    try:
        base = root
        ancestors = {_key(os.stat(root))}
        for part in split.split("/")[:-1]:  # the directories between the root and the split
            base = os.path.join(base, part)
            ancestors.add(_key(os.stat(base)))
        above = frozenset(ancestors)
        subdirs: Share = []
        rels: list[str] = []
        paths: list[str] = []
        with os.scandir(base) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):  # from the listing: no stat
                    rules_here = rules_here or entry.name == IGNORE_FILE
                    rels.append(split + entry.name)
                    paths.append(entry.path)
                    continue
                st = entry.stat()  # a directory or a symlink: followed, as scan_tree does
                if stat_mod.S_ISREG(st.st_mode):
                    rules_here = rules_here or entry.name == IGNORE_FILE
                    rels.append(split + entry.name)
                    paths.append(entry.path)
                elif stat_mod.S_ISDIR(st.st_mode):
                    if _key(st) in above:
                        return None
                    prefix = f"{split}{entry.name}/"
                    subdirs.append((entry.name, entry.path, prefix, above | {_key(st)}))
                else:
                    return None
        if rules_here:  # read here, where the state DB is: the children get its rules
            if ignore is None:
                return None
            scope = ignore.inner(base, split, scope)
    except (OSError, PathError):
        return None
    if _may_hold_temps(paths):
        kept = [i for i, path in enumerate(paths) if not _is_temp(path.rpartition("/")[2], path)]
        rels, paths = [rels[i] for i in kept], [paths[i] for i in kept]
    if scope:
        kept = [i for i, rel in enumerate(rels) if not is_ignored(scope, rel, False)]
        rels, paths = [rels[i] for i in kept], [paths[i] for i in kept]
        subdirs = [d for d in subdirs if not is_ignored(scope, d[2][:-1], True)]
    return subdirs, rels, paths, scope


def _slashes(split: str) -> list[int]:
    return [i for i, char in enumerate(split) if char == "/"]


def _may_hold_temps(names: list[str]) -> bool:
    """Whether a name in `names` ends in `.tmp`, told at C speed (a join, not a loop): this
    runs for every directory of every no-op check."""
    joined = "\0".join(names)
    return ".tmp\0" in joined or joined.endswith(".tmp")


def _is_temp(name: str, path: str) -> bool:
    """A temp file of artver's is no file of the tree (as in `scan_subtree`); deleted when
    stale."""
    if not is_temp_name(name):
        return False
    met_temp(path)
    return True


def _key(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _work(share: Share, paths: list[str], scope: Scope = ()) -> tuple[list, bytes]:
    """The DirStat rows (directory first) of every directory in the subtrees of `share`, and
    the stat numbers of the top-level files at `paths`."""
    stats: list = []
    for _, path, prefix, ancestors in share:
        stats += _subtree_stats(path, prefix, ancestors, scope)
    numbers = array("q")
    for path in paths:
        st = os.stat(path)
        if not stat_mod.S_ISREG(st.st_mode):
            raise PathError(path, "not a regular file")  # replaced since it was listed
        numbers.extend(stat_numbers(st))
    return stats, numbers.tobytes()


def _subtree_stats(
    top: str, prefix: str, ancestors: frozenset[tuple[int, int]], scope: Scope = ()
) -> list[tuple[str, str, int, int, int]]:
    """(directory, digest, files, bytes, newest mtime) of each directory under `top` that
    holds files: what `workspace.dir_stats(scan_subtree(...))` finds, without building a
    `WsFile` per file (a fifth of the time of a no-op check). Anything `scan_subtree` would
    report or skip raises, so that the ordinary scan runs and says what is wrong. What
    `scope` ignores is left out as `scan_subtree` leaves it out; only names that some line
    could match are decided in full."""
    could_match = could_match_any(scope) if scope else None
    found: list[tuple[str, str, int, int, int]] = []
    stat = os.stat
    stack = [(top, prefix, ancestors)]
    while stack:
        dirpath, prefix, ancestors = stack.pop()
        numbers = array("q")
        add_numbers = numbers.extend
        rels: list[str] = []
        add_rel = rels.append
        dir_fd = os.open(dirpath, DIR_FLAGS)
        try:
            names = os.listdir(dir_fd)
            if _may_hold_temps(names):
                names = [n for n in names if not _is_temp(n, f"{dirpath}/{n}")]
            if IGNORE_FILE in names:  # its rules change what the tree holds: scan the usual way
                raise PathError(f"{prefix}{IGNORE_FILE}", "an ignore file")
            check: tuple | set = ()
            if scope:  # a dir's name is matched with its `/`: this finds file and dir lines
                check = (
                    set(names)
                    if could_match is None
                    else {n for n in names if could_match(n + "/")}
                )
            for name in names:
                st = stat(name, dir_fd=dir_fd)
                mode = st.st_mode
                if stat_mod.S_IFMT(mode) == stat_mod.S_IFREG:
                    if name in check and is_ignored(scope, prefix + name, False):
                        continue
                    add_numbers((st.st_ino, st.st_mtime_ns, st.st_size, mode & EXEC_BITS != 0))
                    add_rel(prefix + name)
                elif stat_mod.S_ISDIR(mode) and _key(st) not in ancestors:
                    if name in check and is_ignored(scope, prefix + name, True):
                        continue
                    stack.append((f"{dirpath}/{name}", f"{prefix}{name}/", ancestors | {_key(st)}))
                else:
                    raise PathError(f"{prefix}{name}", "a loop or not a regular file")
        finally:
            os.close(dir_fd)
        if rels:
            digest = numbers_digest(numbers.tobytes(), rels)
            row = (prefix[:-1], digest, len(rels), sum(numbers[2::4]), max(numbers[1::4]))
            found.append(row)
    return found


def _spawn(share: Share, paths: list[str], scope: Scope = ()) -> tuple[int, int]:
    """Fork a child that writes what `_work` finds to a pipe; returns (pid, read end)."""

    def produce(write) -> None:
        _let_go_of_std_streams()
        write(marshal.dumps(_work(share, paths, scope)))

    return fork_child(produce)


def _let_go_of_std_streams() -> None:
    """A scanning child closes its copies of stdin, stdout and stderr at once: whoever reads
    the command's output through a pipe must see it end when the command ends, even if a
    child is still at work."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _collect(pid: int, read_end: int) -> tuple[list, bytes] | None:
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
