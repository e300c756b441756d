"""What a hermetic run produced: every file its declared outs hold, hashed; and, when asked,
stored in the cache."""

from __future__ import annotations

import os
from pathlib import Path

from artver.repo import Repo


# A plain class, not a dataclass: generating one costs start-up time.
class ProducedOut:
    """What a declared out holds after the run. `files`: path inside the out ("" for a
    file out) -> (oid, size)."""

    __slots__ = ("abspath", "files", "nfiles", "oid", "path", "size")

    def __init__(self, path: str, abspath: Path, oid: str, size: int, nfiles: int | None, files):
        self.path = path
        self.abspath = abspath
        self.oid = oid
        self.size = size
        self.nfiles = nfiles
        self.files: dict[str, tuple[str, int]] = files


def collect(scratch: Path, outs: list[str], jobs: int = 1) -> dict[str, ProducedOut]:
    """Hash what each declared out holds in the scratch directory (absent outs are left out)."""
    from artver.cache.hashing import hash_file
    from artver.cache.tree import FileEntry, Manifest
    from artver.workspace import parallel_map, scan_tree

    found: dict[str, ProducedOut] = {}
    within = (os.path.realpath(scratch),)
    for path in outs:
        abspath = scratch / path
        if not os.path.exists(abspath):
            continue
        if not abspath.is_dir():
            size = abspath.stat().st_size
            oid = hash_file(abspath, size)
            found[path] = ProducedOut(path, abspath, oid, size, None, {"": (oid, size)})
            continue
        files = scan_tree(str(abspath), path, within)
        hashed = parallel_map(lambda f: hash_file(f.abspath, f.size), files, jobs)
        manifest = Manifest.build(FileEntry(f.rel, oid, f.size, f.executable) for f, oid in hashed)
        entries = {e.path: (e.oid, e.size) for e in manifest.entries}
        found[path] = ProducedOut(
            path, abspath, manifest.oid, manifest.size, manifest.nfiles, entries
        )
    return found


def cache_outputs(repo: Repo, produced: dict[str, ProducedOut]) -> None:
    """Copy what a run produced into the cache (the scratch files stay as they are)."""
    from artver.cache.tree import FileEntry, Manifest

    odb = repo.odb
    for out in produced.values():
        if out.nfiles is None:
            odb.ingest_copy(str(out.abspath), out.size)
            continue
        for rel, (oid, size) in out.files.items():
            if not odb.exists(oid):
                odb.ingest_copy(str(out.abspath / rel), size)
        executable = {rel: os.access(out.abspath / rel, os.X_OK) for rel in out.files}
        odb.add_manifest(
            Manifest.build(FileEntry(r, o, s, executable[r]) for r, (o, s) in out.files.items())
        )
