"""`artver import-url URL [OUT]` and `artver get-url URL [OUT]`, and keeping an import up to date
with its source (`update_url`, `url_changed`: for `artver update`, `status` and `repro`).

import-url downloads the data at URL (any fsspec URL, or a local path outside the repository)
into the cache, hashed while it is copied, places it at OUT, and writes `OUT.artver` with a
top-level `source:` mapping: the URL and the source's own version marker
(`artver.remotes.marker`). `--to-remote` streams it to a remote instead, keeping no copy (as
`add --to-remote` does), and records the same. get-url only downloads, verified.

Everything is checked before anything is written (OUT tracked, existing or out of place, the URL
missing or unreadable), and the source's markers are read before and after the download: data
that changed meanwhile is refused rather than recorded under a marker it does not match.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from artver.errors import ArtverError, PathError, UsageError
from artver.ops.url_fetch import Listing, Origin, SrcFile, basename, default_jobs
from artver.pointer import Output, Pointer
from artver.remotes import marker as markers
from artver.repo import Repo

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from artver.cache.tree import Manifest
    from artver.ignore import TreeIgnore
    from artver.ops.add import AddResult

SOURCE_KEY = "source"
# The state DB remembers a directory's per-file markers under this prefix and its digest.
MARKERS_KEY = "import-url:markers:"


class NotAnImportError(ArtverError):
    """A pointer file that records no `source:` (not written by import-url)."""


class ImportResult:
    """What import-url (or an update) did."""

    def __init__(self, added: AddResult, url: str, read: int, remote: str | None, sent: int = 0):
        self.added = added
        self.url = url
        self.read = read  # files downloaded from the source
        self.remote = remote  # the remote it went to (--to-remote), else None
        self.sent = sent  # objects uploaded to that remote


class GetResult:
    def __init__(self, path: Path, kind: str, nfiles: int, size: int) -> None:
        self.path = path
        self.kind = kind
        self.nfiles = nfiles
        self.size = size


# -- the recorded source (pure) ----------------------------------------------------------------
def recorded_source(pointer: Pointer) -> dict[str, Any] | None:
    """The pointer's `source:` as import-url writes it ({url, marker, ...}), or None."""
    source = pointer.extra.get(SOURCE_KEY)
    if (
        isinstance(source, dict)
        and isinstance(source.get("url"), str)
        and isinstance(source.get("marker"), dict)
    ):
        return source
    return None


def source_entry(url: str, marker: dict[str, Any], to_remote: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"url": url, "marker": marker}
    if to_remote:
        entry["to_remote"] = True
    return entry


def current_marker(kind: str, per_file: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return per_file[""] if kind == "file" else markers.dir_marker(per_file)


def recorded_url(url: str, origin: Origin) -> str:
    """What the pointer records: a local path as an absolute path (a relative one would mean
    nothing from another directory), a URL as given."""
    if origin.local:
        return f"file://{origin.path}" if url.startswith("file://") else origin.path
    return url


# -- helpers -------------------------------------------------------------------------------------
def _options_for(repo: Repo | None, url: str) -> dict:
    if repo is None:
        return {}
    from artver.ops.add_out import _options_for as remote_options

    return remote_options(repo, url)


def _refuse_secret_url(url: str) -> None:
    from artver.redact import mask_text, public_url

    if public_url(url) != url:
        raise ArtverError(
            f"{mask_text(url)} holds a password or token, which artver would have to write "
            "into the pointer file, a file committed to Git",
            hint="Give the credentials the standard way (environment, profile, or a "
            "configured remote on the same store) and the URL without them.",
        )


def _origin(repo: Repo, url: str, cwd: Path) -> Origin:
    from artver import scm

    _refuse_secret_url(url)
    origin = Origin(url, cwd, _options_for(repo, url))
    if origin.local and scm.is_inside(Path(origin.path), repo.root):
        raise PathError(
            url,
            "is inside the repository; import-url reads data from elsewhere",
            hint="Track it where it is with `artver add`, or name it as a stage dependency.",
        )
    return origin


def _check_out(repo: Repo, out: str, cwd: Path, is_dir: bool) -> Path:
    """OUT normalised, once it is a place a new tracked path can go (as `add -o` checks)."""
    from artver.ops.add_out import _check_dst, _local

    try:
        return _check_dst(repo, _local(out, cwd), out, cwd, is_dir)
    except PathError as exc:
        if exc.hint is None or "-o" not in exc.hint:
            raise
        hint = (
            "Choose another OUT; an earlier import-url there is brought up to date by "
            "`artver update`."
            if "tracked" in exc.reason
            else "Choose another OUT, or move what is there away."
        )
        raise PathError(exc.path, exc.reason, hint=hint) from None


def _list(origin: Origin, ignore: TreeIgnore | None) -> Listing:
    listing = origin.listing(ignore)
    if listing is None:
        from artver.remotes.source import SourceMissingError

        raise SourceMissingError(f"{origin.shown()}: no such file or directory")
    return listing


def _ignore_of(repo: Repo, dst: Path) -> TreeIgnore:
    from artver.ops.snapshot import tree_ignore

    return tree_ignore(repo, dst, repo.rel(dst))


def _output(
    dst: Path, kind: str, listing: Listing, read: dict[str, tuple[str, int]], kept: dict
) -> tuple[Output, Manifest | None]:
    """The output of `dst`: files read now (`read`: {rel: (oid, size)}) and those kept from
    the old version (`kept`: {rel: FileEntry})."""
    from artver.cache.tree import FileEntry, Manifest

    if kind == "file":
        oid, size = read[""]
        return Output(dst.name, oid, size), None
    entries = []
    for rel, f in listing.files.items():
        if rel in read:
            oid, size = read[rel]
            entries.append(FileEntry(rel, oid, size, f.executable))
        else:
            entries.append(kept[rel])
    manifest = Manifest.build(entries)
    return Output(dst.name, manifest.oid, manifest.size, manifest.nfiles), manifest


def _record(
    repo: Repo, dst: Path, output: Output, source: dict[str, Any], old: Pointer | None
) -> AddResult:
    """Write `dst`'s pointer with its `source:` (keeping what else an older one recorded: a
    `desc:`, unknown keys) and its .gitignore line."""
    from artver import pointer as pointers
    from artver import scm
    from artver.ops.add import AddResult
    from artver.pointer import pointer_path_for

    extra: dict[str, Any] = {}
    previous = None
    if old is not None:
        previous, extra = old.out, dict(old.extra)
        output.extra = old.out.extra
    extra[SOURCE_KEY] = source
    pointer = Pointer(pointer_path_for(dst), [output], extra)
    pointers.save(pointer)
    return AddResult(pointer, previous, scm.ensure_ignored(dst))


def _remember_markers(repo: Repo, kind: str, per_file: dict[str, dict[str, Any]]) -> None:
    """A directory's per-file markers, for the next update to read only what changed."""
    import sqlite3

    if kind == "dir":
        with contextlib.suppress(sqlite3.Error):
            repo.state.set_value(MARKERS_KEY + markers.digest(per_file), per_file)


def _remembered_markers(repo: Repo, marker: dict[str, Any]) -> dict[str, Any] | None:
    import sqlite3

    digest = marker.get("digest")
    if not isinstance(digest, str):
        return None
    with contextlib.suppress(sqlite3.Error):
        found = repo.state.get_value(MARKERS_KEY + digest)
        return found if isinstance(found, dict) else None
    return None


def _place(repo: Repo, dst: Path, output: Output, shown: str) -> None:
    from artver.ops.checkout import restore
    from artver.ops.targets import Target

    dst.parent.mkdir(parents=True, exist_ok=True)
    restore(repo, [Target(dst, output, shown, False)])


# -- fetching ------------------------------------------------------------------------------------
class _Fetch:
    """Reads the chosen files of a source into the cache, or with --to-remote to `remote`."""

    def __init__(self, repo: Repo, origin: Origin, jobs: int | None, remote) -> None:
        self.repo = repo
        self.origin = origin
        self.asked_jobs = jobs
        self.remote = remote  # a Remote with --to-remote, else None
        self.sent = 0
        self._sender = None

    def files(self, listing: Listing, rels: list[str]) -> dict[str, tuple[str, int]]:
        """{rel: (oid, size)} of the files `rels` of the listing, read."""
        chosen = [listing.files[rel] for rel in rels]
        if not chosen:
            return {}
        if self.remote is None:
            jobs = default_jobs(self.origin, self.asked_jobs, self.repo.config.jobs)
            return self.origin.to_cache(self.repo, chosen, jobs)
        return self._send(chosen)

    def _sender_for(self):
        from artver.ops.add_out import _Sender

        if self._sender is None:
            origin = self.origin
            source = None if origin.local else origin._source
            self._sender = _Sender(self.repo, self.remote, origin.shown(), source)
        return self._sender

    def _send(self, chosen: list[SrcFile]) -> dict[str, tuple[str, int]]:
        """Stream the files to the remote (as `add --to-remote` does), none kept here."""
        from artver.workspace import WsFile

        remote = self.remote
        if self.asked_jobs is not None:
            default_jobs(self.origin, self.asked_jobs, 1)  # refuses -j 0
            remote.options = {**remote.options, "jobs": self.asked_jobs}  # -j wins
        files = []
        if self.origin.local:
            files = [
                WsFile(f.rel, f.abspath, f.info["ino"], f.info["mtime_ns"], f.size, f.executable)
                for f in chosen
            ]
        items = [(f.rel, f.size or 0, f.executable) for f in chosen]
        oids, sent, _ = self._sender_for().send(files, items)
        self.sent += sent
        return {f.rel: (oids[f.rel], f.size or 0) for f in chosen}

    def manifest(self, manifest: Manifest | None, output: Output) -> None:
        """Store a directory's manifest in the cache (with --to-remote on the remote too: the
        one thing kept here, so that status and diff can name its files)."""
        if manifest is not None:
            data = manifest.to_bytes()
            if self.remote is not None and self._sender_for().put_bytes(manifest.oid, data):
                self.sent += 1
            self.repo.odb.add_bytes(data, manifest.oid)
            if self.remote is None:
                self.repo.state.mark_complete(manifest.oid)
        if self.remote is not None:
            self.repo.state.mark_on_remote(self.remote.key, {output.oid})


def _open_remote(repo: Repo, name: str | None):
    from artver.ops.add_out import _check_a_remote
    from artver.remotes.remote import open_remote

    _check_a_remote(repo, name)
    return open_remote(repo.config, name, repo.root)


# -- import-url ----------------------------------------------------------------------------------
def import_url(
    repo: Repo,
    url: str,
    out: str | None,
    cwd: Path,
    to_remote: bool = False,
    remote_name: str | None = None,
    jobs: int | None = None,
) -> ImportResult:
    """Track the data at `url` as `out` (default: the URL's last name in `cwd`)."""
    if remote_name is not None and not to_remote:
        raise UsageError("-r/--remote goes with --to-remote")
    if out is None:
        out = basename(url)
        if not out:
            raise UsageError(f"{url} names no file or directory; give OUT")
    if to_remote:
        from artver.ops.add_out import _check_a_remote

        _check_a_remote(repo, remote_name)
    origin = _origin(repo, url, cwd)
    with repo.lock("artver import-url"):
        is_dir = origin.is_dir()
        # Where it goes is checked before the (possibly long) listing of a store.
        dst = _check_out(repo, out, cwd, is_dir)
        ignore = _ignore_of(repo, dst)
        listing = _list(origin, ignore)
        if listing.kind == "dir" and not is_dir:
            dst = _check_out(repo, out, cwd, True)
        per_file = origin.markers(listing)
        remote = _open_remote(repo, remote_name) if to_remote else None
        fetch = _Fetch(repo, origin, jobs, remote)
        rels = sorted(listing.files)
        read = fetch.files(listing, rels)
        origin.check_unchanged(per_file, rels, ignore)
        output, manifest = _output(dst, listing.kind, listing, read, {})
        fetch.manifest(manifest, output)
        if remote is None:
            _place(repo, dst, output, out)
        marker = current_marker(listing.kind, per_file)
        entry = source_entry(recorded_url(url, origin), marker, to_remote)
        dst.parent.mkdir(parents=True, exist_ok=True)
        added = _record(repo, dst, output, entry, None)
        _remember_markers(repo, listing.kind, per_file)
        return ImportResult(added, url, len(rels), str(remote) if remote else None, fetch.sent)


# -- keeping up with the source ------------------------------------------------------------------
def _load_import(repo: Repo, pointer_file: Path) -> tuple[Pointer, dict[str, Any]]:
    pointer = repo.load_pointer(pointer_file)
    source = recorded_source(pointer)
    if source is None:
        raise NotAnImportError(
            f"{repo.display(pointer.data_path())} was not imported from a URL "
            f"({repo.display(pointer_file)} records no source)",
        )
    return pointer, source


def _look(repo: Repo, pointer: Pointer, source: dict[str, Any]):
    """(origin, ignore rules, listing, per-file markers, marker now) of an import's source."""
    data = pointer.data_path()
    origin = Origin(source["url"], repo.root, _options_for(repo, source["url"]))
    ignore = _ignore_of(repo, data)
    listing = origin.listing(ignore)
    if listing is None:
        from artver.remotes.source import SourceMissingError

        raise SourceMissingError(
            f"the source of {repo.display(data)}, {origin.shown()}, does not exist any more",
            hint="Fix `url:` under `source:` in its pointer file, or stop tracking it with "
            "`artver remove`.",
        )
    per_file = origin.markers(listing)
    return origin, ignore, listing, per_file, current_marker(listing.kind, per_file)


def check_url(repo: Repo, pointer_file: Path) -> tuple[bool | None, str]:
    """(has the source moved on from the recorded marker, why not known): (None, reason) when
    it cannot tell; never raises for an unreadable source."""
    try:
        pointer, source = _load_import(repo, pointer_file)
        *_, now = _look(repo, pointer, source)
    except ArtverError as exc:
        return None, exc.message
    except Exception as exc:  # whatever a storage library raises: still "cannot tell"
        return None, f"{type(exc).__name__}: {exc}"
    return markers.changed(source["marker"], now), ""


def url_changed(repo: Repo, pointer_file: Path) -> bool | None:
    """Has the source of the import `pointer_file` changed since it was recorded? None when
    it cannot tell (unreachable, no credentials, not an import)."""
    return check_url(repo, pointer_file)[0]


def update_url(repo: Repo, pointer_file: Path, jobs: int | None = None) -> bool:
    """Bring the import `pointer_file` up to date with its source: when the source's marker
    differs from the recorded one, download what changed (for a directory, only the files whose
    markers changed, when their old markers are remembered here), rewrite the pointer and place
    the data (an import made with --to-remote goes to the default remote again). True when it
    downloaded, False when the source was unchanged. Takes the repository lock: call it
    unless this process holds it already (`artver update` does)."""
    with _locked(repo, "artver update"):
        pointer, source = _load_import(repo, pointer_file)
        origin, ignore, listing, per_file, now = _look(repo, pointer, source)
        if not markers.changed(source["marker"], now):
            return False
        _update(repo, pointer, source, origin, ignore, listing, per_file, now, jobs)
        return True


@contextlib.contextmanager
def _locked(repo: Repo, command: str) -> Iterator[None]:
    """The repository lock, unless this process holds it already: the lock is a flock, which
    a second open of the lock file in the same process would wait for in vain."""
    if _held_here(repo):
        yield
        return
    with repo.lock(command):
        yield


def _held_here(repo: Repo) -> bool:
    """Does this process hold the repository lock? Its file names the holder's pid, and a
    lock nobody holds can be taken (and is let go at once)."""
    import fcntl

    path = repo.artver_dir / "lock"
    try:
        held_by_us = path.read_text(encoding="utf-8").startswith(f"pid {os.getpid()} ")
    except (OSError, UnicodeDecodeError):
        return False
    if not held_by_us:
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True  # held, and its pid line names this process
    finally:
        os.close(fd)  # closing lets go of a lock taken just now
    return False


def _update(repo, pointer, source, origin, ignore, listing, per_file, now, jobs) -> ImportResult:
    old = pointer.out
    dst = pointer.data_path()
    shown = repo.display(dst)
    to_remote = bool(source.get("to_remote"))
    kept: dict[str, Any] = {}
    if listing.kind == "dir" and old.is_dir:
        kept = _old_entries(repo, old.oid)
        rels = markers.to_fetch(
            _remembered_markers(repo, source["marker"]),
            per_file,
            {rel: e.oid for rel, e in kept.items()},
        )
        if not to_remote:  # what the cache lacks is read again too
            rels = sorted(set(rels) | {r for r in per_file if not _in_cache(repo, kept.get(r))})
    else:
        rels = sorted(listing.files)
    remote = _open_remote(repo, None) if to_remote else None
    fetch = _Fetch(repo, origin, jobs, remote)
    read = fetch.files(listing, rels)
    origin.check_unchanged(per_file, rels, ignore)
    output, manifest = _output(dst, listing.kind, listing, read, kept)
    fetch.manifest(manifest, output)
    if not to_remote:
        _place(repo, dst, output, shown)
    entry = {**source, "marker": now}
    added = _record(repo, dst, output, entry, pointer)
    _remember_markers(repo, listing.kind, per_file)
    return ImportResult(
        added, source["url"], len(rels), str(remote) if remote else None, fetch.sent
    )


def _old_entries(repo: Repo, oid: str) -> dict[str, Any]:
    """{rel: FileEntry} of the recorded directory, or {} when its manifest is not here."""
    from artver.cache.odb import CorruptObjectError

    try:
        return {e.path: e for e in repo.odb.read_manifest(oid).entries}
    except (FileNotFoundError, CorruptObjectError, ValueError):
        return {}


def _in_cache(repo: Repo, entry: Any) -> bool:
    return entry is not None and repo.odb.exists(entry.oid)


# -- get-url -------------------------------------------------------------------------------------
def get_url(
    repo: Repo | None, url: str, out: str | None, cwd: Path, jobs: int | None = None
) -> GetResult:
    """Download the data at `url` to `out` (default: its last name in `cwd`; an existing
    directory: into it), every file checked; nothing is tracked. `repo` (when run in one)
    lends the endpoint and credentials of a remote on the same store."""
    from artver.config import usable_cores
    from artver.fsutil import temp_name
    from artver.ops.url_fetch import NoMarkerError

    name = basename(url)
    if out is None:
        if not name:
            raise UsageError(f"{url} names no file or directory; give OUT")
        out = name
    dst = Path(os.path.abspath(cwd / os.path.expanduser(out)))
    if dst.is_dir() and name:
        dst = dst / name
    if os.path.lexists(dst):
        raise PathError(os.path.relpath(dst, cwd), "already exists")
    if not dst.parent.is_dir():
        raise PathError(out, f"{dst.parent} is not a directory")
    origin = Origin(url, cwd, _options_for(repo, url))
    listing = _list(origin, None)
    try:
        per_file = origin.markers(listing)
    except NoMarkerError:
        per_file = None  # nothing to check the source against after the download
    tmp = temp_name(dst)
    try:
        size = _download_tree(origin, listing, tmp, default_jobs(origin, jobs, usable_cores()))
        if per_file is not None:
            origin.check_unchanged(per_file, sorted(listing.files), None)
        os.replace(tmp, dst)
    finally:
        _remove_quietly(tmp)
    return GetResult(dst, listing.kind, len(listing.files), size)


def _download_tree(origin: Origin, listing: Listing, tmp: str, jobs: int) -> int:
    """Write the listing's files under `tmp` (the file itself for a file source); bytes."""
    from artver.fsutil import temp_name
    from artver.workspace import parallel_map

    if listing.kind == "file":
        f = listing.files[""]
        origin.copy_to(f, tmp)
        if f.executable:
            os.chmod(tmp, 0o755)
        return os.path.getsize(tmp)
    os.mkdir(tmp)

    def one(f: SrcFile) -> int:
        final = os.path.join(tmp, *f.rel.split("/"))
        os.makedirs(os.path.dirname(final), exist_ok=True)
        part = temp_name(final)
        origin.copy_to(f, part)
        if f.executable:
            os.chmod(part, 0o755)
        os.replace(part, final)
        return os.path.getsize(final)

    return sum(n for _, n in parallel_map(one, list(listing.files.values()), jobs))


def _remove_quietly(path: str) -> None:
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)
