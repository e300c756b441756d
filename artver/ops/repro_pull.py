"""`repro --pull`: before the run, fetch from the default remote what the selected stages need
and the workspace lacks (their deps tracked by artver, their recorded outputs) and the run
cache, and check it out, as `artver pull` of those paths would."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from artver.ops.pipeline import Loaded
from artver.pointer import SUFFIX
from artver.repo import Repo


def missing_paths(
    names: list[str],
    deps: dict[str, list[str]],
    outs: dict[str, list[str]],
    target_of: Callable[[str], str | None],
    exists: Callable[[str], bool],
) -> list[str]:
    """What to pull for stages `names`: for each of their deps and recorded outs that the
    workspace lacks, what artver tracks it as (`target_of`: the path itself, the tracked
    directory it is in, or None when artver does not track it). Pure."""
    found: list[str] = []
    for name in names:
        for path in [*deps.get(name, []), *outs.get(name, [])]:
            target = None if exists(path) else target_of(path)
            if target is not None and target not in found:
                found.append(target)
    return found


def pull_missing(repo: Repo, loaded: Loaded, names: list[str], events) -> int:
    """Pull what `missing_paths` names (nothing when nothing is missing); how many paths."""
    recorded: dict[str, list[str]] = {}
    for name in loaded.pipeline.stages:
        stage = loaded.pipeline.stages[name]
        entry = loaded.entry(stage)
        base = posixpath.dirname(stage.file)
        recorded[name] = [
            posixpath.join(base, o.path) if base else o.path
            for o in (entry.outs if entry is not None else [])
            if o.cache and o.oid is not None
        ]
    outputs = {path for paths in recorded.values() for path in paths}
    deps = {n: list(loaded.pipeline.stages[n].deps) for n in names}

    def target_of(path: str) -> str | None:
        """The path, or the tracked directory above it, that a pointer or a lock records."""
        here = path
        while here:
            if here in outputs or (repo.root / (here + SUFFIX)).is_file():
                return here
            here = posixpath.dirname(here)
        return None

    wanted = missing_paths(names, deps, recorded, target_of, lambda p: (repo.root / p).exists())
    if not wanted:
        return 0
    from artver.ops.transfer import Selection, pull

    events(names[0], "pulling", wanted)
    pull(repo, Selection(targets=wanted, run_cache=True), repo.root, None)
    return len(wanted)
