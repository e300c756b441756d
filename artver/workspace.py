"""Reading the workspace: walking tracked directories and hashing files, with the state DB.

A file whose (inode, mtime_ns, size) the state DB remembers is never read again; the rest are
hashed in parallel threads (the work is syscalls and C hashing, which release the GIL).
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod
from array import array
from collections.abc import Callable
from itertools import chain, groupby, islice
from operator import itemgetter
from typing import NamedTuple, TypeVar

from artver.cache.hashing import hash_bytes, hash_file
from artver.errors import ArtverError, PathError
from artver.fsutil import is_temp_name, met_temp
from artver.ignore import IGNORE_FILE, TreeIgnore, is_ignored, keep
from artver.progress import NO_PROGRESS, Progress
from artver.state import Known, StateDB

T = TypeVar("T")
R = TypeVar("R")
EXEC_BITS = stat_mod.S_IXUSR | stat_mod.S_IXGRP | stat_mod.S_IXOTH
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class WsFile(NamedTuple):
    """A workspace file as stat saw it. A tuple, because large trees make 100,000s of them."""

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


def fingerprint(files: list[WsFile], split: str = "") -> str:
    """One hash of every file's (path, inode, mtime, size, exec bit): equal fingerprints mean
    the state DB's per-file answers would all be hits, so the whole tree is unchanged.

    It is a Merkle tree of the directories (`merkle`), so that parts of a tree can be
    fingerprinted apart, in other processes (`artver.parallel_scan`), and a big directory's
    subdirectories compared one by one. `split` is accepted for older callers; the result
    does not depend on it."""
    return merkle(dir_stats(files))[""][0]


# Of one directory's own files (not its subdirectories'): (digest of their stat numbers and
# paths in scan order, how many, their bytes, the newest mtime).
DirStat = tuple[str, int, int, int]
# Of one directory with everything below it: (fingerprint, files, bytes, newest mtime).
DirPrint = tuple[str, int, int, int]


def dir_stats(files: list[WsFile]) -> dict[str, DirStat]:
    """{directory (relative to the tree, "" for its top): DirStat} of a listed tree, whose
    files `scan_tree` lists directory by directory."""
    found: dict[str, list[WsFile]] = {}
    for key, members in groupby(files, key=_dir_of):
        found.setdefault(key, []).extend(members)
    return {key: stat_of_dir(members) for key, members in found.items()}


def _dir_of(file: WsFile) -> str:
    return file.rel.rpartition("/")[0]


def stat_of_dir(files: list[WsFile]) -> DirStat:
    """The DirStat of one directory's own files, in scan order."""
    numbers = array(  # inode, mtime_ns, size, executable of each, gathered in C
        "q", chain.from_iterable(map(itemgetter(2, 3, 4, 5), files))
    )
    newest = max(numbers[1::4], default=0)
    size = sum(numbers[2::4])
    return numbers_digest(numbers.tobytes(), [f.rel for f in files]), len(files), size, newest


def merkle(stats: dict[str, DirStat]) -> dict[str, DirPrint]:
    """{directory: DirPrint} for every directory holding files at any depth (the top "" always),
    from each one's own DirStat: a directory's fingerprint hashes its own digest and its
    subdirectories' names and fingerprints, so it changes exactly when something below it
    does. Pure."""
    everything = set(stats)
    for rel in stats:
        cut = rel.rfind("/")
        while cut > 0 and rel[:cut] not in everything:
            everything.add(rel[:cut])
            cut = rel.rfind("/", 0, cut)
    everything.add("")
    children: dict[str, list[str]] = {}
    for rel in everything:
        if rel:
            children.setdefault(rel.rpartition("/")[0], []).append(rel)
    prints: dict[str, DirPrint] = {}
    for rel in sorted(everything, key=lambda r: r.count("/") + (r != ""), reverse=True):
        digest, nfiles, size, newest = stats.get(rel, ("", 0, 0, 0))
        lines = [digest]
        for child in sorted(children.get(rel, ())):
            fp, n, b, t = prints[child]
            lines.append(f"{child.rpartition('/')[2]}\0{fp}")
            nfiles, size, newest = nfiles + n, size + b, max(newest, t)
        text = "\n".join(lines).encode("utf-8", "surrogateescape")
        prints[rel] = (hash_bytes(text), nfiles, size, newest)
    return prints


def split_point(root: str) -> str:
    """Where a tree's fingerprint is cut into groups: at its top ("") or, while a directory
    holds nothing but one subdirectory, below it ("images/" for data/images/...), so that such
    a tree still has parts to share out. Read from directory listings, never from a file list,
    so that one process and several cut a tree alike."""
    split, path = "", root
    while True:
        try:
            with os.scandir(path) as listing:  # temp files of artver's are no entries
                first_two = list(islice((e for e in listing if not is_temp_name(e.name)), 2))
        except OSError:
            return split
        if len(first_two) != 1 or not first_two[0].is_dir(follow_symlinks=False):
            return split
        split += first_two[0].name + "/"
        path = first_two[0].path


def stat_numbers(st: os.stat_result) -> tuple[int, int, int, bool]:
    """What the fingerprint takes from a file's stat, in `WsFile`'s order."""
    return st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode & EXEC_BITS != 0


def numbers_digest(numbers: bytes, rels: list[str]) -> str:
    """A group's digest from its files' stat numbers (int64s, 4 per file) and rels."""
    return hash_bytes(numbers + b"\0" + "\0".join(rels).encode("utf-8", "surrogateescape"))


def refuse_non_utf8(shown: str, rels: list[str]) -> None:
    """A clear error for the first file of the directory `shown` whose name is not valid
    UTF-8: manifests are UTF-8 JSON, so such a file cannot be recorded."""
    if "\n".join(rels).isascii():  # one check for the usual all-ASCII tree
        return
    for rel in rels:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            raise PathError(
                f"{shown}/{rel.encode('utf-8', 'surrogateescape')!r}",
                "the file name is not valid UTF-8; rename it to track it",
            ) from None


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


def link_leads_out(path: str, within: tuple[str, ...]) -> str | None:
    """Where the symlink at `path` leads, when that is outside every directory of `within`
    (resolved paths); None when it stays inside one."""
    real = os.path.realpath(path)
    if any(real == top or real.startswith(top + os.sep) for top in within):
        return None
    return real


def outside_link_error(display: str, real: str) -> PathError:
    return PathError(
        display,
        f"is a symbolic link that leads outside the repository (to {real}); artver never "
        "follows a link out of the repository",
        hint="Copy the data into the repository, or track it where it is with its own repository.",
    )


class TreeTooBig(Exception):
    """A scan stopped at its limit on the number of files (see `scan_tree`)."""


def scan_tree(
    root: str,
    display: str,
    links_within: tuple[str, ...] = (),
    ignore: TreeIgnore | None = None,
    limit: int = 0,
) -> list[WsFile]:
    """Every regular file below `root`, following symlinks; loops are errors, and so is a
    symlink that resolves outside every directory of `links_within` (when given: the
    repository and the cache). With `ignore`, what `.artverignore` files exclude is left out
    (excluded directories are not entered, and nothing in them is an error).

    This loop runs once per file of every tracked directory on every status, so it keeps to
    one stat per entry and plain tuples.
    """
    root_st = os.stat(root)
    ancestors = frozenset({(root_st.st_dev, root_st.st_ino)})
    return scan_subtree(root, "", ancestors, display, links_within, ignore, limit=limit)


def scan_subtree(
    top: str,
    prefix: str,
    ancestors: frozenset[tuple[int, int]],
    display: str,
    links_within: tuple[str, ...] = (),
    ignore: TreeIgnore | None = None,
    per_dir: Callable[[str, list[WsFile]], None] | None = None,
    skip_dirs: frozenset[str] = frozenset(),
    limit: int = 0,
) -> list[WsFile]:
    """`scan_tree` of the directory `top`, whose files' rels start with `prefix` and whose
    parents (device, inode) are `ancestors` (to tell symlink loops).

    With `per_dir`, each directory's own files are handed to it (with the directory's
    prefix) as soon as it is listed, and not kept: memory then follows the largest
    directory, not the tree. Subdirectories whose rels are in `skip_dirs` are not entered.
    With `limit`, `TreeTooBig` is raised once that many files are listed.

    Entries are listed from an open directory, so that each `stat` resolves one name from it
    rather than the whole path again (a sixth less time per file). An ignore file met in a
    directory applies to its entries listed before it too: they are sorted out once the
    directory is listed, before any subdirectory is entered."""
    files: list[WsFile] = []
    append = files.append
    new_tuple = tuple.__new__
    stack = [(top, prefix, ancestors, ignore.outer if ignore is not None else ())]
    while stack:
        dirpath, prefix, ancestors, scope = stack.pop()
        first_file, first_dir, rules_here = len(files), len(stack), False
        here = (ignore, dirpath, prefix, scope)
        try:
            dir_fd = os.open(dirpath, DIR_FLAGS)
        except OSError as exc:
            raise _os_error(f"{display}/{prefix}".rstrip("/"), exc) from None
        try:
            entries = os.scandir(dir_fd)
        except OSError as exc:
            os.close(dir_fd)
            raise _os_error(f"{display}/{prefix}".rstrip("/"), exc) from None
        try:
            for entry in entries:
                name = entry.name
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    if is_temp_name(name):  # a symlinked checkout's temp, object since gone
                        met_temp(f"{dirpath}/{name}")
                        continue
                    if entry.is_symlink() and not _skipped(here, prefix + name):
                        raise PathError(f"{display}/{prefix}{name}", "broken symlink") from None
                    continue  # deleted while we looked
                except OSError as exc:
                    if _skipped(here, prefix + name):
                        continue
                    raise _os_error(f"{display}/{prefix}{name}", exc) from None
                if links_within and entry.is_symlink():  # d_type: no extra syscall
                    real = link_leads_out(f"{dirpath}/{name}", links_within)
                    if real is not None and not _skipped(here, prefix + name, entry.is_dir()):
                        raise outside_link_error(f"{display}/{prefix}{name}", real)
                    if real is not None:
                        continue
                mode = st.st_mode
                if stat_mod.S_IFMT(mode) == stat_mod.S_IFREG:
                    # A temp file of artver's (a killed command's, or one writing now) is never
                    # listed, so never reported, recorded or fingerprinted; deleted when stale.
                    # `< "/"` first, the cheapest test: only names starting with "." (or rarer
                    # punctuation) sort before "/".
                    if name < "/":
                        if is_temp_name(name):
                            met_temp(f"{dirpath}/{name}")
                            continue
                        rules_here = rules_here or name == IGNORE_FILE
                    fields = (
                        prefix + name,
                        f"{dirpath}/{name}",
                        st.st_ino,
                        st.st_mtime_ns,
                        st.st_size,
                        mode & EXEC_BITS != 0,
                    )
                    append(new_tuple(WsFile, fields))  # skips the NamedTuple's Python __new__
                elif stat_mod.S_ISDIR(mode):
                    rel = prefix + name
                    if rel in skip_dirs:
                        continue
                    key = (st.st_dev, st.st_ino)
                    if key in ancestors:
                        if _skipped(here, rel, True):
                            continue
                        raise PathError(f"{display}/{rel}", "symlink loop (links back to a parent)")
                    stack.append((f"{dirpath}/{name}", rel + "/", ancestors | {key}, scope))
                elif not _skipped(here, prefix + name):
                    raise PathError(f"{display}/{prefix}{name}", "not a regular file or directory")
        finally:
            entries.close()
            os.close(dir_fd)
        if ignore is not None and (rules_here or scope):
            if rules_here:
                scope = ignore.inner(dirpath, prefix, scope)
            keep(files, first_file, stack, first_dir, scope, prefix)
        if per_dir is not None:
            per_dir(prefix, files[first_file:])
            del files[first_file:]
        elif limit and len(files) >= limit:
            raise TreeTooBig()
    return files


def _skipped(here: tuple, rel: str, is_dir: bool = False) -> bool:
    """Whether the entry `rel`, which `scan_subtree` could not list (a broken symlink, a
    special file...), is ignored by the rules in force in its directory: then it is no error.
    `here`: (the TreeIgnore or None, the directory's path, its prefix, its scope)."""
    ignore, dirpath, prefix, scope = here
    if ignore is None:
        return False
    return is_ignored(ignore.inner(dirpath, prefix, scope), rel, is_dir)


def parallel_map(func: Callable[[T], R], items: list[T], jobs: int) -> list[tuple[T, R]]:
    """`[(item, func(item))]` computed by up to `jobs` threads.

    Work is handed out in chunks rather than one future per item: with 20,000 small files
    the per-future bookkeeping would cost more than the work.
    """
    if len(items) <= 1 or jobs <= 1:
        return [(item, func(item)) for item in items]
    workers = min(jobs, len(items))
    size = max(1, min(256, len(items) // (workers * 4) or 1))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]

    def run(chunk: list[T]) -> list[tuple[T, R]]:
        return [(item, func(item)) for item in chunk]

    from concurrent.futures import ThreadPoolExecutor  # threads only when work is parallel

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        return [pair for done in pool.map(run, chunks) for pair in done]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def shared_map(
    func: Callable[[T], R],
    items: list[T],
    jobs: int,
    on_done: Callable[[T, R], None],
    started: Callable[[], None] = lambda: None,
) -> None:
    """Call `on_done(item, func(item))` for every item, with `func` run by forked processes
    when there are enough items and cores (see `artver.forked_map`), else by up to `jobs`
    threads. `func`'s results must be values marshal can send; `on_done` must be thread-safe.
    `started` runs once the work is under way (start a progress bar there)."""
    from artver.forked_map import share_out

    undone = share_out(func, items, jobs, on_done, started)

    def work(item: T) -> R:
        result = func(item)
        on_done(item, result)
        return result

    parallel_map(work, list(undone), jobs)


class FileHasher:
    """Maps workspace files to their oids, reading only what the state DB does not know."""

    def __init__(self, state: StateDB, jobs: int, progress: Progress = NO_PROGRESS) -> None:
        self.state = state
        self.jobs = jobs
        self.progress = progress
        self.read_this_time: set[str] = set()  # rels of files read (not answered by the DB)

    def oids(
        self,
        files: list[WsFile],
        state_key: Callable[[WsFile], str],
        known: dict[str, tuple[int, int, int, str]] | None = None,
        on_miss: Callable[[WsFile], str] | None = None,
        display: Callable[[WsFile], str] | None = None,
    ) -> dict[str, str]:
        """`{file.rel: oid}`. `on_miss` replaces plain hashing (e.g. hash while caching)."""
        result: dict[str, str] = {}
        misses: list[WsFile] = []
        for f in files:
            key = state_key(f)
            hit = known.get(key) if known is not None else self.state.get(key)
            if hit and hit[0] == f.inode and hit[1] == f.mtime_ns and hit[2] == f.size:
                result[f.rel] = hit[3]
            else:
                misses.append(f)
        if not misses:
            return result
        hash_one = on_miss or (lambda f: hash_file(f.abspath, f.size))
        name = display or (lambda f: f.abspath)

        def checked(f: WsFile) -> str:
            try:
                return hash_one(f)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    raise PathError(name(f), "disappeared while artver was reading it") from None
                raise _os_error(name(f), exc) from None

        fresh: list[tuple[WsFile, str]] = []

        def done(f: WsFile, oid: str) -> None:
            fresh.append((f, oid))
            self.progress.advance(1, f.size)

        def start_bar() -> None:
            self.progress.start("hashing", len(misses), sum(f.size for f in misses))

        shared_map(checked, misses, self.jobs, done, start_bar)
        self.read_this_time.update(f.rel for f in misses)
        self.progress.finish()
        for f, oid in fresh:
            result[f.rel] = oid
        self.state.save((state_key(f), f.known(oid)) for f, oid in fresh)
        return result
