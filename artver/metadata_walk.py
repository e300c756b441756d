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
) -> tuple[list[str], dict[str, Listing]]:
    """The paths of the files below `root` named `wanted[1]` or ending in `wanted[0]`, and the
    listings to remember for next time (not those of directories changed just before
    `now_ns`).

    Not entered: symlinked directories, directories named in `skip`, Python virtual
    environments (a `pyvenv.cfg` in them) and directories tracked by a pointer file beside
    them (`data` next to `data.artver`)."""
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
        if listing is None or listing[:3] != (st.st_ino, st.st_mtime_ns, st.st_ctime_ns):
            files_dirs = _list(path, wanted, skip, is_top=path == root)
            if files_dirs is None:
                continue
            listing = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, *files_dirs)
        if settled(max(st.st_mtime_ns, st.st_ctime_ns), now_ns):
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
    path: str, wanted: tuple[str, str], skip: set[str], is_top: bool
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return None
    suffix, exact = wanted
    names = {entry.name for entry in entries}
    if not is_top and "pyvenv.cfg" in names:
        return (), ()
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
    return tuple(files), tuple(dirs)
