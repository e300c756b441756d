"""Data from other artver repositories: `artver ls URL`, `get`, `import`, `update`, and the
`status` check that an import is behind its source.

An import is a pointer file with a `source:` mapping (`decide.source_mapping`): the repository,
the path there, the revision asked for and the commit it resolved to (`rev_lock`). Its data is
an ordinary cached artifact here (pushed to this repository's remote like any other); `update`
moves it to what the source holds now, fetching only the objects the cache lacks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import namedtuple
from pathlib import Path

from artver import pointer as pointers
from artver import scm
from artver.errors import ArtverError, PathError, PointerError, UsageError
from artver.external.decide import (
    output_path,
    read_source,
    source_mapping,
    update_plan,
)
from artver.external.location import from_stored, normalise_path, parse, stored_form
from artver.external.source import ExternalRepo
from artver.fsutil import temp_name
from artver.ops import external_data as data
from artver.progress import NO_PROGRESS, Progress
from artver.repo import Repo


def source_path(path: str) -> str:
    """`path` of a source repository, normalised; `PathError` when it leaves the repository."""
    rel = normalise_path(path)
    if rel is None:
        raise PathError(path, "give a path inside the source repository, from its top")
    return rel


def _lock_wait(repo: Repo | None) -> float:
    return repo.config.lock_wait if repo is not None else 60.0


def open_source(
    url: str, cwd: Path, rev: str | None, repo: Repo | None, fetch: bool = True
) -> ExternalRepo:
    artver_dir = repo.artver_dir if repo is not None else None
    return ExternalRepo.open(url, cwd, rev, artver_dir, fetch, _lock_wait(repo))


# -- get -------------------------------------------------------------------------------------
GetResult = namedtuple("GetResult", "dest kind size nfiles fetched where")


def get(
    url: str,
    path: str,
    cwd: Path,
    out: str | None = None,
    rev: str | None = None,
    jobs: int | None = None,
    repo: Repo | None = None,
    progress: Progress = NO_PROGRESS,
) -> GetResult:
    """Download `path` of the repository at `url` (a tracked file or directory, a file or
    directory inside a tracked directory, or a file Git keeps) to `out`, untracked. Inside an
    artver repository (`repo`) the objects go through its cache, so a second get is quick;
    elsewhere through a scratch cache beside `out`, deleted afterwards. Nothing is
    overwritten: an existing `out` stops it."""
    rel = source_path(path)
    dest = Path(os.path.abspath(output_path(rel, out, cwd, Path.is_dir)))
    _refuse_existing(dest, cwd, "get")
    with open_source(url, cwd, rev, repo) as source:
        if repo is not None:
            with repo.lock("artver get"):
                return _get(repo, source, rel, dest, jobs, data.place_copies)
        # Outside a repository the objects go through a scratch cache beside `dest`, on its
        # filesystem: they are then renamed into place, not copied.
        made = _make_parents(dest.parent)
        scratch = Path(temp_name(dest.parent / ".artver-get"))
        try:
            work = Repo(scratch, progress)
            work.artver_dir.mkdir(parents=True)
            # Its own cache, whatever `cache.dir` the user's global config sets: the objects
            # are moved out of it.
            work.cache_dir = scratch / "cache"
            try:
                return _get(work, source, rel, dest, jobs, data.place_moves)
            finally:
                work.close()
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            for parent in made:  # those this get made, and left empty
                with contextlib.suppress(OSError):
                    parent.rmdir()
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _get(work: Repo, source: ExternalRepo, rel: str, dest: Path, jobs, place) -> GetResult:
    want = data.wanted(work.odb, source, rel, for_import=False)
    if want.kind == "git":
        from artver.fsutil import atomic_write_bytes

        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(dest, want.data)
        return GetResult(dest, "file", want.size, None, data.Fetched(), source.where)
    fetched = data.fetch(work, source, want.artifacts, jobs)
    entries = data.entries_of(work.odb, want)
    place(work, entries, dest, want.kind == "dir")
    return GetResult(dest, want.kind, want.size, want.nfiles, fetched, source.where)


def _make_parents(path: Path) -> list[Path]:
    """Make directory `path` and its missing parents; the ones made, deepest first."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir()
    return missing


def _refuse_existing(dest: Path, cwd: Path, verb: str) -> None:
    if os.path.lexists(dest):
        raise PathError(
            os.path.relpath(dest, cwd),
            f"already exists; artver {verb} never overwrites",
            hint="Remove it, or name another place with -o.",
        )


# -- import ----------------------------------------------------------------------------------
ImportResult = namedtuple("ImportResult", "pointer gitignore fetched where")


def import_(
    repo: Repo,
    url: str,
    path: str,
    cwd: Path,
    out: str | None = None,
    rev: str | None = None,
    jobs: int | None = None,
) -> ImportResult:
    """Download `path` of the repository at `url` into this repository's cache, place it at
    `out` as `checkout` would and track it with a pointer recording where it came from."""
    from artver.ops.placement import check_tracked_path

    rel = source_path(path)
    dest = Path(os.path.normpath(output_path(rel, out, cwd, Path.is_dir)))
    shown = os.path.relpath(dest, cwd)
    dest = check_tracked_path(repo, dest, shown)
    pointer_file = pointers.pointer_path_for(dest)
    if pointer_file.exists():
        raise PathError(
            shown,
            f"is already tracked here ({os.path.relpath(pointer_file, cwd)} exists)",
            hint="`artver update` moves an import to its source's newest version; "
            "`artver remove` stops tracking a path.",
        )
    _refuse_tracked_here(repo, dest, shown)
    _refuse_existing(dest, cwd, "import")
    loc = parse(url, cwd)
    with repo.lock("artver import"), open_source(url, cwd, rev, repo) as source:
        want = data.wanted(repo.odb, source, rel, for_import=True)
        fetched = data.fetch(repo, source, want.artifacts, jobs)
        source_map = source_mapping(stored_form(loc, dest.parent), rel, rev, source.sha)
        pointer = _place(repo, want, dest, shown, pointer_file, None, source_map)
        return ImportResult(pointer, scm.ensure_ignored(dest), fetched, source.where)


def _place(
    repo, want, dest, shown, pointer_file, old, source_map, checkout: bool = True
) -> pointers.Pointer:
    """Check `want` out at `dest` (the caller holds the lock; not with `checkout=False`,
    when the data is what the workspace holds already) and write its pointer."""
    from artver.cache.tree import Manifest
    from artver.ops.checkout import restore
    from artver.ops.targets import Target

    if want.kind == "dir" and want.entries is not None:  # a directory inside a tracked one
        repo.odb.add_manifest(Manifest.build(want.entries))
    name = old.out.path if old is not None else dest.name
    extra = old.out.extra if old is not None else None
    out = pointers.Output(name, want.oid, want.size, want.nfiles, extra=extra)
    if checkout:
        restore(repo, [Target(dest, out, shown, ignore=False)])
    kept = {k: v for k, v in (old.extra if old is not None else {}).items() if k != "source"}
    pointer = pointers.Pointer(pointer_file, [out], {**kept, "source": source_map})
    pointers.save(pointer)
    return pointer


def _refuse_tracked_here(repo: Repo, dest: Path, shown: str) -> None:
    """A path this repository tracks already (a stage output), or one inside or around
    tracked data, cannot become an import."""
    from artver.ops.revisions import tracked_in_workspace

    rel = repo.rel(dest)
    for path, item in tracked_in_workspace(repo).items():
        if path == rel:
            raise PathError(shown, f"is already tracked here (recorded by {item.source})")
        if rel.startswith(path + "/"):
            raise PathError(shown, f"is inside {path}, which is tracked here")
        if path.startswith(rel + "/"):
            raise PathError(shown, f"holds {path}, which is tracked here")


# -- update ----------------------------------------------------------------------------------
# pointer: the shown path; state: "updated", "relocked", "current" (or "url-updated",
# "url-current"); old, new: commit SHAs (None for a URL import); fetched: data.Fetched or None
Updated = namedtuple("Updated", "shown pointer_file state old new fetched")


def update(
    repo: Repo,
    targets: list[str],
    cwd: Path,
    rev: str | None = None,
    jobs: int | None = None,
) -> list[Updated]:
    """Move imports (all of them, or the targets) to their sources' newest commit of the
    revision they follow (or `rev`, which they follow from then on)."""
    chosen = []
    for pointer in repo.pointers(targets, cwd):
        shown = repo.display(pointer.data_path(), cwd)
        try:
            source = read_source(pointer.extra)
        except ValueError as exc:
            raise PointerError(repo.display(pointer.file, cwd), str(exc)) from None
        if source is None:
            if targets:
                raise PathError(
                    shown,
                    "is not an import (its pointer file records no source)",
                    hint="`artver update` updates data brought in by `artver import` or "
                    "`artver import-url`; `artver add` records new versions of your own data.",
                )
            continue
        chosen.append((pointer, shown, source))
    if rev is not None and any(source == "url" for _, _, source in chosen):
        raise UsageError("--rev goes with imports from repositories, not from URLs")
    done = []
    git_dirs: dict[tuple[str, str], Path] = {}  # a server's repository is fetched once
    with repo.lock("artver update"):
        for pointer, shown, source in chosen:
            if source == "url":
                done.append(_update_url(repo, pointer, shown))
            else:
                done.append(_update_one(repo, pointer, shown, source, rev, jobs, git_dirs))
    return done


def _update_one(repo: Repo, pointer, shown: str, source, rev, jobs, git_dirs) -> Updated:
    from artver.external.source import locate_git_dir

    follows = rev if rev is not None else source.rev
    loc = from_stored(source.repo, pointer.file.parent)
    key = (loc.kind, loc.path)
    if key not in git_dirs:
        git_dirs[key] = locate_git_dir(loc, repo.artver_dir, True, repo.config.lock_wait)
    git_dir = git_dirs[key]
    with ExternalRepo(loc, git_dir, follows) as ext:
        try:
            want = data.wanted(repo.odb, ext, source.path, for_import=True)
        except PathError as exc:
            raise PathError(shown, f"its source: {exc.message}", hint=exc.hint) from None
        step = update_plan(pointer.out.oid, want.oid, source.rev_lock, ext.sha)
        if step == "current" and follows == source.rev:
            return Updated(shown, pointer.file, "current", source.rev_lock, ext.sha, None)
        fetched = data.fetch(repo, ext, want.artifacts, jobs) if step == "transfer" else None
        source_map = source_mapping(source.repo, source.path, follows, ext.sha)
        moved = step == "transfer"
        _place(repo, want, pointer.data_path(), shown, pointer.file, pointer, source_map, moved)
        state = "updated" if step == "transfer" else "relocked"
        return Updated(shown, pointer.file, state, source.rev_lock, ext.sha, fetched)


def _update_url(repo: Repo, pointer, shown: str) -> Updated:
    try:
        from artver.ops.import_url import update_url  # another module's; optional here
    except ImportError:
        raise ArtverError(
            f"{shown} is an import of a URL (`artver import-url`), and updating such imports "
            "is not available in this version of artver"
        ) from None
    changed = update_url(repo, pointer.file)
    return Updated(shown, pointer.file, "url-updated" if changed else "url-current", None,
                   None, None)  # fmt: skip


# -- status ----------------------------------------------------------------------------------
def mark_behind(repo: Repo, found: list, results: list) -> None:
    """For `status`: mark the imports among `found` (pointers, with their `results`) whose
    source has moved on. A local source (a path, file://) is read as it is now; one on a Git
    server as artver last fetched it (status goes to no server: `artver update` does). Where
    the source cannot be read, nothing is said."""
    from artver.external.source import locate_git_dir
    from artver.ops.status import IMPORT_BEHIND, IMPORT_URL_BEHIND, OK

    resolved: dict[tuple[str, str | None], str | None] = {}
    for pointer, result in zip(found, results, strict=True):
        if result.state != OK:
            continue
        try:
            source = read_source(pointer.extra)
        except ValueError:
            continue
        if source is None:
            continue
        if source == "url":
            if _url_changed(repo, pointer.file):
                result.state = IMPORT_URL_BEHIND
            continue
        loc = from_stored(source.repo, pointer.file.parent)
        key = (f"{loc.kind}:{loc.path}", source.rev)
        if key not in resolved:
            try:
                git_dir = locate_git_dir(loc, repo.artver_dir, False, repo.config.lock_wait)
                with ExternalRepo(loc, git_dir, source.rev) as ext:
                    resolved[key] = ext.sha
            except ArtverError:
                resolved[key] = None
        sha = resolved[key]
        if sha is not None and sha != source.rev_lock:
            result.state = IMPORT_BEHIND
            result.behind = (source.rev_lock or "", sha)


def _url_changed(repo: Repo, pointer_file: Path) -> bool:
    try:
        from artver.ops.import_url import url_changed  # another module's; optional here
    except ImportError:
        return False
    try:
        return url_changed(repo, pointer_file) is True
    except ArtverError:
        return False
