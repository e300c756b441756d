"""Loading the pipeline of a repository and observing its stages' inputs and outputs."""

from __future__ import annotations

import json
import posixpath
from typing import Any

from artver.errors import ArtverError
from artver.ops.snapshot import take
from artver.pointer import Output
from artver.repo import Repo
from artver.safetext import PIPELINE_MAX, BadText, read_text
from artver.stages.envprint import env_record
from artver.stages.lock import LockEntry, Recorded, read_lock
from artver.stages.params import MISSING, ParamsError, load_params_file, lookup
from artver.stages.schema import (
    PipelineError,
    Stage,
    load_document,
    parse_file,
    workspace_params_reader,
)
from artver.stages.status import Observed


# A plain class, not a dataclass: generating one costs start-up time on every command.
class Loaded:
    """The pipeline and the lock entries of every stage."""

    __slots__ = ("locks", "pipeline", "written")

    def __init__(
        self,
        pipeline: Any,  # artver.stages.graph.Pipeline (networkx is imported only when needed)
        locks: dict[str, dict[str, LockEntry]],
        written: dict[str, str] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.locks = locks  # pipeline file -> stage -> entry
        self.written = {} if written is None else written  # pipeline file -> lock text written

    def entry(self, stage: Stage) -> LockEntry | None:
        return self.locks.get(stage.file, {}).get(stage.name)


def load(repo: Repo) -> Loaded:

    stages: list[Stage] = []
    locks: dict[str, dict[str, LockEntry]] = {}
    params_reader = workspace_params_reader(repo.root, remember=repo.parse_remembered)
    for path in repo.pipeline_files():
        rel = repo.rel(path)
        try:
            text = read_text(path, PIPELINE_MAX, "pipeline")
        except BadText as exc:
            raise PipelineError(f"{rel}: {exc}") from None
        except OSError as exc:
            raise PipelineError(f"cannot read {rel}: {exc.strerror or exc}") from None
        doc = repo.parse_remembered(rel, text, lambda t, rel=rel: load_document(t, rel))
        stages += parse_file(text, rel, doc, params_reader)
        locks[rel] = read_lock(
            repo.root, rel, lambda lock_rel, t: repo.parse_remembered(lock_rel, t)
        )
    tracked = [
        repo.rel(p.with_name(p.name.removesuffix(".artver"))) for p in repo.iter_pointer_files()
    ]
    return Loaded(_pipeline(repo, stages, tracked), locks)


def _pipeline(repo: Repo, stages: list[Stage], tracked: list[str]) -> Any:
    """The DAG, derived with networkx only when the stages' shape changed since last time."""
    from artver.cache.hashing import hash_bytes
    from artver.stages.graph import Pipeline

    shape = [(s.name, s.file, s.deps, [o.path for o in s.outs]) for s in stages]
    key = hash_bytes(repr((shape, sorted(tracked))).encode())
    cached = repo.state.get_value("dag")
    if cached and cached.get("key") == key:
        by_name = {s.name: s for s in stages}
        return Pipeline(by_name, [tuple(e) for e in cached["edges"]], cached["order"])
    pipeline = Pipeline.build(stages, tracked)
    repo.state.set_value("dag", {"key": key, "edges": pipeline.edges, "order": pipeline.full_order})
    return pipeline


def select(loaded: Loaded, names: list[str]) -> list[str]:
    """Stage names for the user's targets (a name, or `name@*` for every foreach item)."""
    stages = loaded.pipeline.stages
    chosen: list[str] = []
    for name in names:
        if name in stages:
            chosen.append(name)
            continue
        group = [s for s in stages if s.startswith(name + "@")]
        if not group:
            raise ArtverError(
                f"no stage named {name!r}",
                hint="`artver stage list` shows the stages.",
            )
        chosen += group
    return chosen


def relative_to_file(stage: Stage, path: str) -> str:
    base = posixpath.dirname(stage.file)
    return posixpath.relpath(path, base) if base else path


class Observer:
    """Hashes of stage deps/outs, params values and env records, each computed once."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._outputs: dict[str, Output | None] = {}
        self._params: dict[str, dict[str, Any]] = {}
        self._python: dict[Any, dict[str, Any]] = {}  # (invocation, wdir) -> probe
        self._pins: dict[str, dict[str, str] | None] = {}

    def output(self, path: str, expect: str | None = None) -> Output | None:
        """What is at repo-relative `path` now (oid, size, nfiles), or None if nothing."""
        if path not in self._outputs:
            abspath = self.repo.root / path
            snap = take(self.repo, abspath, path, expect=expect)
            if snap.kind == "missing":
                self._outputs[path] = None
            elif snap.kind == "file":
                self._outputs[path] = Output(abspath.name, snap.oid or "", snap.files[0].size)
            else:
                nfiles, size = snap.totals
                self._outputs[path] = Output(abspath.name, snap.oid or "", size, nfiles)
        return self._outputs[path]

    def forget(self, path: str) -> None:
        self._outputs.pop(path, None)

    def oid(self, path: str, expect: str | None = None) -> str | None:
        found = self.output(path, expect)
        return found.oid if found else None

    def params(self, stage: Stage) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {}
        for ref in stage.params:
            if ref.file not in self._params:
                self._params[ref.file] = load_params_file(
                    self.repo.root, ref.file, remember=self.repo.parse_remembered
                )
            data = self._params[ref.file]
            shown = relative_to_file(stage, ref.file)
            if ref.key is None:
                values.setdefault(shown, {}).update(data)
                continue
            value = lookup(data, ref.key)
            if value is MISSING:
                raise ParamsError(
                    f"stage {stage.name} needs param {ref.key}, which {ref.file} does not have"
                )
            values.setdefault(shown, {})[ref.key] = value
        return values

    def python_info(self, stage: Stage) -> dict[str, Any]:
        """The interpreter `stage`'s command starts (stages/interpreter.py), probed once per
        command for each interpreter word and directory."""
        import os

        from artver.stages import interpreter

        found = interpreter.invocation(stage.cmd, os.environ)
        wdir = str(self.repo.root / stage.wdir)
        if (found, wdir) not in self._python:
            state = self.repo.state
            self._python[(found, wdir)] = interpreter.python_info(
                found, os.environ, wdir, state.get_value, state.set_value, stage.name
            )
        return self._python[(found, wdir)]

    def lock_pins(self, path: str, oid: str) -> dict[str, str] | None:
        """The pins of env lock file `path` (repo-relative) with content `oid`, parsed once
        per content (remembered in the state DB)."""
        key = f"pins:1:{path.rsplit('/', 1)[-1]}:{oid}"  # the name picks the format
        if key in self._pins:  # 200 stages sharing one requirements.txt: one look-up
            return self._pins[key]
        cached = self.repo.state.get_value(key)
        if isinstance(cached, dict):
            self._pins[key] = cached.get("pins")
            return self._pins[key]
        from artver.stages.envlocks import PINS_MAX, parse_pins

        try:
            with open(self.repo.root / path, "rb") as f:
                data = f.read(PINS_MAX + 1)
        except OSError:
            return None
        from artver.cache.hashing import hash_bytes

        pins = parse_pins(path, data)
        if hash_bytes(data) == oid:  # not rewritten since it was hashed
            self.repo.state.set_value(key, {"pins": pins})
            self._pins[key] = pins
        return pins

    def env(self, stage: Stage) -> dict[str, Any]:
        return env_record(stage.env, self.oid, lambda: self.python_info(stage), self.lock_pins)

    def observe(self, stage: Stage, entry: LockEntry | None) -> Observed:
        recorded: dict[str, str | None] = {}
        if entry is not None:
            base = posixpath.dirname(stage.file)
            for item in [*entry.deps, *entry.outs]:
                recorded[posixpath.join(base, item.path) if base else item.path] = item.oid
        return Observed(
            deps={d: self.oid(d, recorded.get(d)) for d in stage.deps},
            outs={o.path: self.oid(o.path, recorded.get(o.path)) for o in stage.outs},
            params=self.params(stage),
            env=self.env(stage),
        )

    def recorded(self, stage: Stage, path: str, cache: bool = True) -> Recorded:
        found = self.output(path)
        rel = relative_to_file(stage, path)
        if found is None:
            return Recorded(rel, None, 0, None, cache)
        return Recorded(rel, found.oid, found.size, found.nfiles, cache)


def run_key(stage: Stage, observed: Observed) -> str:
    """What makes two runs of a stage the same run: cmd, dep contents, params, env."""
    from artver.cache.hashing import hash_bytes

    doc = {
        "cmd": list(stage.cmd),
        "deps": {relative_to_file(stage, p): oid for p, oid in sorted(observed.deps.items())},
        "params": observed.params,
        "env": observed.env.get("fingerprint"),
        "outs": sorted(relative_to_file(stage, o.path) for o in stage.outs),
        "seed": stage.seed,
    }
    return hash_bytes(json.dumps(doc, sort_keys=True, default=str).encode())
