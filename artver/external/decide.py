"""The decisions about another repository's data, as functions over plain values: what a path
names there, what a listing shows, where `get` writes, what an import's pointer records, and
what `update` has to do. No filesystem, no Git: tests give them literals."""

from __future__ import annotations

import posixpath
import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from artver.cache.tree import FileEntry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# kind: "artifact" (a tracked path itself), "inside" (a path below a tracked directory: item
# is the directory, inside the rest of the path), or "below" (a directory of the repository
# holding tracked paths: below lists them)
Located = namedtuple("Located", "kind item inside below", defaults=(None, "", ()))

SHA = re.compile(r"^[0-9a-f]{40}$")


def locate(tracked: Mapping[str, Any], path: str) -> Located | None:
    """What `path` names among `tracked` ({path: revisions.Tracked}); None: nothing."""
    item = tracked.get(path)
    if item is not None:
        return Located("artifact", item)
    parent = posixpath.dirname(path)
    while parent:
        item = tracked.get(parent)
        if item is not None:
            return Located("inside", item, path[len(parent) + 1 :]) if item.is_dir else None
        parent = posixpath.dirname(parent)
    below = tuple(t for p, t in sorted(tracked.items()) if p.startswith(path + "/"))
    return Located("below", below=below) if below else None


def suggestions(tracked: Iterable[str], path: str, count: int = 5) -> tuple[list[str], int]:
    """A few tracked paths to name when `path` is not one (those in the same top-level
    directory first), and how many more there are."""
    top = path.split("/", 1)[0]
    ranked = sorted(tracked, key=lambda p: (p.split("/", 1)[0] != top, p))
    return ranked[:count], max(0, len(ranked) - count)


def pick(entries: Iterable[FileEntry], inside: str) -> tuple[str, list[FileEntry]] | None:
    """For `inside`, a path below a tracked directory whose manifest lists `entries`:
    ("file", [its entry]), or ("dir", [the entries below it, paths relative to it]); None
    when the manifest holds neither."""
    prefix = inside + "/"
    below = []
    for entry in entries:
        if entry.path == inside:
            return "file", [entry]
        if entry.path.startswith(prefix):
            below.append(entry._replace(path=entry.path[len(prefix) :]))
    return ("dir", below) if below else None


def children(entries: Iterable[FileEntry]) -> list[tuple[str, str, int, int]]:
    """The top level of a directory listed by `entries`: (name, "file" or "dir", size, files),
    a subdirectory counting every file below it. Sorted by name."""
    found: dict[str, list] = {}
    for entry in entries:
        name, sep, _ = entry.path.partition("/")
        row = found.setdefault(name, [name, "dir" if sep else "file", 0, 0])
        row[2] += entry.size
        row[3] += 1
    return [tuple(row) for _, row in sorted(found.items())]  # type: ignore[misc]


def output_path(path: str, out: str | None, cwd: Path, is_dir: Callable[[Path], bool]) -> Path:
    """Where `get`/`import` of `path` writes: `out` (relative to `cwd`), inside it when it is
    an existing directory, or the last part of `path` in `cwd`, as `dvc get` decides."""
    name = posixpath.basename(path)
    if not out:
        return cwd / name
    dest = cwd / out
    return dest / name if is_dir(dest) else dest


# -- the `source` mapping of an import's pointer ---------------------------------------------
ImportSource = namedtuple("ImportSource", "repo path rev rev_lock")


def source_mapping(repo: str, path: str, rev: str | None, rev_lock: str) -> dict[str, str]:
    """The pointer's `source:` for an import (`rev` omitted when none was asked for)."""
    found = {"repo": repo, "path": path}
    if rev is not None:
        found["rev"] = rev
    found["rev_lock"] = rev_lock
    return found


def read_source(extra: Mapping[str, Any]) -> ImportSource | str | None:
    """The import a pointer's extra keys record: an ImportSource for `source.repo`, "url" for
    an import of a URL (`source.url`, `artver import-url`), None when it is no import. A
    malformed mapping raises ValueError naming what is wrong."""
    source = extra.get("source")
    if source is None:
        return None
    if not isinstance(source, Mapping):
        raise ValueError("'source' must be a mapping")
    if "repo" not in source:
        if "url" in source:
            return "url"
        raise ValueError("'source' names neither a repo nor a url")
    repo, path = source.get("repo"), source.get("path")
    rev, rev_lock = source.get("rev"), source.get("rev_lock")
    if not isinstance(repo, str) or not repo:
        raise ValueError("'source.repo' must be a repository path or URL")
    if not isinstance(path, str) or not path:
        raise ValueError("'source.path' must be a path in that repository")
    if rev is not None and (not isinstance(rev, str) or not rev):
        raise ValueError("'source.rev' must be a Git revision")
    if rev_lock is not None and (not isinstance(rev_lock, str) or not SHA.match(rev_lock)):
        raise ValueError("'source.rev_lock' must be a full commit SHA (40 hex characters)")
    return ImportSource(repo, path, rev, rev_lock)


def update_plan(old_oid: str, new_oid: str, old_lock: str | None, new_lock: str) -> str:
    """What `update` does: "current" (the source has not moved), "relock" (it moved but the
    data is the same: only the pointer's rev_lock changes), or "transfer" (new data)."""
    if old_oid == new_oid:
        return "current" if old_lock == new_lock else "relock"
    return "transfer"


def behind(rev_lock: str | None, resolved: str) -> bool:
    """Whether an import locked at `rev_lock` is behind its source, now at `resolved`."""
    return rev_lock != resolved
