"""One side of a comparison across revisions: the files of a Git revision, or of the workspace.

At a revision, a file kept in Git is read from the commit (never checked out) and a file artver
tracks (a pointer's data or a stage output in the cache, alone or inside a tracked directory)
from the cache, as that revision's pointer files and locks record it. `metrics diff`,
`params diff A B` and `plots diff` read their sides through it. Revisions are resolved by
`Revisions.commit`, the one place that knows what a revision name can be.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

from artver.repo import Repo
from artver.safetext import PARAMS_MAX, PIPELINE_MAX, BadText, decode
from artver.stages.params import ParamsError, parse_params_text


class Source:
    """The files of one side of a diff: a Git revision, or the workspace (rev None)."""

    def __init__(self, repo: Repo, revisions: Any, rev: str | None) -> None:
        self.repo = repo
        self.revisions = revisions
        self.rev = rev
        self.commit = revisions.commit(rev) if rev is not None else None
        self.label = rev if rev is not None else "workspace"
        self._tracked: dict[str, Any] | None = None

    def read(self, path: str) -> bytes | None:
        """A file's bytes from Git at this revision (from disk for the workspace)."""
        if self.commit is not None:
            return self.revisions.read(self.commit, path)
        try:
            return (self.repo.root / path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def data(self, path: str) -> bytes | None:
        """A file's bytes from Git (or disk), else from the cache; None when neither has it."""
        found = self.read(path)
        return found if found is not None else self.cached(path)

    def pipelines(self) -> list[Any]:
        """The parsed artver.yaml files of this side (`stages.schema.PipelineFile`s)."""
        from artver.repo import PIPELINE_FILE
        from artver.stages.schema import PipelineError, bytes_params_reader, parse_pipeline

        if self.commit is None:
            files = [self.repo.rel(p) for p in self.repo.pipeline_files()]
        else:
            found = self.revisions.history.files_at(self.commit.sha)
            files = sorted(p for p, _ in found if posixpath.basename(p) == PIPELINE_FILE)
        parsed = []
        for rel in files:
            data = self.read(rel)
            if data is not None:
                try:
                    text = decode(data, PIPELINE_MAX, "pipeline")
                except BadText as exc:
                    raise PipelineError(f"{rel} ({self.label}): {exc}") from None
                parsed.append(
                    parse_pipeline(
                        text, rel, read_params=bytes_params_reader(self.read, self.label)
                    )
                )
        return parsed

    def stages(self) -> list[Any]:
        return [stage for pipeline in self.pipelines() for stage in pipeline.stages]

    def tracked(self) -> dict[str, Any]:
        """What this side's pointer files and locks record, by path (`revisions.Tracked`)."""
        if self._tracked is None:
            from artver.ops.revisions import tracked_in_workspace

            self._tracked = (
                self.revisions.tracked_at(self.commit)
                if self.commit is not None
                else tracked_in_workspace(self.repo)
            )
        return self._tracked

    def cached(self, path: str) -> bytes | None:
        """A file kept in the cache rather than in Git, as this side's lock or pointer files
        record it: tracked itself, or inside a tracked directory."""
        tracked = self.tracked()
        item = tracked.get(path)
        if item is not None and not item.is_dir:
            return self._object(item.oid)
        parent = posixpath.dirname(path)
        while parent:
            item = tracked.get(parent)
            if item is not None:
                if not item.is_dir:
                    return None
                inside = path[len(parent) + 1 :]
                manifest = self._manifest(item.oid)
                entry = next((e for e in manifest if e.path == inside), None)
                return None if entry is None else self._object(entry.oid)
            parent = posixpath.dirname(parent)
        return None

    def files_below(self, path: str) -> list[str]:
        """The files below directory `path` on this side (from the root, sorted): in Git at
        the revision (on disk for the workspace), and in a tracked directory's manifest."""
        found: set[str] = set()
        if self.commit is not None:
            found.update(self.revisions.history.files_below(self.commit.sha, path) or [])
        else:
            top = self.repo.root / path
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames[:] = [d for d in dirnames if d not in (".git", ".artver")]
                rel = self.repo.rel(self.repo.root / dirpath)
                found.update(posixpath.join(rel, f) for f in filenames)
        inside = path.rstrip("/") + "/"
        for tracked, item in self.tracked().items():
            if tracked == path and item.is_dir:
                found.update(f"{path}/{e.path}" for e in self._manifest(item.oid))
            elif tracked.startswith(inside):
                if item.is_dir:
                    found.update(f"{tracked}/{e.path}" for e in self._manifest(item.oid))
                else:
                    found.add(tracked)
        return sorted(found)

    def _manifest(self, oid: str) -> list[Any]:
        from artver.cache.odb import CorruptObjectError

        try:
            return list(self.repo.odb.read_manifest(oid).entries)
        except (FileNotFoundError, CorruptObjectError):
            return []

    def _object(self, oid: str) -> bytes | None:
        try:
            with open(self.repo.odb.path_of(oid), "rb") as fobj:
                return fobj.read()
        except OSError:
            return None

    def parsed(self, path: str, kind: str) -> dict[str, Any] | None:
        data = self.read(path)
        if data is None and kind == "metrics":
            data = self.cached(path)
        if data is None:
            return None
        where = f"{path} ({self.label})"
        try:
            text = decode(data, PARAMS_MAX, kind)
        except BadText as exc:
            raise ParamsError(f"{kind} file {where}: {exc}") from None
        return parse_params_text(text, path, kind, where)


def sources(repo: Repo, a: str | None, b: str | None) -> tuple[Any, Source, Source]:
    """The revisions reader and the two sides `a` (default HEAD) and `b` (default: the
    workspace); the caller closes the reader (`with revisions:`)."""
    from artver.ops.revisions import Revisions

    revisions = Revisions(repo)
    try:
        return revisions, Source(repo, revisions, a or "HEAD"), Source(repo, revisions, b)
    except BaseException:
        revisions.close()
        raise
