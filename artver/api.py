"""artver from Python: read versioned data, params, metrics and experiments without a checkout.

    import artver.api

    with artver.api.open("data/train/part-0001.csv", rev="v1") as f:
        header = f.readline()
    lr = artver.api.params_show()["train"]["lr"]

`path` is repository-relative: a file artver tracks (alone, or inside a tracked directory), or
any file Git keeps. Without `rev` the workspace's version is read (the file on disk, or, when it
is missing, what its pointer or lock records); with `rev` (a branch, tag, SHA, `HEAD~N` or an
experiment's name) the version that commit records, read straight from Git and the cache. An
object the cache lacks is streamed from the remote (`remote`, default `core.remote`) and hashed
as it is read: a file whose bytes do not match its id raises `CorruptData` at the end, so a
reader that reads to the end never uses bad data silently.

`repo` is a path to a repository (default: the one around the current directory). Errors are
`artver.errors.ArtverError` subclasses with a message fit to show.
"""

from __future__ import annotations

import builtins
import io
import os
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from artver.errors import ArtverError, PathError
from artver.repo import Repo

__all__ = ["CorruptData", "exp_show", "get_url", "metrics_show", "open", "params_show", "read"]


class CorruptData(ArtverError):
    """Bytes read from a remote did not hash to the id the pointer or lock records."""


class _Located:
    """Where a version of a file is: bytes Git keeps, a workspace file, or an object."""

    def __init__(
        self, git: bytes | None = None, disk: Path | None = None, oid: str | None = None
    ) -> None:
        self.git = git
        self.disk = disk
        self.oid = oid


def _repo(repo: str | os.PathLike | None) -> Repo:
    start = Path.cwd() if repo is None else Path(repo)
    if not start.exists():
        raise ArtverError(f"no repository at {start}")
    return Repo.find(start)


def _norm(path: str | os.PathLike) -> str:
    rel = posixpath.normpath(str(path).replace(os.sep, "/"))
    if rel.startswith(("../", "/")) or rel in ("..", ".", "") or "\0" in rel:
        raise PathError(str(path), "give a path inside the repository, relative to its root")
    return rel


def _locate(repo: Repo, rel: str, rev: str | None, remote: str | None) -> _Located:
    from artver.ops.revisions import Revisions, tracked_in_workspace

    with Revisions(repo) as revisions:
        if rev is None:
            disk = repo.root / rel
            if disk.is_file():
                return _Located(disk=disk)
            tracked = tracked_in_workspace(repo)
        else:
            commit = revisions.commit(rev)
            tracked = revisions.tracked_at(commit)
            item = tracked.get(rel)
            if item is None or not item.cached:
                data = revisions.read(commit, rel)
                if data is not None:
                    return _Located(git=data)
        oid = _oid_in(repo, tracked, rel, remote)
    if oid is None:
        where = "the workspace" if rev is None else rev
        raise PathError(rel, f"no such file in {where} (neither tracked by artver nor in Git)")
    return _Located(oid=oid)


def _oid_in(repo: Repo, tracked: dict[str, Any], rel: str, remote: str | None) -> str | None:
    """The object id `tracked` records for `rel`: its own, or its entry in the manifest of the
    tracked directory it is in."""
    item = tracked.get(rel)
    if item is not None:
        if item.is_dir:
            raise PathError(rel, "is a directory: open a file inside it")
        return item.oid if item.cached else None
    parent = posixpath.dirname(rel)
    while parent:
        item = tracked.get(parent)
        if item is not None:
            if not item.is_dir:
                return None
            inside = rel[len(parent) + 1 :]
            entry = _manifest(repo, item.oid, remote).by_path().get(inside)
            return None if entry is None else entry.oid
        parent = posixpath.dirname(parent)
    return None


def _manifest(repo: Repo, oid: str, remote: str | None) -> Any:
    if not repo.odb.exists(oid):
        store = _remote_of(repo, remote)
        _from_remote(store, oid, store.download, oid, None, repo.odb)
    return repo.odb.read_manifest(oid)


def _from_remote(store: Any, oid: str, func: Any, *args: Any) -> Any:
    """`func(*args)` on the remote; an object it lacks is named with the remote."""
    from artver.remotes.remote import classify, translate

    try:
        return func(*args)
    except ArtverError:
        raise
    except Exception as exc:
        if classify(exc) == "missing":
            raise ArtverError(
                f"object {oid} is neither in the cache nor on remote {store}",
                hint="Push it from a clone that has it (artver push --rev REV).",
            ) from None
        raise translate(exc, store) from None


def _remote_of(repo: Repo, name: str | None) -> Any:
    from artver.remotes.remote import open_remote

    return open_remote(repo.config, name, repo.root)


class _Verified(io.RawIOBase):
    """A remote object's stream, hashed as it is read; at its end the digest must be `oid`."""

    def __init__(self, raw: Any, oid: str, where: str) -> None:
        from artver.cache.hashing import new_hasher

        self._raw = raw
        self._oid = oid
        self._where = where
        self._hasher = new_hasher()
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        if not data:
            if not self._checked:
                self._checked = True
                digest = self._hasher.hexdigest()
                if digest != self._oid:
                    raise CorruptData(
                        f"object {self._oid} from {self._where} is corrupt (it hashes to "
                        f"{digest}): its bytes were not used",
                        hint="Push a good copy to the remote again, or run artver fsck --remote.",
                    )
            return 0
        self._hasher.update(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def _binary(repo: Repo, found: _Located, remote: str | None) -> IO[bytes]:
    if found.git is not None:
        return io.BytesIO(found.git)
    if found.disk is not None:
        return builtins.open(found.disk, "rb")
    oid = found.oid
    assert oid is not None
    if repo.odb.exists(oid):
        return builtins.open(repo.odb.path_of(oid), "rb")
    store = _remote_of(repo, remote)
    raw = _from_remote(store, oid, store.fs.open, store.path_of(oid), "rb")
    return io.BufferedReader(_Verified(raw, oid, f"remote {store}"))


@contextmanager
def open(  # the name users know from dvc.api.open; builtins.open stays reachable
    path: str | os.PathLike,
    repo: str | os.PathLike | None = None,
    rev: str | None = None,
    remote: str | None = None,
    mode: str = "r",
    encoding: str | None = None,
) -> Iterator[IO[Any]]:
    """A file of the repository at `rev` (default: the workspace), opened for reading in
    `mode` "r" (text, `encoding` default UTF-8) or "rb"."""
    if mode not in ("r", "rb"):
        raise ArtverError(f"mode must be 'r' or 'rb', not {mode!r}")
    the_repo = _repo(repo)
    found = _locate(the_repo, _norm(path), rev, remote)
    stream: IO[Any] = _binary(the_repo, found, remote)
    if mode == "r":
        stream = io.TextIOWrapper(stream, encoding=encoding or "utf-8")  # type: ignore[arg-type]
    try:
        yield stream
    finally:
        stream.close()


def read(
    path: str | os.PathLike,
    repo: str | os.PathLike | None = None,
    rev: str | None = None,
    remote: str | None = None,
    mode: str = "r",
    encoding: str | None = None,
) -> str | bytes:
    """The whole content of `open(...)`."""
    with open(path, repo, rev, remote, mode, encoding) as fobj:
        return fobj.read()


def get_url(
    path: str | os.PathLike,
    repo: str | os.PathLike | None = None,
    rev: str | None = None,
    remote: str | None = None,
) -> str:
    """Where the remote keeps the file's bytes (its object's URL). Files Git keeps have none."""
    the_repo = _repo(repo)
    rel = _norm(path)
    found = _locate(the_repo, rel, rev, remote)
    if found.oid is None and found.disk is not None:
        from artver.ops.revisions import tracked_in_workspace

        found = _Located(oid=_oid_in(the_repo, tracked_in_workspace(the_repo), rel, remote))
    if found.oid is None:
        raise PathError(rel, "is kept in Git, not by artver: it has no remote URL")
    store = _remote_of(the_repo, remote)
    location = store.path_of(found.oid)
    return location if "://" in location else f"{store.protocol}://{location}"


def _values(repo: Repo, rev: str | None, kind: str) -> dict[str, Any]:
    from artver.ops.metrics import metric_values, param_values
    from artver.ops.rev_source import Source
    from artver.ops.revisions import Revisions

    with Revisions(repo) as revisions:
        side = Source(repo, revisions, rev)
        values = param_values(side) if kind == "params" else metric_values(side)
    merged: dict[str, Any] = {}
    for (_file, key), value in sorted(values.items()):
        node = merged
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return merged


def params_show(repo: str | os.PathLike | None = None, rev: str | None = None) -> dict[str, Any]:
    """The params the stages use, merged from their params files into one nested mapping
    (`params_show()["train"]["lr"]`), at `rev` (default: the workspace)."""
    return _values(_repo(repo), rev, "params")


def metrics_show(repo: str | os.PathLike | None = None, rev: str | None = None) -> dict[str, Any]:
    """The stages' metrics, merged into one nested mapping, at `rev` (default: the workspace)."""
    return _values(_repo(repo), rev, "metrics")


def exp_show(
    repo: str | os.PathLike | None = None, num: int = 1, all_commits: bool = False
) -> list[dict[str, Any]]:
    """What `artver exp show --json` prints: the baseline(s), then their experiments."""
    from artver.experiments import table
    from artver.experiments.show import collect

    return table.to_json(collect(_repo(repo), num, all_commits))
