"""An output's artver record (and objects) made from DVC's cache, which is only read.

Each object is read once: its md5 is checked against the name DVC gave it (a corrupt object
is refused, never converted), and its XXH3-128 taken from the same bytes. With an object store,
the bytes enter artver's cache as a copy (a reflink or a copy: never a hard link, through which
a later write, or artver making its objects read-only, would change DVC's file).
"""

from __future__ import annotations

import os

from artver.cache.hashing import SMALL_FILE, hash_bytes, hash_file, read_small
from artver.cache.tree import FileEntry, Manifest, UnsafeEntryError, check_entries
from artver.dvcimport.dvcfiles import DvcOut
from artver.dvcimport.md5 import DvcCache, md5_bytes, md5_file
from artver.errors import ArtverError
from artver.pointer import Output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from artver.cache.odb import ObjectStore


class DvcCacheError(ArtverError):
    """DVC's cache lacks an object, or holds a corrupt one."""


def _object(cache: DvcCache, md5: str, legacy: bool, odb: ObjectStore | None) -> tuple[str, int]:
    """(oid, size) of DVC's object `md5`, stored in `odb` when given."""
    path = cache.find(md5, legacy)
    if path is None:
        raise DvcCacheError(f"DVC's cache lacks the object {md5}")
    size = os.path.getsize(path)
    if size <= SMALL_FILE:
        data = read_small(path, size)
        if md5_bytes(data, legacy) != md5:
            raise DvcCacheError(f"DVC's cache object {path} is corrupt (its md5 is not {md5})")
        oid = hash_bytes(data)
        if odb is not None:
            odb.add_bytes(data, oid)
        return oid, len(data)
    if md5_file(path, legacy) != md5:
        raise DvcCacheError(f"DVC's cache object {path} is corrupt (its md5 is not {md5})")
    if odb is not None:
        return odb.ingest_copy(path, size)
    return hash_file(path, size), size


def output_from_cache(
    cache: DvcCache, out: DvcOut, name: str, odb: ObjectStore | None = None, jobs: int = 1
) -> Output:
    """The pointer output (path `name`) for `out`, as recorded in DVC's cache."""
    assert out.md5 is not None
    if not out.is_dir:
        oid, size = _object(cache, out.md5, out.legacy, odb)
        return Output(name, oid, size, extra=dict(out.extra))
    entries = cache.manifest(out.md5, out.legacy)
    if entries is None:
        raise DvcCacheError(f"DVC's cache lacks the directory manifest {out.md5}")
    try:
        check_entries([rel for rel, _ in entries])
    except UnsafeEntryError as exc:
        raise DvcCacheError(f"DVC's directory manifest {out.md5} is unsafe: {exc}") from None
    from artver.workspace import parallel_map

    done = parallel_map(lambda e: _object(cache, e[1], out.legacy, odb), entries, jobs)
    # DVC's manifest has no executable bits: the files come back as plain files.
    manifest = Manifest.build(FileEntry(rel, oid, size) for (rel, _), (oid, size) in done)
    if odb is not None:
        odb.add_manifest(manifest)
    return Output(name, manifest.oid, manifest.size, manifest.nfiles, extra=dict(out.extra))
