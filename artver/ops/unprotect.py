"""`artver unprotect`: make the workspace files of tracked data writable copies of their own,
so they can be edited in place without touching the cache.

With `cache.type` hardlink or symlink a workspace file *is* a cache object (or points at one),
read-only; editing it in place would change the object under every version that uses it. Each
such file (a symlink, a file with more than one hard link, or a read-only file) is replaced by a
new file with the same bytes, written under a temp name and renamed over it: the cache object
is only read. Other files are left exactly as they are.
"""

from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import dataclass
from pathlib import Path

from artver.cache.odb import CorruptObjectError, UnsafeManifestError
from artver.errors import PathError, PointerError
from artver.fsutil import kernel_copy, temp_name, unlink_quietly
from artver.pointer import SUFFIX, Output, is_pointer_file, pointer_path_for
from artver.repo import Repo
from artver.state import Known


@dataclass
class Unprotected:
    shown: str
    replaced: int  # files that became writable copies
    files: int  # files looked at


def unprotect(repo: Repo, targets: list[str], cwd: Path) -> list[Unprotected]:
    with repo.lock("artver unprotect"):
        chosen = [_resolve(repo, target, cwd) for target in targets]
        return [unprotect_path(repo, path, shown, root, out) for path, shown, root, out in chosen]


def _resolve(repo: Repo, target: str, cwd: Path) -> tuple[Path, str, Path, Output | None]:
    """(the path, as shown, the tracked path it is or is inside, what that records if known)."""
    path = Path(os.path.abspath(cwd / target))
    repo.check_inside(path, target)
    if is_pointer_file(path) and path.is_file():
        path = path.with_name(path.name.removesuffix(SUFFIX))
    shown = repo.display(path, cwd)
    owner = _owner(repo, path, cwd)
    if not os.path.lexists(path):
        hint = None
        if owner is not None and owner[0] == path:
            hint = f"`artver checkout {shown}` puts it back."
        raise PathError(shown, "no such file or directory", hint=hint)
    if owner is None:
        raise PathError(shown, "not tracked by artver (no pointer file or stage output)")
    return path, shown, owner[0], owner[1]


def _owner(repo: Repo, path: Path, cwd: Path) -> tuple[Path, Output | None] | None:
    """The tracked path that `path` is or lies inside (pointer-tracked, or a cached stage
    output), with the output its pointer or the lock records (None when unknown)."""
    for candidate in (path, *path.parents):
        if candidate == repo.root:
            break
        pointer_file = pointer_path_for(candidate)
        if pointer_file.is_file():
            try:
                return candidate, repo.load_pointer(pointer_file).out
            except PointerError:
                return candidate, None
    if not repo.pipeline_files():
        return None
    from artver.ops.pipeline import load
    from artver.ops.targets import stage_targets

    recorded = {t.path: t.out for t in stage_targets(repo, cwd)}
    rel = repo.rel(path)
    for stage in load(repo).pipeline.stages.values():
        for out in stage.cached_outs:
            if rel == out.path or rel.startswith(out.path + "/"):
                root = repo.root / out.path
                return root, recorded.get(root)
    return None


def _recorded_exec(repo: Repo, out: Output | None) -> dict[str, bool]:
    """{path below the tracked root ("" for a tracked file): executable} as recorded: a
    hardlink or symlink into the cache does not show the executable bit (objects are 0444)."""
    if out is None:
        return {}
    if not out.is_dir:
        return {}  # a tracked file's pointer records no mode
    try:
        manifest = repo.odb.read_manifest(out.oid)
    except (FileNotFoundError, CorruptObjectError, UnsafeManifestError):
        return {}  # not in the cache, or unusable: the files' own modes are all there is
    return {e.path: e.executable for e in manifest.entries}


def needs_copy(st: os.stat_result) -> bool:
    """Whether a workspace file (its lstat) shares bytes with the cache or cannot be written:
    a symlink, a file with several hard links, or a read-only file."""
    return stat_mod.S_ISLNK(st.st_mode) or st.st_nlink > 1 or not st.st_mode & stat_mod.S_IWUSR


def unprotect_path(
    repo: Repo, path: Path, shown: str, root: Path, out: Output | None
) -> Unprotected:
    """Replace every file at `path` (inside the tracked path `root`) that `needs_copy` by a
    writable copy with the same bytes and mode (executable as recorded)."""
    from artver.ops.snapshot import scan

    files = scan(repo, path, shown)[1]  # (kind, files, ...)
    executable = _recorded_exec(repo, out)
    state = repo.state
    replaced = 0
    known: list[tuple[str, Known]] = []
    for f in files:
        if not needs_copy(os.lstat(f.abspath)):
            continue
        rel = Path(f.abspath).relative_to(root).as_posix() if f.abspath != str(root) else ""
        key = repo.rel(Path(f.abspath))
        before = state.get(key)
        oid = before.oid if before and before[:3] == (f.inode, f.mtime_ns, f.size) else None
        st = writable_copy(f.abspath, executable.get(rel, f.executable), f.size)
        replaced += 1
        if oid is not None:  # same bytes: the next status need not read them again
            known.append((key, Known(st.st_ino, st.st_mtime_ns, st.st_size, oid)))
    state.save(known, trusted=True)
    return Unprotected(shown, replaced, len(files))


def writable_copy(path: str, executable: bool, size: int | None = None) -> os.stat_result:
    """Replace the file at `path` (a symlink is followed) by a new copy of its bytes, created
    as checkouts create copies (0666, or 0777 when executable, less the umask); its stat."""
    tmp = temp_name(path)
    try:
        kernel_copy(path, tmp, 0o777 if executable else 0o666, size)
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise
    return os.stat(path)
