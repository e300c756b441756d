"""`artver freeze` / `artver unfreeze`: set or drop `frozen: true` on stages in artver.yaml.

A frozen stage is never run by `repro` (pipelines.md). The file is rewritten by the round-trip
YAML writer `artver stage add` uses, keeping comments and key order. A foreach/matrix entry is
frozen as a whole (`frozen: true` in its `do` template, or beside its `matrix`); one generated
`NAME@ITEM` stage alone is refused, as DVC refuses to write back a parametrized stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from artver.ops.pipeline_edit import Definition, definitions, edit, find
from artver.repo import Repo
from artver.stages.schema import PipelineError


@dataclass
class Frozen:
    name: str
    file: str  # repo-relative artver.yaml
    changed: bool  # False: it already was (or was not) frozen


def freeze(repo: Repo, names: list[str], frozen: bool = True) -> list[Frozen]:
    """Freeze (or with `frozen=False` unfreeze) the named stages; all are found first."""
    verb = "freeze" if frozen else "unfreeze"
    with repo.lock(f"artver {verb}"):
        defs = definitions(repo)
        chosen = [defs[name] for name in dict.fromkeys(find(defs, n, verb).name for n in names)]
        results = []
        for definition in chosen:
            changed = any(stage.frozen != frozen for stage in definition.stages)
            if changed:
                edit(repo, definition.file, lambda stages, d=definition: _set(stages, d, frozen))
            results.append(Frozen(definition.name, definition.file, changed))
        return results


def _set(stages: Any, definition: Definition, frozen: bool) -> None:
    body = stages.get(definition.name)
    if not isinstance(body, dict):
        raise PipelineError(f"{definition.file}: stage {definition.name} must be a mapping")
    if definition.group and "foreach" in body:  # its stages are made from the `do` template
        body = body.get("do")
        if not isinstance(body, dict):
            raise PipelineError(f"{definition.file}: stage {definition.name} has no 'do' mapping")
    if frozen and "frozen" not in body and hasattr(body, "insert"):
        # Right after `cmd`: at the end it would land below the blank line or comment that
        # ends the stage (the round-trip writer keeps those with the last key).
        keys = list(body)
        body.insert(keys.index("cmd") + 1 if "cmd" in keys else 0, "frozen", True)
    elif frozen:
        body["frozen"] = True
    else:
        body.pop("frozen", None)
