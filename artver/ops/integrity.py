"""Cache objects whose bytes no longer match their id are never placed, restored or pushed.

With cache.type `hardlink` or `symlink`, a workspace file made writable and edited in place
rewrites the cache object it is linked to. Before `checkout` (and `pull`) places objects and
before `push` uploads them, each object's stat is compared with the one the state DB recorded
when its bytes were last known good (`artver.cache.integrity.verdict`); only an object whose
stat moved is hashed again. A corrupt one is moved to `.artver/quarantine/` (as `fsck --repair`
does) and the command stops with `CorruptCacheError`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from artver.cache.integrity import VERIFY, packed_verdict, unpack
from artver.cache.odb import CorruptObjectError
from artver.errors import ArtverError
from artver.fsutil import kernel_copy, temp_name, unlink_quietly
from artver.repo import Repo
from artver.workspace import parallel_map

QUARANTINE = "quarantine"


PULL_HINT = (
    "Run `artver pull` to fetch good copies from a remote (`artver fsck --repair` checks and "
    "repairs the whole cache). Workspace files keep the bytes they have."
)
FSCK_HINT = (
    "Run `artver fsck --repair` to move them aside and fetch good copies, or `artver add` the "
    "data again if the workspace holds the bytes you want to keep."
)


class CorruptCacheError(ArtverError):
    """Objects a command needed hold other bytes than their id names. `found` maps each to
    (the path that needed it, as shown; where it was quarantined, None if it was not)."""

    def __init__(
        self, found: dict[str, tuple[str, str | None]], outcome: str, hint: str = PULL_HINT
    ) -> None:
        lines = []
        for oid, (shown, where) in sorted(found.items(), key=lambda item: item[1][0]):
            lines.append(f"  {shown}: object {oid}" + (f", moved to {where}" if where else ""))
        super().__init__(
            "these cache objects are corrupt: their bytes no longer match their id (a workspace "
            "file hard-linked or symlinked to the cache was probably edited in place); "
            f"{outcome}:\n" + "\n".join(lines),
            hint=hint,
        )
        self.found = found


def suspects(repo: Repo, stats: dict[str, bytes | None]) -> list[str]:
    """Those objects of `stats` ({oid: its stat now, packed: `ObjectStore.packed_stat`}) that
    are in the cache and must be hashed before use: their stat is not the one recorded when
    their bytes were last known good."""
    present = {oid: st for oid, st in stats.items() if st is not None}
    if not present:
        return []
    get = repo.state.object_records(present).get
    return [oid for oid, st in present.items() if packed_verdict(get(oid), st) == VERIFY]


# users(corrupt oids) -> ({oid: the path that needs it, as shown}, {oid: workspace paths that
# may be symlinks to it}): worked out only when something is corrupt.
Users = Callable[[list[str]], tuple[dict[str, str], dict[str, list[str]]]]


def check_objects(repo: Repo, stats: dict[str, bytes | None], users: Users, outcome: str) -> None:
    """Prove that every object of `stats` ({oid: its stat now, None when absent}) holds the
    bytes its id names, hashing only the suspects. Corrupt ones are quarantined (workspace
    symlinks to them among the paths `users` gives first become copies of what they show),
    and `CorruptCacheError` names them, saying `outcome`."""
    todo = suspects(repo, stats)
    if not todo:
        return
    odb = repo.odb

    def check(oid: str) -> bool:
        try:
            odb.verify(oid, unpack(stats[oid]).size)  # type: ignore[union-attr]
        except CorruptObjectError:
            return False
        except FileNotFoundError:
            pass  # gone meanwhile: whoever places it says so
        return True

    bad = [oid for oid, sound in parallel_map(check, todo, repo.config.jobs) if not sound]
    if bad:
        needed_by, links = users(bad)
        raise set_aside(repo, bad, needed_by, outcome, links)


def set_aside(
    repo: Repo,
    oids: list[str],
    needed_by: dict[str, str],
    outcome: str,
    links: dict[str, list[str]] | None = None,
) -> CorruptCacheError:
    """Quarantine the corrupt objects `oids`; the error that names them."""
    found: dict[str, tuple[str, str | None]] = {}
    for oid in oids:
        for path in (links or {}).get(oid, []):
            symlink_to_copy(repo, oid, path)
        found[oid] = (needed_by.get(oid, oid), quarantine(repo, oid))
    # No directory holding them is complete in the cache any more, and the next fetch must
    # bring them back.
    repo.state.forget_complete()
    repo.state.forget_object_records(oids)
    return CorruptCacheError(found, outcome)


def quarantine(repo: Repo, oid: str) -> str | None:
    """Move object `oid` to `.artver/quarantine/<oid>` (`<oid>.1`... if that is taken);
    returns where it went (repo-relative), None when it was not there."""
    folder = repo.artver_dir / QUARANTINE
    folder.mkdir(exist_ok=True)
    # Its own ignore file: repositories made before /quarantine was in .artver/.gitignore
    # must not offer its objects to `git add -A` (nor to an experiment's snapshot).
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    dest = folder / oid
    n = 0
    while dest.exists():
        n += 1
        dest = folder / f"{oid}.{n}"
    src = repo.odb.path_of(oid)
    try:
        os.rename(src, dest)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # cache.dir on another filesystem: copy, then remove
            raise
        kernel_copy(src, str(dest), 0o444)
        os.unlink(src)
    return repo.rel(dest)


def symlink_to_copy(repo: Repo, oid: str, path: str) -> None:
    """If `path` is a symlink to object `oid`, make it a plain file with the bytes it shows,
    so that quarantining the object leaves them in the workspace."""
    src = repo.odb.path_of(oid)
    try:
        if os.readlink(path) != src:
            return
    except OSError:
        return  # not a symlink
    tmp = temp_name(path)
    try:
        kernel_copy(src, tmp)
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise
