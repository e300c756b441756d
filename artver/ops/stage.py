"""`artver stage add` and `artver stage list`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artver.errors import ArtverError
from artver.fsutil import atomic_write_text
from artver.repo import PIPELINE_FILE, Repo


@dataclass
class NewStage:
    name: str
    cmd: str
    deps: list[str] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)
    outs_no_cache: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)  # `key` or `file.yaml:key1,key2`
    metrics: list[str] = field(default_factory=list)
    wdir: str | None = None


def _params_spec(items: list[str]) -> list[Any]:
    spec: list[Any] = []
    for item in items:
        if ":" in item:
            file, keys = item.split(":", 1)
            spec.append({file: [k for k in keys.split(",") if k]})
        else:
            spec.extend(k for k in item.split(",") if k)
    return spec


def _read_roundtrip(path: Path, rel: str) -> Any:
    """The artver.yaml at `path` as an editable document (None: absent or empty)."""
    from artver.safetext import PIPELINE_MAX, BadText, read_text
    from artver.stages.schema import PipelineError
    from artver.yamlio import YAMLParseError, load_roundtrip

    try:
        text = read_text(path, PIPELINE_MAX, "pipeline")
        doc = load_roundtrip(text) if text.strip() else None
    except FileNotFoundError:
        return None
    except YAMLParseError as exc:
        raise PipelineError(f"{rel}: invalid YAML at {exc}") from None
    except BadText as exc:
        raise PipelineError(f"{rel}: {exc}") from None
    except OSError as exc:
        raise PipelineError(f"cannot read {rel}: {exc.strerror or exc}") from None
    if doc is not None and not isinstance(doc, dict):
        raise PipelineError(f"{rel}: expected a mapping with a 'stages' section")
    return doc


def add_stage(repo: Repo, new: NewStage, cwd: Path, force: bool = False) -> Path:
    """Append (or with `force` replace) a stage in the artver.yaml of `cwd`, keeping the
    file's comments and order; the whole pipeline is checked before anything is written."""
    from artver.ops.pipeline import load
    from artver.stages.graph import Pipeline
    from artver.stages.schema import PipelineError, parse_file
    from artver.yamlio import dump_roundtrip

    path = cwd / PIPELINE_FILE
    repo.check_inside(path, PIPELINE_FILE)
    doc = _read_roundtrip(path, repo.rel(path))
    if doc is None:
        doc = {"stages": {}}
    stages = doc.setdefault("stages", {})
    if stages is None:
        stages = doc["stages"] = {}
    if not isinstance(stages, dict):
        raise PipelineError(f"{repo.rel(path)}: 'stages' must be a mapping of stage names")
    if new.name in stages and not force:
        raise ArtverError(
            f"stage {new.name} already exists in {repo.display(path, cwd)}",
            hint="Use --force to replace it.",
        )
    body: dict[str, Any] = {"cmd": new.cmd}
    if new.wdir:
        body["wdir"] = new.wdir
    if new.deps:
        body["deps"] = list(new.deps)
    if new.params:
        body["params"] = _params_spec(new.params)
    outs: list[Any] = list(new.outs) + [{"path": o, "cache": False} for o in new.outs_no_cache]
    if outs:
        body["outs"] = outs
    if new.metrics:
        body["metrics"] = list(new.metrics)
    stages[new.name] = body
    new_text = dump_roundtrip(doc)
    rel = repo.rel(path)
    others = [s for s in load(repo).pipeline.stages.values() if s.file != rel]
    tracked = [
        repo.rel(p.with_name(p.name.removesuffix(".artver"))) for p in repo.iter_pointer_files()
    ]
    Pipeline.build([*others, *parse_file(new_text, rel)], tracked)
    atomic_write_text(path, new_text)
    return path


def list_stages(repo: Repo) -> list[dict[str, Any]]:
    from artver.ops.pipeline import load

    loaded = load(repo)
    rows = []
    for name in loaded.pipeline.order():
        stage = loaded.pipeline.stages[name]
        rows.append(
            {
                "name": name,
                "file": stage.file,
                "cmd": list(stage.cmd),
                "deps": list(stage.deps),
                "outs": [o.path for o in stage.outs],
                "frozen": stage.frozen,
                "after": loaded.pipeline.predecessors(name),
            }
        )
    return rows
