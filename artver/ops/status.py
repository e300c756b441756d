"""`artver status`: how the workspace differs from what the pointers record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from artver.cache.odb import CorruptObjectError
from artver.cache.tree import diff_trees
from artver.ops.snapshot import take
from artver.pointer import Pointer
from artver.repo import Repo

OK, MODIFIED, MISSING = "ok", "modified", "missing"
NOT_IN_CACHE = "not in cache"  # missing from the workspace, and the cache lacks it too
# An import (`artver import`, `import-url`) whose source has moved on: `artver update`.
IMPORT_BEHIND, IMPORT_URL_BEHIND = "import behind its source", "import behind its source URL"


@dataclass
class ArtifactStatus:
    path: str  # repo-relative data path
    pointer: str  # repo-relative pointer file
    state: str  # ok | modified | missing | not in cache
    kind: str  # "file" or "dir" as recorded
    changes: dict[str, list[str]] = field(default_factory=dict)  # modified/new/deleted
    details_known: bool = True  # False when the recorded manifest is not in the cache
    behind: tuple[str, str] | None = None  # an import behind: (rev_lock, the source's commit)

    def to_dict(self) -> dict:
        data = {"path": self.path, "pointer": self.pointer, "state": self.state, "kind": self.kind}
        if self.changes:
            data["changes"] = self.changes
        if self.behind is not None:
            data["behind"] = {"rev_lock": self.behind[0], "source": self.behind[1]}
        if not self.details_known:
            data["details"] = "unknown: the recorded directory manifest is not in the cache"
        return data


def compare(recorded: dict[str, str], current: dict[str, str]) -> dict[str, list[str]]:
    """Per-file differences between two {relpath: oid} maps. Pure."""
    modified = sorted(p for p, oid in current.items() if p in recorded and recorded[p] != oid)
    new = sorted(p for p in current if p not in recorded)
    deleted = sorted(p for p in recorded if p not in current)
    return {k: v for k, v in (("modified", modified), ("new", new), ("deleted", deleted)) if v}


def artifact_status(repo: Repo, pointer: Pointer, cwd: Path) -> ArtifactStatus:
    out = pointer.out
    path = pointer.data_path()
    shown = repo.display(path, cwd)
    result = ArtifactStatus(
        repo.rel(path), repo.rel(pointer.file), OK, "dir" if out.is_dir else "file"
    )
    snapshot = take(repo, path, shown, expect=out.oid)
    if snapshot.kind == "missing":
        result.state = MISSING if repo.odb.stat(out.oid) is not None else NOT_IN_CACHE
        return result
    if snapshot.oid == out.oid:
        return result
    result.state = MODIFIED
    if out.is_dir and snapshot.kind == "dir" and snapshot.big is not None:
        try:  # a big directory: read only where the two trees differ
            found = diff_trees(repo.odb.read_node, out.oid, snapshot.big.oid)
        except (FileNotFoundError, CorruptObjectError, ValueError):
            result.details_known = False
            return result
        if not found:  # the same files, recorded by an older artver in the flat format
            result.state = OK
            return result
        recorded = {path: old.oid for path, old, _ in found if old is not None}
        result.changes = compare(recorded, {path: new.oid for path, _, new in found if new})
    elif out.is_dir and snapshot.kind == "dir":
        try:
            manifest = repo.odb.read_manifest(out.oid)
        except (FileNotFoundError, CorruptObjectError):
            result.details_known = False
            return result
        recorded = {e.path: e.oid for e in manifest.entries}
        result.changes = compare(recorded, snapshot.oids)
    return result


def status(repo: Repo, targets: list[str], cwd: Path) -> list[ArtifactStatus]:
    found = repo.pointers(targets, cwd)
    results = [artifact_status(repo, p, cwd) for p in found]
    if any("source" in p.extra for p in found):  # imports: is the source ahead?
        from artver.ops.imports import mark_behind

        mark_behind(repo, found, results)
    return results


@dataclass
class StageStatus:
    name: str
    reasons: list[str]

    def to_dict(self) -> dict:
        return {"name": self.name, "reasons": self.reasons}


def stage_status(repo: Repo) -> list[StageStatus]:
    """Stale stages and why, in the order repro would run them."""
    if not repo.pipeline_files():
        return []
    from artver.ops.pipeline import load
    from artver.ops.repro import plan

    loaded = load(repo)
    with repo.state.deferred():
        outcomes = plan(repo, loaded, loaded.pipeline.order(), force=False)
    return [StageStatus(o.name, o.reasons) for o in outcomes if o.reasons]
