"""Finding pointer files and pipeline files in the work tree.

Every `status` and `repro` walks the whole work tree for `*.artver` and `artver.yaml`,
including large plain directories (a stage's data, 20,000 files in 220 directories). Like
Git's untracked cache, the walk remembers, per directory, what its listing told: the metadata
files in it and the subdirectories worth entering. Creating, deleting or renaming an entry
changes the directory's mtime and ctime, and nothing can set a ctime back, so a directory whose
(inode, mtime, ctime) is as remembered costs one `lstat` instead of a listing.

A directory changed within the last moments is not remembered: it may change again within
the filesystem's timestamp granularity without its times moving. That granularity is a few
milliseconds where timestamps have nanoseconds, and up to two seconds where they are whole
seconds (FAT keeps two-second mtimes), which a directory's own times tell.
"""

from __future__ import annotations

import os
import time

# Listings of directories changed this recently are not trusted later...
RACY_WINDOW_NS = 100_000_000
# ...or this recently, where timestamps are whole seconds.
COARSE_RACY_WINDOW_NS = 2_000_000_000
SECOND_NS = 1_000_000_000
# A remembered listing: (inode, mtime_ns, ctime_ns, metadata file names, subdirectory names).
Listing = tuple[int, int, int, tuple[str, ...], tuple[str, ...]]


def walk(
    root: str,
    wanted: tuple[str, str],
    skip: set[str],
    remembered: dict[str, Listing],
    now_ns: int,
    temp_age: float | None = None,
) -> tuple[list[str], dict[str, Listing]]:
    """The paths of the files below `root` named `wanted[1]` or ending in `wanted[0]`, and the
    listings to remember for next time (not those of directories changed just before
    `now_ns`).

    Not entered: symlinked directories, directories named in `skip`, Python virtual
    environments (a `pyvenv.cfg` in them) and directories tracked by a pointer file beside
    them (`data` next to `data.artver`).

    With `temp_age`, temp files that artver left beside what it writes here (a pointer, a
    tracked file, `.gitignore`, `artver.yaml`, `artver.lock`) are deleted once untouched for
    that many seconds; a directory holding a younger one is listed again next time, so that
    it is deleted when it is old enough."""
    found: list[str] = []
    fresh: dict[str, Listing] = {}
    stack = [root]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
        except OSError:
            continue
        listing = remembered.get(path)
        worth_keeping = True
        if listing is None or listing[:3] != (st.st_ino, st.st_mtime_ns, st.st_ctime_ns):
            files_dirs = _list(path, wanted, skip, is_top=path == root, temp_age=temp_age)
            if files_dirs is None:
                continue
            files, dirs, worth_keeping = files_dirs
            listing = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, files, dirs)
        if worth_keeping and settled(max(st.st_mtime_ns, st.st_ctime_ns), now_ns):
            fresh[path] = listing
        prefix = path + "/"
        found += [prefix + name for name in listing[3]]
        stack += [prefix + name for name in listing[4]]
    return found, fresh


def settled(changed_ns: int, now_ns: int) -> bool:
    """Whether a directory last changed at `changed_ns` can no longer change without its times
    moving. Pure."""
    window = RACY_WINDOW_NS if changed_ns % SECOND_NS else COARSE_RACY_WINDOW_NS
    return changed_ns < now_ns - window


def _list(
    path: str,
    wanted: tuple[str, str],
    skip: set[str],
    is_top: bool,
    temp_age: float | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...], bool] | None:
    """The metadata files and the subdirectories to enter in `path`, and whether the listing
    may be remembered (no temp file of artver's is waiting there to grow old)."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return None
    suffix, exact = wanted
    names = {entry.name for entry in entries}
    if not is_top and "pyvenv.cfg" in names:
        return (), (), True
    worth_keeping = True
    if temp_age is not None and _may_hold_temps(names):
        worth_keeping = _sweep(path, names, suffix, exact, temp_age)
    files: list[str] = []
    dirs: list[str] = []
    for entry in entries:  # the per-entry work is kept to string checks: no stat
        name = entry.name
        if (name.endswith(suffix) or name == exact) and entry.is_file():
            files.append(name)
        elif (
            entry.is_dir(follow_symlinks=False)
            and name not in skip
            and name + suffix not in names  # tracked: its pointer file is beside it
        ):
            dirs.append(name)
    return tuple(files), tuple(dirs), worth_keeping


def _may_hold_temps(names: set[str]) -> bool:
    joined = "\0".join(names)  # at C speed: this runs for every directory listed
    return ".tmp\0" in joined or joined.endswith(".tmp")


def _sweep(path: str, names: set[str], suffix: str, exact: str, temp_age: float) -> bool:
    """Delete the stale temp files of artver's in the directory `path` (holding `names`);
    False when a younger one is left there."""
    from artver.fsutil import remove_if_stale, temp_base

    ours = (".gitignore", exact, "artver.lock")
    now = time.time()
    all_gone = True
    for name in names:
        base = temp_base(name)
        if base is None or not (base.endswith(suffix) or base + suffix in names or base in ours):
            continue  # not a temp file, or not one artver writes here
        if remove_if_stale(os.path.join(path, name), now, temp_age) is None:
            all_gone = False
    return all_gone
