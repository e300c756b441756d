"""Reading data named by a URL or a local path, for `import-url`, `get-url` and updates: list it
with each file's version marker (`artver.remotes.marker`), and copy files into the cache or into
a directory, verified on the way.

A local path (or `file://`) is listed with the workspace scanner (links followed, executable
bits kept) and copied with the kernel; anything else goes through fsspec (`remotes.source`).
Every byte read is hashed while it is written; a file whose byte count differs from what the
source announced, or whose MD5 differs from the one the source vouches for (GCS), is refused,
and nothing is kept of it.
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections import namedtuple
from pathlib import Path

from artver.errors import ArtverError, PathError
from artver.fsutil import DISK_FULL_ERRNOS, disk_full, unlink_quietly
from artver.remotes import marker as markers
from artver.remotes import registry

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from artver.ignore import TreeIgnore
    from artver.repo import Repo

READ_CHUNK = 4 * 1024 * 1024

# One file of a source: `rel` relative to the source ("" for a file source); `size` None when
# the source does not say; `info` the metadata its marker is made of; `abspath` for a local one.
SrcFile = namedtuple("SrcFile", "rel size executable info abspath")


class SourceChangedError(ArtverError):
    """The source changed while it was being read."""


class NoMarkerError(ArtverError):
    """The source says nothing that would show when it changes."""


class CorruptSourceError(ArtverError):
    """The bytes read are not what the source announced."""


class Listing:
    """What a source holds now: "file" or "dir", and its files by relative path."""

    __slots__ = ("files", "kind")

    def __init__(self, kind: str, files: dict[str, SrcFile]) -> None:
        self.kind = kind
        self.files = files


class Origin:
    """A file or directory at a URL or a local path. `options` lend it the endpoint and
    credentials of a configured remote on the same store."""

    def __init__(self, url: str, cwd: Path, options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.location = registry.parse_url(url, cwd)
        self.local = self.location.protocol == "file"
        self._source: Any = None
        if not self.local:
            from artver.remotes.source import Source

            self._source = Source(url, cwd, options or {})

    @property
    def protocol(self) -> str:
        return self.location.protocol

    @property
    def path(self) -> str:
        """A local source's absolute path."""
        return self.location.path

    def shown(self, rel: str = "") -> str:
        from artver.redact import mask_text

        base = mask_text(self.url).rstrip("/")
        return f"{base}/{rel}" if rel else mask_text(self.url)

    # -- listing -----------------------------------------------------------------------------
    def listing(self, ignore: TreeIgnore | None = None) -> Listing | None:
        """The files there now (those `ignore` keeps, for a directory); None when nothing is
        there. Failures of the store (credentials, an unreachable server) raise."""
        if self.local:
            return self._local_listing(ignore)
        kind, infos = self._source.describe()
        if kind == "missing":
            return None
        rels = sorted(infos)
        if kind == "dir":
            from artver.cache.tree import UnsafeEntryError, check_entries

            try:
                check_entries(rels)
            except UnsafeEntryError as exc:
                reason = f"cannot be a file here: it {exc.reason}"
                raise PathError(self.shown(exc.entry), reason) from None
            if ignore is not None:
                rels = ignore.filter(rels, self._source.read)
        files = {}
        for rel in rels:
            info = infos[rel]
            size = info.get("size")
            size = size if isinstance(size, int) and not isinstance(size, bool) else None
            files[rel] = SrcFile(rel, size, False, info, None)
        return Listing(kind, files)

    def _local_listing(self, ignore: TreeIgnore | None) -> Listing | None:
        from artver.workspace import WsFile, scan_tree, stat_path

        st = stat_path(self.path, self.url)
        if st is None:
            return None
        if stat_mod.S_ISREG(st.st_mode):
            found = [WsFile.from_stat("", self.path, st)]
            kind = "file"
        elif stat_mod.S_ISDIR(st.st_mode):
            found = scan_tree(self.path, self.url, (), ignore)  # links followed, loops refused
            kind = "dir"
        else:
            raise PathError(self.url, "not a regular file or directory")
        files = {
            f.rel: SrcFile(
                f.rel,
                f.size,
                f.executable,
                {"mtime_ns": f.mtime_ns, "size": f.size, "ino": f.inode},
                f.abspath,
            )
            for f in found
        }
        return Listing(kind, files)

    def markers(self, listing: Listing) -> dict[str, dict[str, Any]]:
        """{rel: marker} of every file of the listing; NoMarkerError for a file whose source
        gives nothing that changes with its content."""
        found = {}
        for rel, f in listing.files.items():
            mark = markers.file_marker(self.protocol, f.info)
            if mark is None:
                raise NoMarkerError(
                    f"{self.shown(rel)}: the server gives no ETag or Last-Modified, so artver "
                    "could never tell when it changes",
                    hint="Download it with `artver get-url` and track it with `artver add`.",
                )
            found[rel] = mark
        return found

    # -- reading -----------------------------------------------------------------------------
    def _read(self, f: SrcFile, sink: Callable[[bytes], None]) -> None:
        if not self.local:
            self._source.stream(f.rel, sink, READ_CHUNK)
            return
        try:
            with open(f.abspath, "rb", buffering=0) as fin:
                while chunk := fin.read(READ_CHUNK):
                    sink(chunk)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                gone = "disappeared while artver was reading it"
                raise PathError(self.shown(f.rel), gone) from None
            if isinstance(exc, PermissionError):
                denied = "permission denied (cannot read it)"
                raise PathError(self.shown(f.rel), denied) from None
            raise

    def is_dir(self) -> bool:
        """Whether a local source is a directory (False for a URL: unknown until listed)."""
        return self.local and os.path.isdir(self.path)

    def copy_to(self, f: SrcFile, tmp: str) -> tuple[str, int]:
        """Write the file `f` to the new file `tmp`, checked; (its oid, its size). A file that
        fails the checks is deleted."""
        import hashlib

        from artver.cache.hashing import new_hasher

        want_md5 = markers.expected_md5(self.protocol, f.info)
        md5 = hashlib.md5() if want_md5 else None
        hasher = new_hasher()
        count = 0
        try:
            with open(tmp, "wb") as fout:

                def sink(data: bytes) -> None:
                    nonlocal count
                    hasher.update(data)
                    if md5 is not None:
                        md5.update(data)
                    fout.write(data)
                    count += len(data)

                self._read(f, sink)
            if f.size is not None and count != f.size:
                raise CorruptSourceError(
                    f"{self.shown(f.rel)}: read {count} bytes where the source announced "
                    f"{f.size}; nothing was kept",
                    hint="The source may have changed meanwhile: run the command again.",
                )
            if md5 is not None and md5.hexdigest() != want_md5:
                raise CorruptSourceError(
                    f"{self.shown(f.rel)}: the bytes read do not match the MD5 the source "
                    "gives for them; nothing was kept",
                    hint="Run the command again; if it persists, the stored object is damaged.",
                )
            return hasher.hexdigest(), count
        except BaseException as exc:
            unlink_quietly(tmp)
            if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc, tmp) from None
            raise

    def to_cache(self, repo: Repo, files: list[SrcFile], jobs: int) -> dict[str, tuple[str, int]]:
        """Copy `files` into the cache, verified: {rel: (oid, size)}."""
        from artver.workspace import parallel_map

        odb = repo.odb

        def one(f: SrcFile) -> tuple[str, int]:
            if self.local:
                try:
                    oid, size = odb.ingest_copy(f.abspath, f.size)
                except FileNotFoundError:
                    raise PathError(
                        self.shown(f.rel), "disappeared while artver was reading it"
                    ) from None
                except PermissionError:
                    raise PathError(
                        self.shown(f.rel), "permission denied (cannot read it)"
                    ) from None
            else:
                tmp = odb.tmp_path()
                try:
                    oid, size = self.copy_to(f, tmp)
                    odb.publish_verified(tmp, oid, self.shown(f.rel))
                finally:
                    unlink_quietly(tmp)
            repo.progress.advance(1, size)
            return oid, size

        repo.progress.start("download", len(files), sum(f.size or 0 for f in files))
        try:
            return {f.rel: oid for f, oid in parallel_map(one, files, jobs)}
        finally:
            repo.progress.finish()

    def check_unchanged(
        self, before: dict[str, dict[str, Any]], rels: list[str], ignore: TreeIgnore | None
    ) -> None:
        """Refuse when a file read (`rels`) changed while it was read: its marker now is not
        the one listed before."""
        if not rels:
            return
        listing = self.listing(ignore)
        now = self.markers(listing) if listing is not None else {}
        moved = [rel for rel in rels if now.get(rel) != before.get(rel)]
        if moved:
            raise SourceChangedError(
                f"{self.shown(moved[0])} changed while artver was reading it"
                + (f" ({len(moved) - 1} more did)" if len(moved) > 1 else "")
                + "; nothing was recorded",
                hint="Run the command again once the source stopped changing.",
            )


def default_jobs(origin: Origin, jobs: int | None, configured: int) -> int:
    """`-j`, else core.jobs for a local source, else more for a network store, which waits on
    round trips rather than on the CPU."""
    if jobs is not None:
        if jobs < 1:
            from artver.errors import UsageError

            raise UsageError("-j/--jobs must be at least 1")
        return jobs
    if origin.local:
        return configured
    from artver.config import usable_cores

    return min(32, 8 * usable_cores())


def basename(url: str) -> str:
    """The last name of a URL or path (`s3://b/raw/` -> `raw`), without a query string."""
    text = url.split("?", 1)[0].split("#", 1)[0] if "://" in url else url
    text = text.rstrip("/")
    if "://" in text:
        scheme_rest = text.split("://", 1)[1]
        if "/" not in scheme_rest:
            return ""  # a bucket or host alone names no file
    return os.path.basename(text)
