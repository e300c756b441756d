"""`artver add -o DST SRC` and `artver add --to-remote`: track data that is not where it goes.

`-o`: SRC, a file or directory anywhere (outside the repository too), is copied into the cache,
hashed while it is copied, and placed at DST with the configured link type (what `checkout`
does); `DST.artver` and the `.gitignore` line are written. SRC is left as it is.

`--to-remote`: SRC (a local path, or a URL fsspec reads: `s3://...`, `gs://...`,
`file://...`) goes straight to a remote. A directory remote gets each file streamed into a
temp file while it is hashed, then renamed to its id; an object store gets each local file
hashed, then uploaded if it lacks it (a URL's file is streamed into a temp file in the cache
while hashed, uploaded, and deleted). A directory's manifest goes last, and is the one thing
kept in the local cache. `DST.artver` is written; DST is not placed (`artver pull DST` gets it),
unless SRC is already DST (a path in the repository, added without -o).

Everything is checked before anything is written: a tracked or existing DST, a missing SRC, no
remote.
"""

from __future__ import annotations

import os
import stat as stat_mod
from pathlib import Path

from artver import scm
from artver.cache.hashing import hash_file, new_hasher
from artver.cache.tree import FileEntry, Manifest
from artver.errors import ArtverError, PathError, UsageError
from artver.fsutil import temp_name, unlink_quietly
from artver.ops.add import (
    AddResult,
    _check_no_nested,
    record,
    refuse_git_tracked,
    refuse_ignored,
    tracking_ancestor,
    validate,
)
from artver.ops.placement import check_tracked_path
from artver.ops.snapshot import tree_ignore
from artver.pointer import SUFFIX, Output, is_pointer_file, pointer_path_for
from artver.repo import Repo
from artver.workspace import WsFile, parallel_map, scan_tree, shared_map, stat_path

READ_CHUNK = 4 * 1024 * 1024


# Plain classes, not dataclasses: generating one costs start-up time.
class RemoteAddResult:
    """What `add --to-remote` did: the pointer it wrote, and what went to the remote."""

    def __init__(self, added: AddResult, remote: str, sent: int, already: int, placed: bool):
        self.added = added
        self.remote = remote
        self.sent = sent  # objects uploaded
        self.already = already  # objects the remote had
        self.placed = placed  # the data is in the workspace (SRC was DST)


# -- where it goes ---------------------------------------------------------------------------------
def _check_dst(repo: Repo, dst: Path, shown: str, cwd: Path, is_dir: bool) -> Path:
    """`dst` normalised, once it is a place a new tracked path can go: inside the repository,
    not tracked, not there yet, not inside tracked data, not ignored, not in Git."""
    dst = check_tracked_path(repo, dst, shown, is_dir)
    problem = scm.unignorable(dst.name)
    if problem is not None:
        raise PathError(repr(shown), problem)
    if dst == repo.root:
        raise PathError(shown, "is the repository root; name a path inside it")
    if is_pointer_file(dst):
        raise PathError(shown, "is a pointer file name; name the data path instead")
    pointer = pointer_path_for(dst)
    if pointer.is_file():
        raise PathError(
            shown,
            f"is already tracked by {repo.display(pointer, cwd)}",
            hint="Choose another -o path, or `artver add` that path to record its new content.",
        )
    if os.path.lexists(dst):
        raise PathError(
            shown, "already exists", hint="Choose another -o path, or move what is there away."
        )
    if os.path.lexists(pointer):
        raise PathError(shown, f"its pointer file {repo.display(pointer, cwd)} is in the way")
    ancestor = tracking_ancestor(repo, dst)
    if ancestor is not None:
        owner = repo.rel(ancestor)
        raise PathError(shown, f"is inside {owner}, which is already tracked by {owner}{SUFFIX}")
    above = dst.parent
    while not os.path.lexists(above):
        above = above.parent
    if not above.is_dir():
        raise PathError(shown, f"{repo.display(above, cwd)} is not a directory")
    refuse_ignored(repo, dst, shown, cwd, is_dir)
    refuse_git_tracked(repo, [(dst, shown)], cwd)
    return dst


def _local(src: str, cwd: Path) -> Path:
    return Path(os.path.abspath(cwd / os.path.expanduser(src)))


def _list_local(repo: Repo, src: Path, shown: str, dst: Path) -> tuple[str, list[WsFile]]:
    """("file" or "dir", the files) of the local SRC, listed with the ignore rules of DST's
    place (and those inside SRC, which come along)."""
    st = stat_path(str(src), shown)
    if st is None:
        raise PathError(shown, "no such file or directory")
    if scm.is_inside(src, repo.root):
        repo.check_inside(src, shown)  # not .git or .artver
    if stat_mod.S_ISREG(st.st_mode):
        return "file", [WsFile.from_stat("", str(src), st)]
    if not stat_mod.S_ISDIR(st.st_mode):
        raise PathError(shown, "not a regular file or directory")
    if dst != src and scm.is_inside(dst, src):
        raise PathError(repo.display(dst), f"is inside {shown}, which is being added")
    # Inside the repository, links may lead where the workspace's may; a path outside it is
    # the user's own, and its links are followed wherever they lead (loops are errors).
    within = repo.link_roots if scm.is_inside(src, repo.root) else ()
    files = scan_tree(str(src), shown, within, tree_ignore(repo, dst, repo.rel(dst)))
    _check_no_nested([(src, shown)], [("dir", files, None)])
    return "dir", files


def _output(dst: Path, kind: str, entries: list[FileEntry]) -> tuple[Output, Manifest | None]:
    if kind == "file":
        return Output(dst.name, entries[0].oid, entries[0].size), None
    manifest = Manifest.build(entries)
    return Output(dst.name, manifest.oid, manifest.size, manifest.nfiles), manifest


# -- add -o: through the cache ---------------------------------------------------------------------
def add_out(repo: Repo, sources: list[str], out: str, cwd: Path) -> AddResult:
    """Copy the one SRC into the cache and place it at `out`, tracked."""
    if len(sources) != 1:
        raise UsageError("-o/--out takes exactly one SRC")
    src_shown = sources[0]
    if "://" in src_shown:
        raise UsageError("-o without --to-remote copies a local path; add --to-remote for a URL")
    src = _local(src_shown, cwd)
    dst_shown = out
    with repo.lock("artver add"):
        if stat_path(str(src), src_shown) is None:
            raise PathError(src_shown, "no such file or directory")
        dst = _check_dst(repo, _local(out, cwd), dst_shown, cwd, os.path.isdir(src))
        kind, files = _list_local(repo, src, src_shown, dst)
        oids = _cache_files(repo, files, src_shown)
        entries = [FileEntry(f.rel, oids[f.rel], f.size, f.executable) for f in files]
        output, manifest = _output(dst, kind, entries)
        if manifest is not None:
            repo.odb.add_manifest(manifest)
            repo.state.mark_complete(manifest.oid)
        dst.parent.mkdir(parents=True, exist_ok=True)
        added = record(repo, dst, output)
        from artver.ops.checkout import restore
        from artver.ops.targets import Target

        restore(repo, [Target(dst, output, dst_shown, False)])
        return added


def _cache_files(repo: Repo, files: list[WsFile], shown: str) -> dict[str, str]:
    """Copy each file into the cache, hashing while copying: {rel: oid}."""
    odb = repo.odb
    oids: dict[str, str] = {}

    def copy(f: WsFile) -> str:
        try:
            return odb.ingest_copy(f.abspath, f.size)[0]
        except FileNotFoundError:
            raise PathError(
                _name(shown, f.rel), "disappeared while artver was reading it"
            ) from None
        except PermissionError:
            raise PathError(_name(shown, f.rel), "permission denied (cannot read it)") from None

    def done(f: WsFile, oid: str) -> None:
        oids[f.rel] = oid
        repo.progress.advance(1, f.size)

    def start_bar() -> None:
        repo.progress.start("copying", len(files), sum(f.size for f in files))

    try:
        shared_map(copy, files, repo.config.jobs, done, start_bar)
    finally:
        repo.progress.finish()
    return oids


def _name(shown: str, rel: str) -> str:
    return f"{shown}/{rel}" if rel else shown


# -- add --to-remote: straight to the remote -------------------------------------------------------
def add_to_remote(
    repo: Repo, sources: list[str], out: str | None, remote_name: str | None, cwd: Path
) -> RemoteAddResult:
    """Send the one SRC to the remote and track it as `out` (default: SRC itself when it is a
    path in the repository, else its last name in the current directory)."""
    from artver.remotes.source import Source, is_url

    if len(sources) != 1:
        raise UsageError("--to-remote takes exactly one SRC")
    src_shown = sources[0]
    _check_a_remote(repo, remote_name)
    url = is_url(src_shown)
    src = None if url else _local(src_shown, cwd)
    in_place = out is None and src is not None and scm.is_inside(src, repo.root)
    if out is None:
        out = src_shown if in_place else os.path.basename(src_shown.rstrip("/")) or src_shown
    with repo.lock("artver add"):
        source = Source(src_shown, cwd, _options_for(repo, src_shown)) if url else None
        if source is not None:
            kind, sizes = source.listing()
            if kind == "missing":
                raise PathError(src_shown, "no such file or directory")
        else:
            assert src is not None
            if stat_path(str(src), src_shown) is None:
                raise PathError(src_shown, "no such file or directory")
            kind = "dir" if src.is_dir() else "file"
        if in_place:
            assert src is not None
            dst = Path(os.path.normpath(src))
            validate(repo, dst, out, cwd)
            refuse_git_tracked(repo, [(dst, out)], cwd)
        else:
            dst = _check_dst(repo, _local(out, cwd), out, cwd, kind == "dir")
        if source is not None:
            rels = sorted(sizes)
            if kind == "dir":
                rels = tree_ignore(repo, dst, repo.rel(dst)).filter(rels, source.read)
            items = [(rel, sizes[rel], False) for rel in rels]
            files: list[WsFile] = []
        else:
            assert src is not None
            kind, files = _list_local(repo, src, src_shown, dst)
            items = [(f.rel, f.size, f.executable) for f in files]
        from artver.remotes.remote import open_remote

        remote = open_remote(repo.config, remote_name, repo.root)
        sender = _Sender(repo, remote, src_shown, source)
        oids, sent, already = sender.send(files, items)
        entries = [FileEntry(rel, oids[rel], size, exe) for rel, size, exe in items]
        output, manifest = _output(dst, kind, entries)
        if manifest is not None:
            data = manifest.to_bytes()
            if sender.put_bytes(manifest.oid, data):
                sent += 1
            else:
                already += 1
            repo.odb.add_bytes(data, manifest.oid)  # the list of files, so status can name them
        repo.state.mark_on_remote(remote.key, {output.oid})
        if in_place:
            base = repo.rel(dst)
            repo.state.save(
                (f"{base}/{f.rel}" if f.rel else base, f.known(oids[f.rel])) for f in files
            )
        dst.parent.mkdir(parents=True, exist_ok=True)
        added = record(repo, dst, output)
        return RemoteAddResult(added, str(remote), sent, already, in_place)


def _check_a_remote(repo: Repo, name: str | None) -> None:
    """Refuse before anything is read when no remote is configured."""
    if name is None and not repo.config.get("core.remote"):
        configured = repo.config.get("remote") or {}
        if not configured:
            raise ArtverError(
                "--to-remote needs a remote, and none is configured",
                hint="Add one and make it the default: `artver remote add -d NAME URL` "
                "(see docs/remotes.md), or name one with -r.",
            )


def _options_for(repo: Repo, url: str) -> dict:
    """The options (endpoint, credentials) of a configured remote on the store `url` is on."""
    remotes = repo.config.get("remote") or {}
    for conf in remotes.values() if isinstance(remotes, dict) else ():
        if not isinstance(conf, dict):
            continue
        remote_url = str(conf.get("url", ""))
        scheme, _, rest = remote_url.partition("://")
        bucket = rest.split("/", 1)[0]
        if rest and url.startswith(f"{scheme}://{bucket}"):
            return dict(conf)
    return {}


class _Sender:
    """Moves files to the remote, each hashed as it goes, none kept in the cache."""

    def __init__(self, repo: Repo, remote, shown: str, source) -> None:
        self.repo = repo
        self.remote = remote
        self.shown = shown
        self.source = source  # a Source for a URL, None for a local path
        self.to_dir = remote.protocol == "file"

    def send(self, files: list[WsFile], items: list[tuple[str, int, bool]]):
        """Send every item; ({rel: oid}, objects sent, objects already there)."""
        from artver.ops.transfer import present_on, remote_jobs
        from artver.remotes import transfer
        from artver.remotes.remote import classify

        remote, repo = self.remote, self.repo
        jobs = remote_jobs(repo, remote)
        oids: dict[str, str] = {}
        sent: set[str] = set()
        by_rel = {f.rel: f for f in files}
        todo = list(items)
        if self.source is None and not self.to_dir:
            # An object store: hash first, then upload only what it lacks (one listing).
            hashed = parallel_map(lambda it: self._hash_local(by_rel[it[0]]), todo, jobs)
            oids.update((it[0], oid) for it, oid in hashed)
            there = present_on(remote, sorted(set(oids.values())), jobs)
            todo = [it for it in todo if oids[it[0]] not in there]

        def one(item: tuple[str, int, bool]) -> int:
            rel, size, _ = item
            if self.source is not None:
                oid, new = self._stream(lambda: self.source.open(rel), rel)
            elif self.to_dir:
                oid, new = self._stream(lambda: _open_local(by_rel[rel].abspath, rel, self), rel)
            else:
                oid, new = self._upload_local(by_rel[rel], oids[rel]), True
            oids[rel] = oid
            if new:
                sent.add(oid)
            return size

        repo.progress.start("upload", len(todo), sum(it[1] for it in todo))
        try:
            outcome = transfer.run_batch(todo, one, jobs, repo.progress, classify, _never)
        finally:
            repo.progress.finish()
        if outcome.error is not None:
            from artver.remotes.remote import translate

            note = f"sent {len(sent)} of {len(todo)} objects before it stopped"
            raise translate(outcome.error, remote, note) from None
        if outcome.missing:
            rel = outcome.missing[0][0]
            raise PathError(_name(self.shown, rel), "disappeared while artver was reading it")
        return oids, len(sent), len(set(oids.values())) - len(sent)

    # -- reading the source ------------------------------------------------------------------
    def _hash_local(self, f: WsFile) -> str:
        try:
            return hash_file(f.abspath, f.size)
        except OSError as exc:
            raise _read_error(self.shown, f.rel, exc) from None

    def _upload_local(self, f: WsFile, oid: str) -> str:
        """Upload the local file `f`, hashed to `oid` before; refused (and the upload
        deleted) when the file changed meanwhile."""
        self.remote.upload(f.abspath, oid, f.size)
        try:
            st = os.stat(f.abspath)
            unchanged = (st.st_ino, st.st_mtime_ns, st.st_size) == (f.inode, f.mtime_ns, f.size)
        except OSError:
            unchanged = False
        if not unchanged:
            try:
                self.remote.fs.rm(self.remote.path_of(oid))
            except Exception:  # the error below says what to do either way
                pass
            raise PathError(
                _name(self.shown, f.rel),
                "changed while artver was uploading it; run the command again",
            )
        return oid

    def _stream(self, opener, rel: str) -> tuple[str, bool]:
        """Read the file `opener()` gives once, hashing it on the way into a temp file (on a
        directory remote: in the remote; else in the cache's temp directory, uploaded and
        deleted); (its oid, whether it was new there)."""
        remote = self.remote
        if self.to_dir:
            tmp_dir = f"{remote.root}/tmp"
            os.makedirs(tmp_dir, exist_ok=True)
            tmp = temp_name(f"{tmp_dir}/obj")
        else:
            tmp = self.repo.odb.tmp_path()
        hasher = new_hasher()
        try:
            with opener() as fin, open(tmp, "wb") as fout:
                while True:
                    try:
                        chunk = fin.read(READ_CHUNK)
                    except OSError as exc:
                        raise _read_error(self.shown, rel, exc) from None
                    if not chunk:
                        break
                    hasher.update(chunk)
                    fout.write(chunk)
            oid = hasher.hexdigest()
            if self.to_dir:
                final = remote.path_of(oid)
                if os.path.exists(final):
                    return oid, False
                os.makedirs(os.path.dirname(final), exist_ok=True)
                os.replace(tmp, final)
                return oid, True
            remote.upload(tmp, oid, os.path.getsize(tmp))
            return oid, True
        finally:
            unlink_quietly(tmp)

    def put_bytes(self, oid: str, data: bytes) -> bool:
        """Store `data` (small: a manifest) as `oid` on the remote; False if it was there."""
        from artver.ops.transfer import guard_remote

        remote = self.remote
        final = remote.path_of(oid)
        if guard_remote(remote, remote.exists, oid):
            return False
        if not self.to_dir:
            guard_remote(remote, remote.fs.pipe_file, final, data)
            return True
        os.makedirs(os.path.dirname(final), exist_ok=True)
        tmp = temp_name(final)
        try:
            with open(tmp, "wb") as fobj:
                fobj.write(data)
            os.replace(tmp, final)
        finally:
            unlink_quietly(tmp)
        return True


def _open_local(path: str, rel: str, sender: _Sender):
    try:
        return open(path, "rb", buffering=0)
    except OSError as exc:
        raise _read_error(sender.shown, rel, exc) from None


def _read_error(shown: str, rel: str, exc: OSError) -> PathError:
    if isinstance(exc, FileNotFoundError):
        return PathError(_name(shown, rel), "disappeared while artver was reading it")
    if isinstance(exc, PermissionError):
        return PathError(_name(shown, rel), "permission denied (cannot read it)")
    return PathError(_name(shown, rel), exc.strerror or str(exc))


def _never(exc: BaseException) -> bool:
    return False
