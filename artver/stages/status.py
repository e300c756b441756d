"""Is a stage stale, and why? A pure function of (stage, lock entry, what is observed now)."""

from __future__ import annotations

import posixpath
from typing import Any

from artver.stages.envprint import env_changes
from artver.stages.lock import LockEntry
from artver.stages.params import flatten
from artver.stages.schema import Stage


# A plain class, not a dataclass: generating one costs start-up time on every command.
class Observed:
    """The current state of a stage's inputs and outputs (repo-relative paths)."""

    __slots__ = ("deps", "env", "outs", "params")

    def __init__(
        self,
        deps: dict[str, str | None] | None = None,
        outs: dict[str, str | None] | None = None,
        params: dict[str, dict[str, Any]] | None = None,
        env: dict[str, Any] | None = None,
    ) -> None:
        self.deps = {} if deps is None else deps  # oid, None when missing
        self.outs = {} if outs is None else outs
        self.params = {} if params is None else params  # file -> key -> value
        self.env = {} if env is None else env


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def param_changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    changes = []
    for file in sorted(set(old) | set(new)):
        before = {}
        after = {}
        for key, value in (old.get(file) or {}).items():
            before.update(flatten(value, key))
        for key, value in (new.get(file) or {}).items():
            after.update(flatten(value, key))
        for key in sorted(set(before) | set(after)):
            if key not in after:
                changes.append(f"param {key} removed")
            elif key not in before:
                changes.append(f"param {key} added ({_short(after[key])})")
            elif before[key] != after[key]:
                changes.append(f"param {key} {_short(before[key])} -> {_short(after[key])}")
    return changes


def stale_reasons(
    stage: Stage,
    entry: LockEntry | None,
    observed: Observed,
    upstream: list[str] | None = None,
    allow_missing: bool = False,
) -> list[str]:
    """Why `stage` must run; empty when it is up to date. With `allow_missing` (`repro
    --allow-missing`), a recorded dep or out that is missing from the workspace is no reason:
    only a change is."""
    if stage.frozen:
        return []
    reasons: list[str] = []
    if stage.always_changed:
        reasons.append("always changed")
    if entry is None:
        return [*reasons, "never run"]
    base = posixpath.dirname(stage.file)

    def repo_path(path: str) -> str:
        return posixpath.normpath(posixpath.join(base, path)) if base else path

    if list(stage.cmd) != entry.cmd:
        reasons.append("cmd changed")
    if stage.seed != entry.seed:
        reasons.append(f"seed {entry.seed} -> {stage.seed}")
    recorded_deps = {repo_path(d.path): d.oid for d in entry.deps}
    for dep in stage.deps:
        now = observed.deps.get(dep)
        if dep not in recorded_deps:
            reasons.append(f"dep {dep} added")
        elif now is None:
            if not allow_missing:
                reasons.append(f"dep {dep} missing")
        elif now != recorded_deps[dep]:
            reasons.append(f"dep {dep} modified")
    for dep in sorted(set(recorded_deps) - set(stage.deps)):
        reasons.append(f"dep {dep} removed")
    reasons += param_changes(entry.params, observed.params)
    reasons += env_changes(entry.env, observed.env) if (entry.env or observed.env) else []
    recorded_outs = {repo_path(o.path): o.oid for o in entry.outs}
    for out in stage.outs:
        now = observed.outs.get(out.path)
        if out.path not in recorded_outs:
            reasons.append(f"out {out.path} added")
        elif now is None:
            if not allow_missing:
                reasons.append(f"out {out.path} missing")
        elif now != recorded_outs[out.path]:
            reasons.append(f"out {out.path} modified")
    for name in upstream or []:
        reasons.append(f"upstream stage {name} will run")
    return reasons
