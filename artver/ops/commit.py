"""`artver commit`: record the current state of tracked paths and stages without running."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from artver.ops.add import AddResult, cache_path, record
from artver.repo import Repo


@dataclass
class CommitResult:
    pointers: list[AddResult] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)  # stages whose lock entry was written


def _split_targets(repo: Repo, targets: list[str]) -> tuple[list[str], list[str]]:
    """(pointer targets, stage names)."""
    if not targets or not repo.pipeline_files():
        return targets, []
    from artver.ops.pipeline import load

    stages = load(repo).pipeline.stages
    names = [t for t in targets if t in stages or any(s.startswith(t + "@") for s in stages)]
    return [t for t in targets if t not in names], names


def commit(repo: Repo, targets: list[str], cwd: Path) -> CommitResult:
    result = CommitResult()
    with repo.lock("artver commit"):
        pointer_targets, stage_names = _split_targets(repo, targets)
        if pointer_targets or not targets:
            outputs = []
            for pointer in repo.pointers(pointer_targets, cwd):
                path = pointer.data_path()
                outputs.append((path, cache_path(repo, path, repo.display(path, cwd))))
            result.pointers = [record(repo, path, out) for path, out in outputs]
        if stage_names or (not targets and repo.pipeline_files()):
            result.stages = _commit_stages(repo, stage_names)
    return result


def _commit_stages(repo: Repo, names: list[str]) -> list[str]:
    from artver.ops.pipeline import Observer, load, select
    from artver.ops.repro import record_stage
    from artver.stages.status import stale_reasons

    loaded = load(repo)
    chosen = select(loaded, names) if names else loaded.pipeline.order()
    observer = Observer(repo)
    committed = []
    for name in chosen:
        stage = loaded.pipeline.stages[name]
        entry = loaded.entry(stage)
        observed = observer.observe(stage, entry)
        if entry is not None and not stale_reasons(stage, entry, observed):
            continue
        # No run-cache entry: these outputs were not made by the command from these inputs.
        record_stage(repo, loaded, observer, stage, observed, run_cache=False)
        committed.append(name)
    return committed
