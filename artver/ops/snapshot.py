"""What a tracked path holds right now: its files and their oids, via the state DB."""

from __future__ import annotations

import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from artver.cache.tree import FileEntry, Manifest
from artver.errors import PathError
from artver.repo import Repo
from artver.workspace import FileHasher, WsFile, scan_tree, stat_path


@dataclass
class Snapshot:
    """A tracked path as found in the workspace."""

    path: Path
    kind: str  # "file", "dir" or "missing"
    files: list[WsFile]
    oids: dict[str, str]  # WsFile.rel -> oid

    def entries(self) -> list[FileEntry]:
        return [FileEntry(f.rel, self.oids[f.rel], f.size, f.executable) for f in self.files]

    def manifest(self) -> Manifest:
        return Manifest.build(self.entries())

    @property
    def oid(self) -> str | None:
        if self.kind == "file":
            return self.oids[""]
        if self.kind == "dir":
            return self.manifest().oid
        return None


def scan(repo: Repo, path: Path, shown: str) -> tuple[str, list[WsFile]]:
    st = stat_path(str(path), shown)
    if st is None:
        return "missing", []
    if stat_mod.S_ISDIR(st.st_mode):
        return "dir", scan_tree(str(path), shown)
    if stat_mod.S_ISREG(st.st_mode):
        return "file", [WsFile.from_stat("", str(path), st)]
    raise PathError(shown, "not a regular file or directory")


def take(
    repo: Repo,
    path: Path,
    shown: str,
    on_miss: Callable[[WsFile], str] | None = None,
    scanned: tuple[str, list[WsFile]] | None = None,
) -> Snapshot:
    """Hash what is at `path`, reading only files the state DB does not know."""
    kind, files = scanned or scan(repo, path, shown)
    hasher = FileHasher(repo.state, repo.config.jobs, repo.progress)
    base = repo.rel(path)
    if kind == "dir":
        known = repo.state.under(base)
        oids = hasher.oids(
            files,
            lambda f: f"{base}/{f.rel}",
            known,
            on_miss,
            display=lambda f: f"{shown}/{f.rel}",
        )
    elif kind == "file":
        oids = hasher.oids(files, lambda f: base, None, on_miss, display=lambda f: shown)
    else:
        oids = {}
    return Snapshot(path, kind, files, oids)
