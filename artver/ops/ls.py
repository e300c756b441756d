"""`artver ls`: the tracked artifacts with their size, file count and state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from artver.errors import PathError
from artver.ops.status import artifact_status
from artver.pointer import SUFFIX
from artver.repo import Repo


@dataclass
class Listed:
    path: str
    pointer: str
    kind: str
    oid: str
    size: int
    nfiles: int
    state: str

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def ls(repo: Repo, targets: list[str], cwd: Path) -> list[Listed]:
    listed = []
    for pointer in repo.pointers(targets, cwd):
        out = pointer.out
        st = artifact_status(repo, pointer, cwd)
        listed.append(
            Listed(
                st.path,
                st.pointer,
                st.kind,
                out.oid,
                out.size,
                out.nfiles if out.nfiles is not None else 1,
                st.state,
            )
        )
    return listed


def ls_at(repo: Repo, rev: str, targets: list[str], cwd: Path) -> list[Listed]:
    """What Git revision `rev` tracks (pointers and stage outputs), read from Git. The state
    says whether its data is in the local cache: `cached`, `partial`, `absent`, or `in git`
    for a stage output kept in Git (`cache: false`)."""
    from artver.ops.revisions import Revisions

    with Revisions(repo) as revisions:
        tracked = revisions.tracked_at(revisions.commit(rev))
    wanted = {repo.rel(Path(os.path.abspath(cwd / t))).removesuffix(SUFFIX) for t in targets}
    unknown = wanted - set(tracked)
    if unknown:
        raise PathError(sorted(unknown)[0], f"not tracked by artver at revision {rev}")
    return [
        Listed(
            path,
            item.source,
            "dir" if item.is_dir else "file",
            item.oid,
            item.size or 0,
            item.nfiles if item.nfiles is not None else 1,
            _cache_state(repo, item.oid) if item.cached else "in git",
        )
        for path, item in sorted(tracked.items())
        if not wanted or path in wanted
    ]


def _cache_state(repo: Repo, oid: str) -> str:
    from artver.cache.odb import CorruptObjectError
    from artver.cache.tree import is_dir_oid

    if not is_dir_oid(oid):
        return "cached" if repo.odb.exists(oid) else "absent"
    try:
        members = repo.odb.read_manifest_oids(oid)
    except (FileNotFoundError, CorruptObjectError):
        return "absent"
    present = sum(1 for m in members if repo.odb.exists(m))
    return "cached" if present == len(members) else "partial" if present else "absent"
