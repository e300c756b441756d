"""What `lineage` reads: the pipeline, locks and pointer files of one revision (from Git's object
store, never checked out) or of the workspace, and the commit that last changed each stage's
lock entry and each pointer file.

A side is a map of metadata paths to Git blob ids: for the workspace the ids are computed from
the files' bytes, so an entry on disk compares with the one a commit holds by id or text.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from artver.errors import PathError
from artver.history import Commit
from artver.ops.lineage import Data, Lineage, env_summary, find_cycle, trace
from artver.ops.lock_history import (
    LockBlob,
    Reader,
    Unsupported,
    git_blob_id,
    last_change,
    parse_block,
    target_path,
)
from artver.ops.revisions import Revisions, is_metadata, pointer_outputs
from artver.pointer import SUFFIX
from artver.repo import PIPELINE_FILE, Repo
from artver.safetext import PIPELINE_MAX, POINTER_MAX, BadText, decode
from artver.stages.lock import lock_path_for
from artver.stages.schema import PipelineError, Stage, bytes_params_reader, parse_file


class Side:
    """The metadata files of a revision or of the workspace."""

    def __init__(
        self, label: str, sha: str | None, files: dict[str, bytes], read, read_any
    ) -> None:
        self.label = label
        self.sha = sha
        self.files = files  # path -> Git blob id
        self.read = read  # path -> bytes, of the paths in `files`
        self.read_any = read_any  # path -> bytes or None: any file (params files `vars` use)

    def text(self, path: str, limit: int, kind: str) -> str:
        try:
            return decode(self.read(path), limit, kind)
        except BadText as exc:
            raise PipelineError(f"{path} ({self.label}): {exc}") from None


def git_side(reader: Reader, commit: Commit) -> Side:
    files = reader.files(commit.sha)
    return Side(
        commit.label,
        commit.sha,
        files,
        lambda p: reader.history.blob(files[p]),
        lambda p: reader.history.read(commit.sha, p),
    )


def workspace_side(repo: Repo) -> Side:
    contents: dict[str, bytes] = {}
    for path in repo.metadata_files():
        rel = repo.rel(path)
        paths = [rel, lock_path_for(rel)] if path.name == PIPELINE_FILE else [rel]
        for one in paths:
            try:
                contents[one] = (repo.root / one).read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise PathError(one, f"cannot be read ({exc.strerror or exc})") from None
    files = {p: git_blob_id(data) for p, data in contents.items()}

    def read_any(rel: str) -> bytes | None:
        try:
            return (repo.root / rel).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    return Side("workspace", None, files, contents.__getitem__, read_any)


def read_lineage(repo: Repo, target: str, cwd: Path, rev: str | None) -> Lineage:
    path = target_path(repo, target, cwd)
    with Revisions(repo) as revisions:
        reader = Reader(revisions)
        side = git_side(reader, revisions.commit(rev)) if rev is not None else workspace_side(repo)
        listed = _stages(side)
        tracked = _tracked(revisions, side)
        _check_graph(listed, tracked)
        stages = {stage.name: stage for stage in listed}
        locks: dict[str, LockBlob | None] = {}

        def lock_of(stage: Stage) -> LockBlob | None:
            rel = lock_path_for(stage.file)
            if rel not in locks:
                blob = side.files.get(rel)
                where = f"{rel} ({side.label})"
                got = None if blob is None else reader.lock(blob, lambda: side.read(rel), where)
                locks[rel] = got
            return locks[rel]

        def entry_of(name: str) -> dict[str, Any] | None:
            lock = lock_of(stages[name])
            return None if lock is None else lock.entry(name)

        lin = trace(path, stages, entry_of, tracked)
        if lin is None:
            where = "in the workspace" if side.sha is None else f"at {side.label}"
            raise PathError(
                target,
                f"not tracked by artver {where} (no pointer file or stage output holds it)",
                hint="`artver log PATH --all` finds the commits where it was tracked.",
            )
        cycle = find_cycle(lin.edges)
        if cycle:
            from artver.stages.graph import GraphError

            raise GraphError(f"the pipeline ({side.label}) has a cycle: " + " -> ".join(cycle))
        lin.side, lin.commit = side.label, side.sha
        _changes(reader, side, lin, stages, lock_of)
    return lin


def _stages(side: Side) -> list[Stage]:
    found: list[Stage] = []
    for path in sorted(p for p in side.files if posixpath.basename(p) == PIPELINE_FILE):
        text = side.text(path, PIPELINE_MAX, "pipeline")
        try:
            doc = parse_block(text)  # a 200-stage artver.yaml costs 0.2 s through ruamel
        except Unsupported:
            doc = None  # parse_file reads it with the YAML library
        try:
            found += parse_file(text, path, doc, bytes_params_reader(side.read_any, side.label))
        except PipelineError as exc:
            raise PipelineError(f"{exc.message} ({side.label})") from None
    return found


def _tracked(revisions: Revisions, side: Side) -> dict[str, Data]:
    found: dict[str, Data] = {}
    for path, blob in side.files.items():
        if not path.endswith(SUFFIX) or not is_metadata(posixpath.basename(path)):
            continue
        if side.sha is not None:
            items = revisions.recorded_by(Commit(side.sha, side.label), path, blob)
        else:
            items = pointer_outputs(side.text(path, POINTER_MAX, "pointer"), path, path)
        for t in items:
            found[t.path] = Data(t.path, t.oid, t.size, t.nfiles, path)
    return found


def _check_graph(stages: list[Stage], tracked: dict[str, Data]) -> None:
    """The checks `repro` makes of the pipeline, but a cycle's (`find_cycle`, on the traced
    stages only): no stage named twice, no output written twice, inside another or tracked
    by a pointer file. networkx, which costs a tenth of a second to import, is not needed."""
    from artver.stages.graph import GraphError, _check_outs

    seen: dict[str, Stage] = {}
    for stage in stages:
        if stage.name in seen:
            other = seen[stage.name].file
            raise GraphError(f"two stages are named {stage.name} ({other} and {stage.file})")
        seen[stage.name] = stage
    _check_outs(stages, tracked)


def _changes(reader: Reader, side: Side, lin: Lineage, stages, lock_of) -> None:
    """Fill in the commit that last changed each stage's entry and each pointer file, and each
    stage's environment against its previous run."""
    history = _history(reader)
    start = side.sha if side.sha is not None else (history.head() if history else None)
    shallow = history.shallow if history else set()

    def find(value_at: Callable[[str], Any], now: Any) -> tuple[str | None, bool]:
        """(commit of the last change or None, whether the workspace holds another value)."""
        if start is None or now is None:
            return None, now is not None
        if side.sha is None and value_at(start) != now:
            return None, True
        sha, cut = last_change(history.parents, start, lambda p: value_at(p) == now, shallow)
        return sha, cut

    for node in lin.stages:
        rel = lock_path_for(stages[node.name].file)
        lock = lock_of(stages[node.name])
        now = None if lock is None else lock.signature(node.name)

        def value_at(sha: str, rel: str = rel, name: str = node.name) -> Any:
            got = reader.lock_at(sha, rel)
            return None if got is None else got.signature(name)

        sha, flag = find(value_at, now)
        node.uncommitted = flag and sha is None
        previous: dict[str, Any] | None = None
        before = None
        if sha is not None:
            node.changed = reader.change(sha, flag)
            parents = [] if flag else history.parents(sha)
            before = parents[0] if parents else None
        elif node.uncommitted and start is not None:
            before = start  # the workspace's run follows the one HEAD holds
        if before is not None and (node.env.get("python") or {}):
            got = reader.lock_at(before, rel)
            raw = None if got is None else got.entry(node.name)
            previous = None if raw is None else (raw.get("env") or {})
        node.env_summary = env_summary(node.env, previous)
    for item in lin.data:
        pointer = item.data.pointer
        now_blob = side.files.get(pointer)
        sha, flag = find(lambda p, f=pointer: reader.files(p).get(f), now_blob)
        item.uncommitted = flag and sha is None
        if sha is not None:
            item.changed = reader.change(sha, flag)


def _history(reader: Reader) -> Any:
    """The Git history, or None for an artver repository outside Git (`init --no-git`)."""
    from artver.history import RevisionError

    try:
        return reader.history
    except RevisionError:
        return None
