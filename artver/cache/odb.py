"""The local object store: `<root>/<2 hex>/<30 hex>`, objects read-only and written once.

Every write goes to a temp file in `<root>/tmp` and is renamed into place, so an interrupted
command never leaves a partial object under its final name.
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod
import threading
import time
from pathlib import Path

from artver.cache import links
from artver.cache.hashing import SMALL_FILE, hash_bytes, hash_file, hash_stream, read_small
from artver.cache.integrity import may_link_into_cache, packed_stat, stat_record, worth_recording
from artver.cache.tree import MAX_DEPTH, Manifest, UnsafeEntryError, flatten, is_dir_oid
from artver.errors import ArtverError
from artver.fsutil import DISK_FULL_ERRNOS, disk_full, kernel_copy, temp_name, unlink_quietly

OBJECT_MODE = 0o444

# The stat of each object this process wrote or re-hashed, by its path, until the caller
# remembers them in the state DB (`ObjectStore.take_records`). Module-wide, because forked
# children write objects too: theirs travel back to the parent with their results.
_fresh: dict[str, tuple] = {}  # path -> `integrity.ObjStat`'s fields
_fresh_lock = threading.Lock()


def _take_fresh() -> list:
    with _fresh_lock:
        taken = list(_fresh.items())  # plain tuples: marshal sends them
        _fresh.clear()
    return taken


def _give_fresh(records: list) -> None:
    with _fresh_lock:
        _fresh.update((path, tuple(record)) for path, record in records)


class CorruptObjectError(ArtverError):
    def __init__(self, message: str, *, hint: str | None = None, oid: str | None = None):
        super().__init__(message, hint=hint)
        self.oid = oid


class UnsafeManifestError(ArtverError):
    """A directory manifest with an entry that would be written outside its directory, into
    `.git`, or over another entry: refused whole, before anything is written. `artifact` and
    `source` (where the manifest came from) are filled in by whoever knows them."""

    def __init__(
        self, oid: str, entry: str, reason: str, artifact: str | None = None, source: str = ""
    ) -> None:
        self.oid, self.entry, self.reason = oid, entry, reason
        self.artifact, self.source = artifact, source
        what = f"{artifact}: the directory manifest {oid}" if artifact else f"manifest {oid}"
        origin = f" (from {source})" if source else ""
        super().__init__(
            f"{what}{origin} is refused: its entry {entry!r} {reason}; nothing was written",
            hint="Someone wrote this manifest by hand or tampered with it: check the commit "
            "that recorded it and the remote it came from.",
        )

    def about(self, artifact: str | None = None, source: str | None = None):
        """The same refusal, naming the artifact and the manifest's origin."""
        return UnsafeManifestError(
            self.oid,
            self.entry,
            self.reason,
            artifact or self.artifact,
            self.source if source is None else source,
        )


class ObjectStore:
    def __init__(self, root: Path, link_types: list[str], shared: str | None = None) -> None:
        self.root = Path(root)
        self._prefix = os.fspath(self.root) + os.sep  # path_of runs once per file: plain strings
        self.tmp_dir = self.root / "tmp"
        self.linker = links.Linker(link_types)
        self.dir_mode = 0o2775 if shared == "group" else None
        self._made_dirs: set[str] = set()
        from artver import forked_map

        forked_map.carry("odb", _take_fresh, _give_fresh)

    # -- paths -----------------------------------------------------------------------------
    def path_of(self, oid: str) -> str:
        return f"{self._prefix}{oid[:2]}{os.sep}{oid[2:]}"

    def exists(self, oid: str) -> bool:
        return os.path.exists(self.path_of(oid))

    def stat(self, oid: str) -> tuple | None:
        """The object's stat as `integrity.verdict` compares it (`ObjStat`'s fields); None
        when it is not here."""
        try:
            return stat_record(os.stat(self.path_of(oid)))
        except FileNotFoundError:
            return None

    def packed_stat(self, oid: str) -> bytes | None:
        """`stat`, packed as the state DB keeps it (`integrity.pack`)."""
        try:
            return packed_stat(os.stat(self.path_of(oid)))
        except FileNotFoundError:
            return None

    # -- what is known about objects' bytes (see `artver.cache.integrity`) -------------------
    def _remember(self, final: str, looked_ns: int, wrote_bytes: bool) -> None:
        """Note the stat of the object at `final`, whose bytes were just written (by artver
        itself: `wrote_bytes`) or hashed from `looked_ns` on, for `take_records`."""
        try:
            record = stat_record(os.stat(final))
        except OSError:
            return
        if worth_recording(record, looked_ns, wrote_bytes):
            with _fresh_lock:
                _fresh[final] = record

    def take_records(self) -> list[tuple[str, tuple]]:
        """(oid, stat) of every object of this store written or verified since the last call
        (in forked children too), for the state DB."""
        prefix = self._prefix
        with _fresh_lock:
            mine = [path for path in _fresh if path.startswith(prefix)]
            taken = [(path, _fresh.pop(path)) for path in mine]
        return [(path[len(prefix) :].replace(os.sep, "", 1), rec) for path, rec in taken]

    def verify(self, oid: str, size: int | None = None) -> tuple:
        """Hash object `oid` again: its stat when its bytes still match its id (remembered,
        with the read-only mode put back if it was changed), else CorruptObjectError."""
        path = self.path_of(oid)
        looked_ns = time.time_ns()
        before = os.stat(path)
        got = hash_file(path, before.st_size if size is None else size)
        got += ".dir" if oid.endswith(".dir") else ""
        after = os.stat(path)
        if got != oid or after.st_size != before.st_size:
            raise CorruptObjectError(
                f"the cache object {oid} is corrupt (its content hashes to {got})", oid=oid
            )
        if stat_mod.S_IMODE(after.st_mode) != OBJECT_MODE:  # `chmod u+w` of a linked file
            try:
                os.chmod(path, OBJECT_MODE)
                after = os.stat(path)
            except PermissionError:
                pass  # another user's object in a shared cache
        record = stat_record(after)
        if stat_record(before)[:3] == record[:3] and worth_recording(record, looked_ns, False):
            with _fresh_lock:
                _fresh[path] = record
        return record

    def _ensure_dir(self, path: str) -> None:
        if path in self._made_dirs:
            return
        os.makedirs(path, exist_ok=True)
        if self.dir_mode is not None:
            # The root too: group members must be able to create new shard directories.
            for directory in (str(self.root), path):
                try:
                    os.chmod(directory, self.dir_mode)
                except PermissionError:
                    pass  # another user of the shared cache made it, with its own mode
        self._made_dirs.add(path)

    def _tmp_path(self, oid_hint: str = "obj") -> str:
        self._ensure_dir(str(self.tmp_dir))
        return temp_name(self.tmp_dir / oid_hint)

    def _publish(self, tmp: str, oid: str) -> None:
        final = self.path_of(oid)
        self._ensure_dir(os.path.dirname(final))
        os.chmod(tmp, OBJECT_MODE)
        os.replace(tmp, final)

    # -- writing -----------------------------------------------------------------------------
    def add_bytes(self, data: bytes, oid: str) -> None:
        """Store `data` as object `oid` (the caller hashed it)."""
        final = self.path_of(oid)
        if os.path.exists(final):
            return
        shard = os.path.dirname(final)
        self._ensure_dir(shard)
        # The temp file sits in the object's own shard directory: a same-directory rename,
        # and no lock contention on one shared temp directory when many threads write.
        tmp = temp_name(final)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OBJECT_MODE)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException as exc:
            self._fail(tmp, exc)
        self._remember(final, 0, wrote_bytes=True)

    def add_manifest(self, manifest: Manifest) -> str:
        """Store the objects of `manifest` (a big directory's tree: children first, so that
        a root in the cache always has its subdirectories); returns the root's id."""
        oid = ""
        for node in manifest.nodes():
            data = node.to_bytes()
            oid = hash_bytes(data) + ".dir"
            self.add_bytes(data, oid)
        return oid

    def ingest_copy(self, src: str, size_hint: int | None = None) -> tuple[str, int]:
        """Copy `src` into the store, hashing while copying: one read and one write."""
        if size_hint is not None and size_hint <= SMALL_FILE:
            data = read_small(src, size_hint)
            oid = hash_bytes(data)
            self.add_bytes(data, oid)
            return oid, len(data)
        tmp = self._tmp_path()
        try:
            if not self.linker.try_reflink(src, tmp):
                kernel_copy(src, tmp, OBJECT_MODE)
            # Hash the copy, not the source: the id then names exactly the bytes stored, even
            # if the source changes meanwhile. The copy is still in the page cache, so this
            # read costs memory bandwidth, not disk.
            with open(tmp, "rb", buffering=0) as fin:
                oid, size = hash_stream(fin)
            if self.exists(oid):
                unlink_quietly(tmp)
            else:
                self._publish(tmp, oid)
                self._remember(self.path_of(oid), 0, wrote_bytes=True)
            return oid, size
        except BaseException as exc:
            self._fail(tmp, exc)

    def ingest_known(self, src: str, oid: str) -> str:
        """Bring `src`, whose content hashes to `oid`, into the store; returns the link type
        the workspace file should now have.

        Copies re-hash the bytes on the way in, so a file that changed since it was hashed is
        never stored under the wrong id. Hardlinks and symlinks fall back along the user's
        preference list when the filesystem refuses them. A file that is a symlink, or has
        other hard links, is copied in even then (`integrity.may_link_into_cache`); the
        caller links the workspace path to the copy.
        """
        for how in self.linker.candidates():
            present = self.exists(oid)
            if how in ("copy", "reflink") or (not present and not self._may_link(src)):
                if not present:
                    got, _ = self.ingest_copy(src)
                    if got != oid:
                        raise ArtverError(
                            f"{src} changed while artver was reading it; run the command again"
                        )
                return how
            if present:
                return how
            tmp = self._tmp_path(oid)
            looked_ns = time.time_ns()
            try:
                if how == "hardlink":
                    os.link(src, tmp)
                else:  # symlink: the bytes move into the cache, the workspace links back
                    os.rename(src, tmp)
                self._publish(tmp, oid)
                self._remember(self.path_of(oid), looked_ns, wrote_bytes=False)
                return how
            except OSError as exc:
                unlink_quietly(tmp)
                if exc.errno not in links.UNSUPPORTED:
                    self._fail(tmp, exc)
                self.linker.mark_broken(how, exc)
            except BaseException as exc:
                self._fail(tmp, exc)
        raise self.linker.exhausted()

    @staticmethod
    def _may_link(src: str) -> bool:
        try:
            st = os.lstat(src)
        except OSError:
            return True  # the link or rename reports it
        return may_link_into_cache(stat_mod.S_ISLNK(st.st_mode), st.st_nlink)

    def _fail(self, tmp: str, exc: BaseException):
        unlink_quietly(tmp)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            raise disk_full(exc, f"the cache ({self.root})") from None
        raise exc

    # -- reading -----------------------------------------------------------------------------
    def _manifest_bytes(self, oid: str) -> bytes:
        with open(self.path_of(oid), "rb") as fobj:
            data = fobj.read()
        if hash_bytes(data) + ".dir" != oid:
            raise CorruptObjectError(
                f"the cache object {oid} is corrupt (its content does not match its id)",
                hint="Delete it from the cache and run `artver pull` or `artver add` again.",
            )
        return data

    def read_node(self, oid: str) -> Manifest:
        """The one object `oid` of a directory's tree: its inline files and, in `subtrees`,
        its subdirectory objects (`read_manifest` gives every file). `UnsafeManifestError`
        when an entry breaks the rules of `tree.check_entries`, `CorruptObjectError` when it
        is not a manifest."""
        data = self._manifest_bytes(oid)
        try:
            return Manifest.from_bytes(data)
        except UnsafeEntryError as exc:
            raise UnsafeManifestError(oid, exc.entry, exc.reason, source="the cache") from None
        except ValueError as exc:
            raise CorruptObjectError(f"the cache object {oid} is {exc}") from None

    def read_manifest(self, oid: str) -> Manifest:
        """Every file of the directory `oid`, its tree's subdirectory objects read too
        (`FileNotFoundError` when one is not in the cache)."""
        root = self.read_node(oid)
        if not root.subtrees:
            return root
        try:
            return Manifest(tuple(flatten(root, self.read_node)))
        except ValueError as exc:  # nested too deep
            raise CorruptObjectError(f"the cache object {oid} is {exc}") from None

    def read_manifest_oids(self, oid: str) -> list[str]:
        """The object ids a directory's tree lists, subdirectory objects included, without
        building entries (gc reads thousands)."""
        found: list[str] = []
        todo = [(oid, MAX_DEPTH)]
        while todo:
            node_oid, depth = todo.pop()
            try:
                members = Manifest.oids_from_bytes(self._manifest_bytes(node_oid))
            except UnsafeEntryError as exc:
                raise UnsafeManifestError(
                    node_oid, exc.entry, exc.reason, source="the cache"
                ) from None
            except ValueError as exc:
                raise CorruptObjectError(f"the cache object {node_oid} is {exc}") from None
            found += members
            if depth <= 0 and any(is_dir_oid(o) for o in members):
                raise CorruptObjectError(f"the cache object {oid} is nested too deep")
            todo += [(o, depth - 1) for o in members if is_dir_oid(o)]
        return found

    def missing_subtrees(self, oid: str) -> list[str]:
        """The subdirectory objects of the tree `oid` that the cache lacks, below the objects
        it has (what a fetch must get next); [] when it has the whole tree or not even `oid`."""
        missing: list[str] = []
        todo = [oid]
        while todo:
            node_oid = todo.pop()
            if not self.exists(node_oid):
                if node_oid != oid:
                    missing.append(node_oid)
                continue
            todo += [d.oid for d in self.read_node(node_oid).subtrees]
        return missing

    def materialize(
        self,
        oid: str,
        dest: str,
        executable: bool,
        link_type: str | None = None,
        size: int | None = None,
    ) -> str:
        """Place object `oid` (of `size` bytes, if known) at `dest`, atomically replacing what
        is there; returns the link type used."""
        src = self.path_of(oid)
        try:
            return self.linker.place(src, dest, executable, only=link_type, size=size)
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc, dest) from None
            if exc.errno == errno.ENOENT and not os.path.exists(src):
                raise FileNotFoundError(src) from None
            raise

    # -- receiving from elsewhere (a remote) ---------------------------------------------------
    def tmp_path(self, oid_hint: str = "obj") -> str:
        """A fresh temp name inside the store (same filesystem: publishing is a rename)."""
        return self._tmp_path(oid_hint)

    def add_verified_bytes(self, data: bytes, oid: str, source: str) -> None:
        """Store `data` as `oid` only if it hashes to `oid`; `source` names where it came from
        in the error. Bad bytes are never written."""
        got = hash_bytes(data) + (".dir" if oid.endswith(".dir") else "")
        if got != oid:
            raise CorruptObjectError(
                f"object {oid} from {source} is corrupt (its content hashes to {got})",
                hint="It was not stored. Push a good copy from a machine that has it.",
            )
        self.add_bytes(data, oid)

    def publish_verified(self, tmp: str, oid: str, source: str) -> int:
        """Hash the file `tmp` (a temp name from `tmp_path`) and publish it as `oid` if it
        matches; otherwise delete it and raise. Returns its size."""
        try:
            with open(tmp, "rb", buffering=0) as fin:
                digest, size = hash_stream(fin)
            got = digest + (".dir" if oid.endswith(".dir") else "")
            if got != oid:
                raise CorruptObjectError(
                    f"object {oid} from {source} is corrupt (its content hashes to {got})",
                    hint="It was not stored. Push a good copy from a machine that has it.",
                )
            if self.exists(oid):
                unlink_quietly(tmp)
            else:
                self._publish(tmp, oid)
                self._remember(self.path_of(oid), 0, wrote_bytes=True)
            return size
        except BaseException as exc:
            self._fail(tmp, exc)

    def remove_tmp(self) -> None:
        import shutil  # here: it imports the compression modules, ~1 ms of start-up

        shutil.rmtree(self.tmp_dir, ignore_errors=True)
