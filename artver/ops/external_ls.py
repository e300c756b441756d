"""`artver ls URL [PATH]`: what another artver repository tracks at a revision, with sizes and
file counts; the files inside its tracked directories, read from their manifests (fetched,
verified, when the cache lacks them)."""

from __future__ import annotations

import tempfile
from collections import namedtuple
from pathlib import Path

from artver.errors import PathError
from artver.external.decide import children, locate, pick
from artver.external.source import ExternalRepo
from artver.ops import external_data as data
from artver.ops.imports import open_source, source_path
from artver.repo import Repo

# One row of `artver ls URL`: path (from the source's top), kind ("file" or "dir"), oid (None
# for a directory inside a tracked one), size, nfiles, pointer (the file recording it there)
Entry = namedtuple("Entry", "path kind oid size nfiles pointer")


def ls_external(
    url: str,
    path: str | None,
    cwd: Path,
    rev: str | None = None,
    recursive: bool = False,
    repo: Repo | None = None,
) -> tuple[ExternalRepo, list[Entry]]:
    """What the repository at `url` tracks at `rev` (below `path`, if given). Manifests it
    needs (for `-R`, or for a path in a tracked directory) are fetched into this repository's
    cache, or a temp directory outside one. The source comes back closed."""
    rel = source_path(path) if path is not None else None
    with open_source(url, cwd, rev, repo) as source, _store(repo) as odb:
        tracked = source.tracked()
        if rel is None:
            return source, _artifacts(odb, source, list(tracked.values()), recursive)
        found = locate(tracked, rel)
        if found is None or (found.kind == "artifact" and not found.item.cached):
            if found is None and source.read(rel) is None:
                raise data.not_tracked(source, rel)
            item = found.item if found is not None else None
            size = item.size if item is not None else len(source.read(rel) or b"")
            return source, [Entry(rel, "file", item.oid if item else None, size or 0, 1,
                                  item.source if item else None)]  # fmt: skip
        if found.kind == "below":
            return source, _artifacts(odb, source, list(found.below), recursive)
        if found.kind == "artifact" and not found.item.is_dir:
            return source, _artifacts(odb, source, [found.item], recursive)
        item = found.item
        entries = data.manifest_of(odb, source, item.oid, item.path).entries
        inside = found.inside if found.kind == "inside" else ""
        if inside:
            picked = pick(entries, inside)
            if picked is None:
                raise PathError(
                    rel, f"is not in the tracked directory {item.path} of {source.where}"
                )
            kind, entries = picked
            if kind == "file":
                e = entries[0]
                return source, [Entry(rel, "file", e.oid, e.size, 1, item.source)]
        return source, _inside(rel, entries, item.source, recursive)


def _artifacts(odb, source: ExternalRepo, items: list, recursive: bool) -> list[Entry]:
    found = []
    for item in sorted(items, key=lambda t: t.path):
        kind = "dir" if item.is_dir else "file"
        nfiles = item.nfiles if item.nfiles is not None else 1
        found.append(Entry(item.path, kind, item.oid, item.size or 0, nfiles, item.source))
        if recursive and item.is_dir and item.cached:
            entries = data.manifest_of(odb, source, item.oid, item.path).entries
            found += _inside(item.path, entries, item.source, True)
    return found


def _inside(base: str, entries, pointer: str, recursive: bool) -> list[Entry]:
    if recursive:
        return [Entry(f"{base}/{e.path}", "file", e.oid, e.size, 1, pointer) for e in entries]
    by_name = {e.path: e for e in entries}
    rows = []
    for name, kind, size, nfiles in children(entries):
        oid = by_name[name].oid if kind == "file" else None
        rows.append(Entry(f"{base}/{name}", kind, oid, size, nfiles, pointer))
    return rows


class _store:
    """The object store manifests are fetched into: this repository's cache, or a temp
    directory deleted afterwards."""

    def __init__(self, repo: Repo | None) -> None:
        self.repo = repo
        self._tmp: tempfile.TemporaryDirectory | None = None

    def __enter__(self):
        if self.repo is not None:
            return self.repo.odb
        from artver.cache.odb import ObjectStore

        self._tmp = tempfile.TemporaryDirectory(prefix="artver-ls-")
        return ObjectStore(Path(self._tmp.name), ["copy"])

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
