"""Is a cache object still the bytes its id names? Decided from its stat, without reading it.

With cache.type `hardlink` or `symlink` a workspace file *is* a cache object: after
`chmod u+w`, an in-place edit of the file (or a write through the link) rewrites the object
under its id. So artver remembers each object's stat when it writes or re-hashes one (the state
DB's `objects` table), and before it places an object in the workspace or uploads it, compares
the object's stat now with that record: the same stat is trusted, anything else is hashed again.

These are the decisions, as pure functions of plain values; `ObjectStore` and
`artver.ops.integrity` do the filesystem and database work.
"""

from __future__ import annotations

import os
import struct
from collections import namedtuple

# What an object's stat is compared on. `nlink` is there to explain a ctime that moved: making
# or removing a hard link to the object (a checkout, `rm`, another repository of a shared
# cache) changes its ctime, and its link count says so.
ObjStat = namedtuple("ObjStat", "inode size mtime_ns ctime_ns nlink")

TRUST, VERIFY, ABSENT = "trust", "verify", "absent"
# How a record is stored (the state DB's `objects.stat`): five little-endian int64s. One value
# per row, and records compared as bytes, make the lookups of a 20,000-file checkout cheap.
_PACKED = struct.Struct("<5q")
# Same rule as the state DB's (`state.RACY_WINDOW_NS`, which this layer may not import): a file
# modified this close to the moment its stat was taken may change again within the
# filesystem's timestamp granularity without its stat changing.
RACY_WINDOW_NS = 100_000_000


def stat_record(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """An `ObjStat`'s fields, as a plain tuple: this runs once per object placed or sent."""
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink


def pack(record: tuple) -> bytes:
    return _PACKED.pack(*record)


# pack_stat(inode, size, mtime_ns, ctime_ns, nlink): `pack` without building a tuple first.
pack_stat = _PACKED.pack


def packed_stat(st: os.stat_result) -> bytes:
    """`pack(stat_record(st))`, in one step: this runs once per object placed."""
    return _PACKED.pack(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink)


def unpack(blob: bytes | None) -> ObjStat | None:
    """The record stored as `blob`; None for none, or for a damaged one (hashed again)."""
    if not isinstance(blob, bytes) or len(blob) != _PACKED.size:
        return None
    return ObjStat(*_PACKED.unpack(blob))


def verdict(recorded: tuple | None, current: tuple | None) -> str:
    """What to do before placing or uploading an object whose stat was `recorded` when its
    bytes were last known to match its id, and is `current` now (None: not in the cache).

    - ABSENT: there is no such object.
    - TRUST: nothing about its content can have changed: same inode, size and mtime, and a
      ctime that is the same or moved together with the link count (a link made or removed).
    - VERIFY: hash it again. No record (an object an older artver wrote, or one written while
      the state DB was busy), another inode (replaced), another size or mtime (written to),
      or a ctime that moved alone (its mode or times were changed by hand: `chmod u+w`,
      `touch`, an edit that restored the old mtime).

    Pure."""
    if current is None:
        return ABSENT
    if recorded is None:
        return VERIFY
    inode, size, mtime_ns, ctime_ns, nlink = recorded
    if (current[0], current[1], current[2]) != (inode, size, mtime_ns):
        return VERIFY
    if current[3] == ctime_ns or current[4] != nlink:
        return TRUST
    return VERIFY


def packed_verdict(recorded: bytes | None, current: bytes) -> str:
    """`verdict` of a record and a current stat both as `pack` makes them, decided on the bytes
    (a 20,000-object checkout after `rm -rf` of the tracked directory moves every link count).
    Pure."""
    if recorded == current:
        return TRUST
    if not isinstance(recorded, bytes) or len(recorded) != _PACKED.size:
        return VERIFY
    if recorded[:24] != current[:24]:  # inode, size, mtime
        return VERIFY
    if recorded[24:32] == current[24:32] or recorded[32:] != current[32:]:  # ctime, nlink
        return TRUST
    return VERIFY


def worth_recording(record: tuple, looked_ns: int, wrote_bytes: bool) -> bool:
    """Whether the stat `record` of an object whose bytes were just written or hashed may be
    trusted later. Bytes artver itself wrote into a new temp file are known whatever the
    timestamps; bytes it read (hashed, or linked in from the workspace) are not when the
    object was modified within RACY_WINDOW_NS of `looked_ns`, when artver started reading:
    a write in the same timestamp tick would leave the stat as it is. Pure."""
    return wrote_bytes or record[2] < looked_ns - RACY_WINDOW_NS


def may_link_into_cache(is_symlink: bool, nlink: int) -> bool:
    """Whether `add` with cache.type hardlink or symlink may make the workspace file itself the
    cache object (link it in, or move it in). Not when it is a symbolic link (moving it would
    put a link in the cache) nor when other hard links to it exist: another path could then
    write the object, such as an older cache object the file was linked to and edited in
    place as. Such a file is copied in and the workspace path linked to the copy. Pure."""
    return not is_symlink and nlink == 1
