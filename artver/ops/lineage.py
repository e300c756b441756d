"""`artver lineage PATH [--rev REV]`: the chain of stages and raw inputs that produced PATH.

The chain is traced from values (the stages of the pipeline at that revision, their lock
entries, what the pointer files track) by pure functions, and drawn as text, JSON, Mermaid or
Graphviz. Reading those values from Git (without checking anything out) or from the workspace,
and finding the commit that last changed each entry, is `artver.ops.lineage_sources`.
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artver.ops.lock_history import iso_date
from artver.stages.lock import LockEntry
from artver.stages.schema import Stage

# Keys of a lock entry that describe what the stage is, and `observed` (the machine, start
# and duration of the run: stages/hardware.py). A key of a later artver is shown with the
# observed ones, as it is.
IDENTITY_KEYS = {"cmd", "deps", "params", "outs", "env", "resources", "seed", "observed"}


@dataclass(frozen=True)
class Change:
    """The commit that last changed an entry or a pointer file."""

    sha: str
    author: str
    time: int
    tz: int  # seconds east of UTC
    subject: str
    truncated: bool = False  # a shallow clone: the change may be older than this commit

    @property
    def date(self) -> str:
        return iso_date(self.time, self.tz)


@dataclass(frozen=True)
class Data:
    """A version of pointer-tracked data (a raw input)."""

    path: str
    oid: str
    size: int | None
    nfiles: int | None
    pointer: str  # the pointer file that tracks it


@dataclass
class Dep:
    path: str
    oid: str | None  # as the stage's lock entry records it; None: not recorded
    size: int | None = None
    nfiles: int | None = None
    kind: str = "git"  # "stage": another stage's output, "data": pointer-tracked, "git"
    sources: list[str] = field(default_factory=list)  # upstream stages or tracked paths
    current: str | None = None  # the version its source holds now, when it differs


@dataclass
class StageNode:
    name: str
    file: str
    cmd: list[str]
    ran: bool  # False: no lock entry at this revision
    deps: list[Dep]
    outs: list[dict[str, Any]]
    params: dict[str, dict[str, Any]]
    env: dict[str, Any]
    observed: dict[str, Any]
    resources: dict[str, Any]
    seed: int | None
    changed: Change | None = None
    uncommitted: bool = False  # the workspace's entry is not the one HEAD holds
    env_summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataNode:
    data: Data
    changed: Change | None = None
    uncommitted: bool = False


@dataclass
class Lineage:
    target: str  # repo-relative, as asked
    artifact: str  # the tracked path that is or holds it
    producer: str | None  # the stage whose output it is; None for raw data
    side: str  # the revision as named, or "workspace"
    commit: str | None
    stages: list[StageNode]  # the producer first, then upstream, breadth first
    data: list[DataNode]
    edges: list[tuple[str, str]]  # node ids: "stage:NAME", "data:PATH", "target"


# -- tracing (pure) --------------------------------------------------------------------------
def covering(path: str, paths: dict[str, Any]) -> str | None:
    """The key of `paths` that is `path` or a directory holding it."""
    parts = path.split("/")
    for i in range(len(parts), 0, -1):
        candidate = "/".join(parts[:i])
        if candidate in paths:
            return candidate
    return None


class _Paths:
    """Paths, to find those that are a given path, hold it, or lie inside it (a dep on a
    directory of outputs) without a scan of all of them per dep."""

    def __init__(self, paths: dict[str, Any]) -> None:
        self.paths = paths
        self.sorted = sorted(paths)

    def related(self, path: str) -> list[str]:
        found = {covering(path, self.paths)} - {None}
        prefix = path + "/"
        for key in self.sorted[bisect.bisect_left(self.sorted, prefix) :]:
            if not key.startswith(prefix):
                break
            found.add(key)
        return sorted(found)  # type: ignore[arg-type]


def trace(
    target: str,
    stages: dict[str, Stage],
    entry_of: Callable[[str], dict[str, Any] | None],
    tracked: dict[str, Data],
) -> Lineage | None:
    """The lineage of `target` from the pipeline's stages, each stage's lock entry as written
    (`entry_of`) and the pointer-tracked data; None when nothing tracks the path."""
    outs = {out.path: s.name for s in stages.values() for out in s.outs}
    out_index, data_index = _Paths(outs), _Paths(tracked)
    out_path = covering(target, outs)
    if out_path is None:
        data_path = covering(target, tracked)
        if data_path is None:
            return None
        node = DataNode(tracked[data_path])
        return Lineage(target, data_path, None, "", None, [], [node], [])
    producer = outs[out_path]
    nodes: dict[str, StageNode] = {}
    data: dict[str, DataNode] = {}
    edges: list[tuple[str, str]] = [(f"stage:{producer}", "target")]
    queue = [producer]
    entries: dict[str, LockEntry | None] = {}

    def entry(name: str) -> LockEntry | None:
        if name not in entries:
            raw = entry_of(name)
            entries[name] = None if raw is None else LockEntry.from_dict(raw)
        return entries[name]

    while queue:
        name = queue.pop(0)
        if name in nodes:
            continue
        stage = stages[name]
        raw = entry_of(name)
        rec = entry(name)
        base = posixpath.dirname(stage.file)
        recorded = (
            {posixpath.join(base, d.path) if base else d.path: d for d in rec.deps} if rec else {}
        )
        deps = []
        for path in [*recorded, *(d for d in stage.deps if d not in recorded)]:
            r = recorded.get(path)
            dep = Dep(path, r.oid, r.size, r.nfiles) if r else Dep(path, None)
            ups = sorted({outs[p] for p in out_index.related(path)} - {name})
            if ups:
                dep.kind, dep.sources = "stage", ups
                for up in ups:
                    edges.append((f"stage:{up}", f"stage:{name}"))
                    queue.append(up)
                dep.current = (
                    _produced(stages[ups[0]], entry(ups[0]), path) if len(ups) == 1 else None
                )
            elif found := data_index.related(path):
                dep.kind, dep.sources = "data", found
                for p in found:
                    data.setdefault(p, DataNode(tracked[p]))
                    edges.append((f"data:{p}", f"stage:{name}"))
                dep.current = tracked[path].oid if path in tracked else None
            if dep.current is not None and dep.current == dep.oid:
                dep.current = None
            deps.append(dep)
        nodes[name] = _node(stage, rec, raw, deps)
    unique = list(dict.fromkeys(edges))
    return Lineage(
        target, out_path, producer, "", None, list(nodes.values()), list(data.values()), unique
    )


def find_cycle(edges: list[tuple[str, str]]) -> list[str] | None:
    """Stage names around a cycle of the traced graph (first one repeated at the end), or
    None. Pure."""
    after: dict[str, list[str]] = {}
    for a, b in edges:
        if a.startswith("stage:") and b.startswith("stage:"):
            after.setdefault(a[6:], []).append(b[6:])
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(after):
        if state.get(start):
            continue
        path, stack = [start], [iter(after.get(start, []))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(after.get(nxt, [])))
    return None


def _produced(stage: Stage, entry: LockEntry | None, path: str) -> str | None:
    """The version of `path` that the stage's lock entry records as its output."""
    if entry is None:
        return None
    base = posixpath.dirname(stage.file)
    for out in entry.outs:
        if (posixpath.join(base, out.path) if base else out.path) == path:
            return out.oid
    return None


def _node(
    stage: Stage, rec: LockEntry | None, raw: dict[str, Any] | None, deps: list[Dep]
) -> StageNode:
    if rec is None or raw is None:
        return StageNode(
            stage.name, stage.file, list(stage.cmd), False, deps, [], {}, {}, {},
            stage.resources.to_dict(), stage.seed,
        )  # fmt: skip
    outs = [{"path": o.path, "oid": o.oid, "size": o.size, "nfiles": o.nfiles} for o in rec.outs]
    observed = dict(raw.get("observed") or {})
    observed.update({k: v for k, v in raw.items() if k not in IDENTITY_KEYS})
    return StageNode(
        stage.name, stage.file, rec.cmd, True, deps, outs, rec.params, rec.env, observed,
        rec.resources, rec.seed,
    )  # fmt: skip


def package_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Packages whose version differs, with None for one that was not installed. Pure."""
    return [
        {"name": name, "old": old.get(name), "new": new.get(name)}
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def env_summary(env: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Python version and platform, how many packages, and which moved since the previous run
    of the stage (`previous`: that run's env record; None when there was no previous run).
    Pure."""
    summary: dict[str, Any] = {}
    python = env.get("python") or {}
    if python:
        packages = python.get("packages") or {}
        summary.update(python={k: v for k, v in python.items() if k != "packages"})
        summary["packages"] = len(packages)
        if previous is None:
            summary["packages_changed"] = None
            summary["previous_run"] = False
        else:
            old = (previous.get("python") or {}).get("packages")
            summary["previous_run"] = True
            summary["packages_changed"] = None if old is None else package_changes(old, packages)
    for key, value in env.items():
        if key not in ("python", "fingerprint"):
            summary[key] = value
    return summary


# -- drawings (pure) -------------------------------------------------------------------------
def _nodes(lin: Lineage) -> list[tuple[str, str, str]]:
    """(node id, label, kind) from raw inputs to the target."""
    found = [(f"data:{d.data.path}", d.data.path, "data") for d in lin.data]
    found += [(f"stage:{s.name}", s.name, "stage") for s in reversed(lin.stages)]
    if lin.producer is not None:
        found.append(("target", lin.target, "target"))
    return found


def to_mermaid(lin: Lineage) -> str:
    nodes = _nodes(lin)
    ids = {node: f"n{i}" for i, (node, _, _) in enumerate(nodes)}
    shapes = {"data": ('[("', '")]'), "stage": ('["', '"]'), "target": ('(["', '"])')}
    lines = ["flowchart LR"]
    for node, label, kind in nodes:
        left, right = shapes[kind]
        shown = label.replace('"', "#quot;")
        lines.append(f"    {ids[node]}{left}{shown}{right}")
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in lin.edges if a in ids and b in ids]
    return "\n".join(lines)


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(lin: Lineage) -> str:
    shapes = {"data": "cylinder", "stage": "box", "target": "note"}
    lines = ["strict digraph lineage {", "    rankdir=LR;"]
    for node, label, kind in _nodes(lin):
        lines.append(f"    {_dot_quote(node)} [label={_dot_quote(label)}, shape={shapes[kind]}];")
    lines += [f"    {_dot_quote(a)} -> {_dot_quote(b)};" for a, b in lin.edges]
    lines.append("}")
    return "\n".join(lines)


# -- JSON ------------------------------------------------------------------------------------
def change_dict(change: Change | None) -> dict[str, Any] | None:
    if change is None:
        return None
    return {
        "commit": change.sha,
        "date": change.date,
        "author": change.author,
        "subject": change.subject,
        "shallow": change.truncated,
    }


def to_dict(lin: Lineage) -> dict[str, Any]:
    stages = []
    for s in lin.stages:
        deps = [
            {"path": d.path, "oid": d.oid, "size": d.size, "nfiles": d.nfiles, "kind": d.kind,
             "from": d.sources, "current_oid": d.current}
            for d in s.deps
        ]  # fmt: skip
        stages.append(
            {
                "name": s.name, "file": s.file, "cmd": s.cmd, "ran": s.ran, "deps": deps,
                "outs": s.outs, "params": s.params, "env": s.env_summary,
                "observed": s.observed, "resources": s.resources, "seed": s.seed,
                "changed_in": change_dict(s.changed), "uncommitted": s.uncommitted,
            }
        )  # fmt: skip
    data = [
        {"path": d.data.path, "oid": d.data.oid, "size": d.data.size, "nfiles": d.data.nfiles,
         "pointer": d.data.pointer, "changed_in": change_dict(d.changed),
         "uncommitted": d.uncommitted}
        for d in lin.data
    ]  # fmt: skip
    return {
        "target": lin.target,
        "artifact": lin.artifact,
        "produced_by": lin.producer,
        "rev": lin.side,
        "commit": lin.commit,
        "stages": stages,
        "data": data,
        "edges": [list(e) for e in lin.edges],
    }


def lineage(repo: Any, target: str, cwd: Path, rev: str | None) -> Lineage:
    """The lineage of the path `target` (relative to `cwd`) at `rev`, or in the workspace."""
    from artver.ops.lineage_sources import read_lineage

    return read_lineage(repo, target, cwd, rev)
