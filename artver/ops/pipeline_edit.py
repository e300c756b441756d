"""Finding a stage's definition in artver.yaml and rewriting that file (`remove`, `freeze`).

A definition is what a user wrote under `stages:`: one plain stage, or a `foreach`/`matrix`
entry that generates `NAME@ITEM` stages. Edits go through the round-trip YAML writer that
`artver stage add` uses, so comments and key order are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from artver.errors import ArtverError
from artver.fsutil import atomic_write_text
from artver.repo import Repo
from artver.stages.schema import PipelineError, Stage

GENERATED = "@"  # `NAME@ITEM`: a stage a foreach or matrix entry makes (never in a plain name)
SHOWN_NAMES = 20


class UnknownStageError(ArtverError):
    pass


@dataclass
class Definition:
    name: str  # the key under `stages:`
    file: str  # repo-relative artver.yaml
    stages: list[Stage] = field(default_factory=list)  # the stages it makes (one, unless a group)

    @property
    def group(self) -> bool:
        return any(GENERATED in s.name for s in self.stages)


def definitions(repo: Repo) -> dict[str, Definition]:
    """Every definition of every artver.yaml by its name (the pipeline checked as a whole)."""
    if not repo.pipeline_files():
        return {}
    from artver.ops.pipeline import load

    found: dict[str, Definition] = {}
    for stage in load(repo).pipeline.stages.values():
        key = stage.name.split(GENERATED, 1)[0]
        found.setdefault(key, Definition(key, stage.file)).stages.append(stage)
    return found


def known_names(defs: dict[str, Definition]) -> str:
    """`Known stages: prepare, train, build (build@a, build@b).` for a hint."""
    if not defs:
        return "There are no stages: no artver.yaml defines any."
    parts = []
    for name in sorted(defs)[:SHOWN_NAMES]:
        made = [s.name for s in defs[name].stages]
        if defs[name].group:
            listed = ", ".join(made[:3]) + (", ..." if len(made) > 3 else "")
            parts.append(f"{name} ({listed})")
        else:
            parts.append(name)
    more = len(defs) - SHOWN_NAMES
    return "Known stages: " + ", ".join(parts) + (f" and {more} more." if more > 0 else ".")


def find(defs: dict[str, Definition], name: str, verb: str) -> Definition:
    """The definition `name` names; a generated `NAME@ITEM` alone is refused (like DVC, which
    cannot write back one stage of a parametrized entry): `verb` says what was asked."""
    if GENERATED in name:
        group = name.split(GENERATED, 1)[0]
        if group in defs and any(s.name == name for s in defs[group].stages):
            raise ArtverError(
                f"cannot {verb} {name} alone: it is one of the stages the foreach/matrix "
                f"entry {group} in {defs[group].file} generates",
                hint=f"`artver {verb} {group}` does it for every {group}@... stage; for one of "
                f"them only, edit {defs[group].file}.",
            )
    if name not in defs:
        raise UnknownStageError(f"no stage named {name!r}", hint=known_names(defs))
    return defs[name]


def read_document(repo: Repo, file: str) -> dict:
    """The artver.yaml `file` as an editable document with a `stages` mapping."""
    from artver.ops.stage import _read_roundtrip

    doc = _read_roundtrip(repo.root / file, file)
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict):
        raise PipelineError(f"{file}: 'stages' must be a mapping of stage names")
    return doc


def edit(repo: Repo, file: str, change: Callable[[Any], None]) -> bool:
    """Apply `change` to the `stages:` mapping of `file` and write the file back; a file left
    with no stages and nothing else is deleted. True when the file was deleted."""
    from artver.yamlio import dump_roundtrip

    doc = read_document(repo, file)
    path = repo.root / file
    text = path.read_text(encoding="utf-8")  # read (and checked) by read_document just now
    change(doc["stages"])
    if not doc["stages"] and all(key == "stages" for key in doc):
        path.unlink()
        return True
    atomic_write_text(path, dump_roundtrip(doc, like=text))
    return False
