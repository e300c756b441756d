"""The bytes of another repository's data: what a path needs, fetched (every object hashed)
into a cache from where the source keeps them, then placed.

Where the bytes come from, in order: this repository's cache (an object already there is not
fetched again), the local cache of a source that is a local work tree, then the default
remote its committed config names. Each is read through the transfer machinery of `fetch`
(`ops.transfer.fetch_from`), so verification, parallelism and the manifest checks are the
same as for `artver pull`.
"""

from __future__ import annotations

import os
import shutil
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path

from artver.cache.odb import CorruptObjectError, ObjectStore, UnsafeManifestError
from artver.cache.tree import FileEntry, Manifest
from artver.errors import ArtverError, PathError
from artver.external.decide import locate, pick, suggestions
from artver.external.source import ExternalRepo
from artver.fsutil import temp_name, unlink_quietly
from artver.ops.transfer import Artifact, TransferResult, fetch_from, guard_remote
from artver.remotes.errors import CorruptRemoteError, NotOnRemoteError
from artver.repo import Repo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from artver.remotes.remote import Remote

# What one path of the source needs. kind: "file", "dir" or "git" (a file Git keeps: `data`
# holds it); oid, size, nfiles: what a pointer to it records (nfiles None for a file);
# artifacts: what to fetch; entries: the files to place (path "" for a single file), known
# once the manifest is in the cache (`entries_of`)
Wanted = namedtuple("Wanted", "path kind oid size nfiles artifacts entries data")


class SourceDataError(ArtverError):
    """The source's data cannot be had: no remote, or the remote lacks or refuses it."""


class Fetched:
    def __init__(self) -> None:
        self.transferred = 0  # objects downloaded
        self.nbytes = 0
        self.present = 0  # objects already in the cache

    def add(self, result: TransferResult) -> None:
        self.transferred += result.transferred
        self.nbytes += result.nbytes


# -- what a path needs -----------------------------------------------------------------------
def wanted(odb: ObjectStore, source: ExternalRepo, path: str, for_import: bool) -> Wanted:
    """What `path` of the source names and needs; `PathError` (naming a few tracked paths)
    when the source tracks nothing there. A directory below a tracked directory, or a file in
    one, needs that directory's manifest: it is fetched here (it is small)."""
    tracked = source.tracked()
    found = locate(tracked, path)
    if found is not None and found.kind == "artifact" and found.item.cached:
        item = found.item
        kind = "dir" if item.is_dir else "file"
        entries = None if item.is_dir else [FileEntry("", item.oid, item.size or 0)]
        nfiles = item.nfiles if item.is_dir else None
        return Wanted(
            path, kind, item.oid, item.size or 0, nfiles, [Artifact(path, item.oid, item.size)],
            entries, None,
        )  # fmt: skip
    if found is not None and found.kind == "inside":
        manifest = manifest_of(odb, source, found.item.oid, found.item.path)
        picked = pick(manifest.entries, found.inside)
        if picked is not None:
            kind, entries = picked
            arts = [
                Artifact(f"{path}/{e.path}" if e.path else path, e.oid, e.size) for e in entries
            ]
            if kind == "file":
                only = entries[0]
                return Wanted(path, "file", only.oid, only.size, None, arts,
                              [only._replace(path="")], None)  # fmt: skip
            sub = Manifest.build(entries)
            return Wanted(path, "dir", sub.oid, sub.size, sub.nfiles, arts, list(sub.entries), None)
        raise PathError(
            path, f"is not in the tracked directory {found.item.path} of {source.where}"
        )
    if not for_import and (found is None or found.kind == "artifact"):
        data = source.read(path)  # a file Git keeps (or a stage output kept in Git)
        if data is not None:
            return Wanted(path, "git", None, len(data), None, [], None, data)
    if found is not None and found.kind == "below":
        shown = ", ".join(t.path for t in found.below[:5])
        raise PathError(
            path,
            f"is a directory of {source.where} that holds tracked data ({shown}), not tracked "
            "data itself",
            hint="Name one of those paths (`artver ls URL PATH` lists them).",
        )
    if for_import and (found is not None or source.read(path) is not None):
        raise PathError(
            path,
            f"is kept in Git by {source.where}, not tracked by artver",
            hint="`artver get` downloads it; `artver import` tracks data artver tracks there.",
        )
    raise not_tracked(source, path)


def not_tracked(source: ExternalRepo, path: str) -> PathError:
    tracked = source.tracked()
    if not tracked:
        return PathError(path, f"not tracked by artver in {source.where}, which tracks nothing")
    names, more = suggestions(tracked, path)
    listed = ", ".join(names) + (f" and {more} more" if more else "")
    return PathError(
        path,
        f"not tracked by artver in {source.where}; it tracks {listed}",
        hint="`artver ls URL` lists what it tracks.",
    )


def entries_of(odb: ObjectStore, want: Wanted) -> list[FileEntry]:
    """The files to place for `want`, once its objects are in the cache."""
    if want.entries is not None:
        return want.entries
    return list(odb.read_manifest(want.oid).entries)


# -- where the bytes come from ---------------------------------------------------------------
def suppliers(source: ExternalRepo) -> list[tuple[str, Callable[[], Remote]]]:
    """(how messages name it, how to open it) of each place the source's objects may be, in
    the order they are asked: its local cache, then its default remote."""
    from artver.remotes.remote import Remote

    found: list[tuple[str, Callable[[], Remote]]] = []
    cache = source.local_cache()
    if cache is not None:
        where = f"the local cache of {source.shown}"
        found.append((where, lambda: Remote("local cache", str(cache), {}, cache)))
    remote = source.default_remote()
    if remote is not None:
        found.append((f"remote {remote}", lambda: remote))
    return found


def fetch(repo: Repo, source: ExternalRepo, artifacts: list[Artifact], jobs: int | None) -> Fetched:
    """Bring `artifacts` into `repo`'s cache (the caller holds its lock), each object hashed.
    `SourceDataError` names the remote and how many objects it lacks."""
    fetched = Fetched()
    if not artifacts or _complete(repo.odb, artifacts):
        fetched.present = _count(repo.odb, artifacts)
        return fetched
    places = suppliers(source)
    if not places:
        raise SourceDataError(
            f"{source.where} names no default remote (core.remote in its .artver/config.yaml), "
            "so its data cannot be downloaded",
            hint="Set one there (`artver remote add -d NAME URL`), commit it and push the data.",
        )
    missing: NotOnRemoteError | CorruptRemoteError | None = None
    for i, (_, make) in enumerate(places):
        last = i == len(places) - 1
        try:
            fetched.add(fetch_from(repo, make(), artifacts, jobs))
        except NotOnRemoteError as exc:  # the next place may have the rest
            missing = exc
            continue
        except CorruptRemoteError as exc:
            if last:
                raise
            missing = exc
            continue
        missing = None
        break
    if missing is not None:
        raise _lacking(source, places[-1][0], places[-1][1], missing)
    fetched.present = _count(repo.odb, artifacts) - fetched.transferred
    return fetched


def _lacking(source: ExternalRepo, where: str, make, exc: ArtverError) -> SourceDataError:
    lost = getattr(exc, "missing", {}) or {}
    count = sum(len(oids) for oids in lost.values())
    what = ", ".join(sorted(lost)[:3]) or "the data"
    remote = make()
    if remote.protocol == "file" and not os.path.isdir(remote.location.path):
        return SourceDataError(
            f"{where} of {source.where} cannot be reached: there is no directory "
            f"{remote.location.path}",
            hint="The source's remote must be readable from here; fix its URL there "
            "(`artver remote modify`), commit and push.",
        )
    return SourceDataError(
        f"{where} of {source.where} lacks {count} object{'s' if count != 1 else ''} of {what}",
        hint="Push the data from the source repository (`artver push` there), then try again.",
    )


def _complete(odb: ObjectStore, artifacts: list[Artifact]) -> bool:
    for art in artifacts:
        if not odb.exists(art.oid):
            return False
        if art.oid.endswith(".dir"):
            try:
                if not all(odb.exists(o) for o in odb.read_manifest_oids(art.oid)):
                    return False
            except (CorruptObjectError, UnsafeManifestError):
                return False
    return True


def _count(odb: ObjectStore, artifacts: list[Artifact]) -> int:
    oids: set[str] = set()
    for art in artifacts:
        oids.add(art.oid)
        if art.oid.endswith(".dir") and odb.exists(art.oid):
            oids.update(odb.read_manifest_oids(art.oid))
    return len(oids)


def manifest_of(odb: ObjectStore, source: ExternalRepo, oid: str, shown: str) -> Manifest:
    """The manifest `oid` of the source's tracked directory `shown`: from the cache, else
    downloaded (verified) from the first place that has it; its entries are checked."""
    if not odb.exists(oid):
        tried = []
        for where, make in suppliers(source):
            remote = make()
            guard_remote(remote, remote.connect)
            if guard_remote(remote, remote.exists, oid):
                guard_remote(remote, remote.download, oid, None, odb)
                break
            tried.append(where)
        else:
            places = " or ".join(tried) or "any remote (it names no default remote)"
            raise SourceDataError(
                f"{shown}: the directory manifest {oid} of {source.where} is not in {places}",
                hint="Push the data from the source repository (`artver push` there).",
            )
    try:
        return odb.read_manifest(oid)
    except UnsafeManifestError as exc:
        unlink_quietly(odb.path_of(oid))
        raise exc.about(shown, source.where) from None


# -- placing ---------------------------------------------------------------------------------
def place_copies(repo: Repo, entries: list[FileEntry], dest: Path, is_dir: bool) -> None:
    """Write independent copies (reflinks where the filesystem can) of the cached objects
    `entries` lists at `dest`, which must not exist: a directory is assembled in a temp
    directory beside it and renamed into place, so `dest` appears whole or not at all."""
    from artver.cache.links import Linker
    from artver.workspace import shared_map

    odb = repo.odb
    linker = Linker(["reflink", "copy"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not is_dir:
        entry = entries[0]
        linker.place(odb.path_of(entry.oid), str(dest), entry.executable, size=entry.size)
        return
    tmp = Path(temp_name(dest))
    try:
        tmp.mkdir()
        for parent in sorted({os.path.dirname(e.path) for e in entries if "/" in e.path}):
            (tmp / parent).mkdir(parents=True, exist_ok=True)
        base = str(tmp) + os.sep

        def place(entry: FileEntry) -> int:
            linker.place(odb.path_of(entry.oid), base + entry.path, entry.executable,
                         size=entry.size)  # fmt: skip
            return entry.size

        def done(entry: FileEntry, size: int) -> None:
            repo.progress.advance(1, size)

        def started() -> None:
            repo.progress.start("get", len(entries), sum(e.size for e in entries))

        try:
            shared_map(place, entries, repo.config.jobs, done, started)
        finally:
            repo.progress.finish()
        os.rename(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def place_moves(repo: Repo, entries: list[FileEntry], dest: Path, is_dir: bool) -> None:
    """As `place_copies`, for a scratch cache on the filesystem of `dest` that is thrown away
    afterwards: its objects are renamed into place (and made writable) rather than copied,
    a file listed twice being copied from where the first went."""
    from artver.workspace import shared_map

    odb = repo.odb
    umask = os.umask(0)
    os.umask(umask)
    modes = (0o666 & ~umask, 0o777 & ~umask)
    groups: dict[str, list[FileEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.oid, []).append(entry)
    if not is_dir:
        entry = entries[0]
        tmp = temp_name(dest)
        os.rename(odb.path_of(entry.oid), tmp)
        os.chmod(tmp, modes[entry.executable])
        os.replace(tmp, dest)
        return
    tmp = Path(temp_name(dest))
    try:
        tmp.mkdir()
        for parent in sorted({os.path.dirname(e.path) for e in entries if "/" in e.path}):
            (tmp / parent).mkdir(parents=True, exist_ok=True)
        base = str(tmp) + os.sep

        def place(oid: str) -> int:
            first, *more = groups[oid]
            path = base + first.path
            os.rename(odb.path_of(oid), path)
            os.chmod(path, modes[first.executable])
            for other in more:
                from artver.fsutil import kernel_copy

                kernel_copy(path, base + other.path, 0o777 if other.executable else 0o666)
            return first.size * len(groups[oid])

        def done(oid: str, size: int) -> None:
            repo.progress.advance(len(groups[oid]), size)

        def started() -> None:
            repo.progress.start("get", len(entries), sum(e.size for e in entries))

        try:
            shared_map(place, list(groups), repo.config.jobs, done, started)
        finally:
            repo.progress.finish()
        os.rename(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
