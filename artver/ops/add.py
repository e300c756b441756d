"""`artver add`: hash, cache and track files or directories; write `<path>.artver`."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from artver import pointer as pointers
from artver import scm
from artver.cache.tree import Manifest, limits
from artver.errors import ArtverError, PathError, PointerError
from artver.ops.placement import check_tracked_path
from artver.ops.snapshot import Scan, Snapshot, scan, take
from artver.pointer import SUFFIX, Output, Pointer, is_pointer_file, pointer_path_for
from artver.repo import Repo
from artver.workspace import WsFile, parallel_map, refuse_non_utf8

GLOB_CHARS = set("*?[")


@dataclass
class AddResult:
    pointer: Pointer
    previous: Output | None  # what the pointer recorded before, if it existed
    gitignore: Path | None  # the .gitignore that was changed, if any

    @property
    def changed(self) -> bool:
        return self.previous is None or self.previous.oid != self.pointer.out.oid


def expand_targets(targets: list[str], cwd: Path) -> list[tuple[Path, str]]:
    """Absolute paths for the targets, expanding globs that name no literal path."""
    found: dict[Path, str] = {}
    for target in targets:
        literal = Path(os.path.abspath(cwd / target))
        if GLOB_CHARS & set(target) and not os.path.lexists(literal):
            matches = sorted(glob.glob(target, root_dir=cwd, recursive=True))
            matches = [m for m in matches if not is_pointer_file(m)]
            if not matches:
                raise PathError(target, "no paths match this pattern")
            for match in matches:
                found.setdefault(Path(os.path.abspath(cwd / match)), match)
        else:
            found.setdefault(literal, target)
    return list(found.items())


def tracking_ancestor(repo: Repo, path: Path) -> Path | None:
    """The nearest parent directory of `path` that a pointer file tracks."""
    for parent in path.parents:
        if parent == repo.root or not scm.is_inside(parent, repo.root):
            return None
        if parent.with_name(parent.name + SUFFIX).is_file():
            return parent
    return None


def validate(repo: Repo, path: Path, shown: str, cwd: Path) -> None:
    check_tracked_path(repo, path, shown, is_dir=os.path.isdir(path))
    problem = scm.unignorable(path.name)
    if problem is not None:
        raise PathError(repr(shown), problem)
    if path == repo.root:
        raise PathError(shown, "is the repository root; track the data directories inside it")
    if is_pointer_file(path):
        raise PathError(shown, "is a pointer file; name the data it tracks instead")
    if not os.path.lexists(path):
        raise PathError(shown, "no such file or directory")
    pointer_file = pointer_path_for(path)
    if os.path.isdir(pointer_file) and not os.path.islink(pointer_file):
        # Checked before anything is cached: the pointer file could never be written.
        raise PathError(shown, f"its pointer file {repo.display(pointer_file, cwd)} is a directory")
    ancestor = tracking_ancestor(repo, path)
    if ancestor is not None:
        owner = repo.rel(ancestor)  # repo-relative: from a subdirectory `..` would say nothing
        raise PathError(
            shown,
            f"is inside {owner}, which is already tracked by {owner}{SUFFIX}",
            hint=f"Run `artver add {repo.display(ancestor, cwd)}` to record its new content.",
        )
    refuse_ignored(repo, path, shown, cwd, os.path.isdir(path))


def refuse_ignored(repo: Repo, path: Path, shown: str, cwd: Path, is_dir: bool) -> None:
    """Refuse a path an `.artverignore` excludes, as DVC refuses one its .dvcignore excludes."""
    from artver.ignore import check_path
    from artver.ops.snapshot import ignore_parser

    if path == repo.root:
        return
    found = check_path(str(repo.root), repo.rel(path), is_dir, ignore_parser(repo))
    if found is not None and found.ignores:
        where = repo.display(repo.root / found.file, cwd)
        raise PathError(
            shown,
            f"is ignored by {where}:{found.line}: {found.pattern}",
            hint="Change that line to track it.",
        )


def refuse_git_tracked(repo: Repo, paths: list[tuple[Path, str]], cwd: Path) -> None:
    """Refuse paths Git already tracks (or that hold files Git tracks), as DVC does: the same
    bytes would be versioned twice, and checkout and Git would fight over them."""
    git_root = scm.find_git_root(repo.root)
    if git_root is None:
        return
    rels = {}
    for path, shown in paths:
        if scm.is_inside(path, git_root) and path != git_root:
            rels[path.relative_to(git_root).as_posix()] = (path, shown)
    if not rels:
        return
    tracked = scm.tracked_by_git(git_root, list(rels))
    for rel, (path, _) in rels.items():
        if rel not in tracked:
            continue
        named = repo.display(path, cwd)
        inside = tracked[rel]
        what = named if inside == rel else f"{named}: {repo.display(git_root / inside, cwd)}"
        quoted = "'" + named.replace("'", "'\\''") + "'"
        raise ArtverError(
            f"{what} is tracked by Git; stop tracking it there first: "
            f'git rm -r --cached {quoted} && git commit -m "stop tracking {named}"'
        )


def check_names(shown: str, rels: list[str]) -> None:
    """Refuse a directory `shown` holding a file whose name is not valid UTF-8, or a pointer
    file (it would be tracked twice)."""
    refuse_non_utf8(shown, rels)
    nested = [rel for rel in rels if rel.endswith(SUFFIX)]
    if nested:
        raise PathError(
            shown,
            f"contains the pointer file {nested[0]}: it would be tracked twice",
            hint="Track the inner path or the outer one, not both.",
        )


def _check_no_nested(paths: list[tuple[Path, str]], scans: list[Scan]) -> None:
    for (path, shown), (_, files, _) in zip(paths, scans, strict=True):
        check_names(shown, [f.rel for f in files])
        for other, other_shown in paths:
            if other != path and scm.is_inside(other, path):
                raise PathError(other_shown, f"is inside {shown}, which is also being added")


def _ingest(repo: Repo, snapshot: Snapshot) -> Output:
    odb = repo.odb
    name = snapshot.path.name
    if snapshot.kind == "dir":
        manifest: Manifest = snapshot.manifest
        dir_oid = manifest.oid
        if not (repo.state.is_complete(dir_oid) and odb.exists(dir_oid)):
            _ingest_files(repo, snapshot)
            odb.add_manifest(manifest)
            repo.state.mark_complete(dir_oid)
        _link_back(repo, snapshot)
        return Output(name, dir_oid, manifest.size, manifest.nfiles)
    _ingest_files(repo, snapshot)
    _link_back(repo, snapshot)
    return Output(name, snapshot.oids[""], snapshot.files[0].size)


def _ingest_files(repo: Repo, snapshot: Snapshot) -> None:
    ingest_files(repo, snapshot.files, snapshot.oids, snapshot.read)


def ingest_files(repo: Repo, files: list[WsFile], oids: dict[str, str], read) -> None:
    """Cache the files the state DB answered for; those read this time (`read`, their rels)
    were cached already when the cache copies (see `_on_miss`)."""
    odb = repo.odb
    done = read if odb.linker.current in ("copy", "reflink") else frozenset()
    todo = [f for f in files if f.rel not in done and not odb.exists(oids[f.rel])]
    parallel_map(lambda f: odb.ingest_known(f.abspath, oids[f.rel]), todo, repo.config.jobs)


def _link_back(repo: Repo, snapshot: Snapshot) -> None:
    link_back(repo, snapshot.files, snapshot.oids)


def link_back(repo: Repo, files: list[WsFile], oids: dict[str, str]) -> None:
    """With hardlink/symlink caches, make workspace files links to their cache objects."""
    odb = repo.odb
    how = odb.linker.current
    if how not in ("hardlink", "symlink"):
        return
    for f in files:
        obj = odb.path_of(oids[f.rel])
        if how == "symlink" and os.path.islink(f.abspath) and os.readlink(f.abspath) == obj:
            continue
        if how == "hardlink" and os.path.exists(f.abspath) and os.stat(obj).st_ino == f.inode:
            continue
        odb.materialize(oids[f.rel], f.abspath, f.executable)


def _batch_ingest(repo: Repo):
    """How a big directory's files enter the cache, one batch at a time (`tree_snapshot`)."""

    def ingest(files: list[WsFile], oids: dict[str, str], read: set[str]) -> None:
        ingest_files(repo, files, oids, read)
        link_back(repo, files, oids)
        # Saved now, not at the end: memory stays flat, and the workers forked for the next
        # batch do not inherit (and send back) the records of every batch before.
        repo.remember_objects()

    return ingest


def _on_miss(repo: Repo):
    """How a file the state DB does not know is read: while copying into the cache when the
    cache copies (one read, one write), else hashed here and linked into the cache later."""
    odb = repo.odb
    if odb.linker.current in ("copy", "reflink"):
        return lambda f: odb.ingest_copy(f.abspath, f.size)[0]
    return None


def cache_path(repo: Repo, path: Path, shown: str, scanned: Scan | None = None) -> Output:
    """Store what is at `path` in the cache and return the output that records it."""
    previous = _previous_output(path)
    expect = previous.oid if previous is not None else None
    snapshot = take(
        repo,
        path,
        shown,
        _on_miss(repo),
        scanned,
        expect=expect,
        ingest=_batch_ingest(repo),
        check_names=lambda node, rels: check_names(shown, rels),
    )
    if snapshot.kind == "missing":
        raise PathError(shown, "no such file or directory")
    if snapshot.big is not None:
        # A big directory: each object was checked complete, or made so, object by object.
        oid, (nfiles, size) = snapshot.known_oid, snapshot.totals
        repo.state.mark_complete(oid)
        return Output(path.name, oid, size, nfiles)
    if snapshot.known_oid is not None:
        assert previous is not None
        if repo.state.is_complete(previous.oid) and repo.odb.exists(previous.oid):
            return Output(path.name, previous.oid, previous.size, previous.nfiles)
        rescan = (snapshot.kind, snapshot.files, snapshot.ignore)
        snapshot = take(repo, path, shown, _on_miss(repo), rescan)
    return _ingest(repo, snapshot)


def _previous_output(path: Path) -> Output | None:
    """What the pointer of `path` records now, or None (no pointer, or a broken one)."""
    file = pointer_path_for(path)
    if not file.is_file():
        return None
    try:
        return pointers.load(file).out
    except PointerError:
        return None


def add(repo: Repo, targets: list[str], cwd: Path) -> list[AddResult]:
    paths = expand_targets(targets, cwd)
    with repo.lock("artver add"):
        for path, shown in paths:
            validate(repo, path, shown, cwd)
        refuse_git_tracked(repo, paths, cwd)
        scans = [scan(repo, path, shown, limit=limits()[0]) for path, shown in paths]
        _check_no_nested(paths, scans)
        outputs = [
            cache_path(repo, path, shown, scanned)
            for (path, shown), scanned in zip(paths, scans, strict=True)
        ]
        return [record(repo, path, out) for (path, _), out in zip(paths, outputs, strict=True)]


def record(repo: Repo, path: Path, out: Output) -> AddResult:
    file = pointer_path_for(path)
    previous: Output | None = None
    extra: dict = {}
    if file.is_file():
        try:
            old = pointers.load(file)
            previous, extra = old.out, old.extra
        except PointerError:  # a broken pointer is simply replaced by a good one
            pass
    if previous is not None:
        out.extra = previous.extra  # a user's `desc:` and the like survive a new version
    pointer = Pointer(file, [out], extra)
    pointers.save(pointer)
    gitignore = scm.ensure_ignored(path)
    return AddResult(pointer, previous, gitignore)
