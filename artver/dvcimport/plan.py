"""Find a DVC project's files and decide what converting it does. Reads only: a dry run is
this plan, printed; `apply` carries it out.

Everything is decided with DVC's own md5s: an output is taken from the workspace when the
workspace holds what DVC recorded, else from DVC's cache; a stage gets a lock entry when its
cmd, deps and params are what dvc.lock recorded and each of its outs can be taken.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

from artver.dvcimport import mapping
from artver.dvcimport.dvcfiles import DvcFile, DvcFileError, DvcOut, parse_dvc_file
from artver.dvcimport.md5 import DvcCache, md5_path
from artver.errors import ArtverError

DVC_DIR = ".dvc"
SKIP_DIRS = {".git", DVC_DIR, ".artver", "node_modules", "__pycache__"}


class ImportDvcError(ArtverError):
    """A DVC project that cannot be converted as it is; nothing was written."""


# Plain classes with to_dict, as artver's other records.
class DataItem:
    """One output of a `.dvc` file and the pointer it becomes."""

    __slots__ = ("dvc_file", "note", "out", "source", "status")

    def __init__(self, dvc_file: str, out: DvcOut, source: str | None, note: str | None):
        self.dvc_file = dvc_file
        self.out = out
        self.source = source  # mapping.WORKSPACE, mapping.DVC_CACHE, or None: not convertible
        self.note = note  # why not, or what the user should know
        self.status = "convert" if source else "skip"  # then converted / failed / unchanged

    @property
    def path(self) -> str:
        return self.out.path

    @property
    def pointer(self) -> str:
        return self.out.path + ".artver"

    def to_dict(self) -> dict[str, Any]:
        return {
            "dvc_file": self.dvc_file,
            "path": self.path,
            "pointer": self.pointer,
            "source": self.source,
            "status": self.status,
            "note": self.note,
            "dropped_keys": self.out.dropped,
        }


class StageItem:
    __slots__ = ("name", "reasons", "records", "sources", "status")

    def __init__(
        self,
        name: str,
        reasons: list[str],
        sources: dict[str, str],
        records: dict[str, DvcOut] | None = None,
    ) -> None:
        self.name = name
        self.reasons = reasons  # why it gets no lock entry (empty: it gets one)
        self.sources = sources  # out path -> where its bytes are taken from
        self.records = {} if records is None else records  # out path -> its dvc.lock record
        self.status = "no lock" if reasons else "lock"  # then locked / already locked / failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "reasons": self.reasons,
            "sources": self.sources,
        }


class PipelineItem:
    __slots__ = ("artver_yaml", "changes", "dvc_lock", "dvc_yaml", "stages", "text")

    def __init__(self, dvc_yaml: str, text: str, changes: list[str]) -> None:
        self.dvc_yaml = dvc_yaml
        self.artver_yaml = posixpath.join(posixpath.dirname(dvc_yaml), "artver.yaml")
        self.text = text  # the artver.yaml to write
        self.changes = changes  # what differs from dvc.yaml
        self.dvc_lock: str | None = None  # the dvc.lock beside it, if any
        self.stages: list[StageItem] = []

    @property
    def artver_lock(self) -> str:
        return posixpath.join(posixpath.dirname(self.dvc_yaml), "artver.lock")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dvc_yaml": self.dvc_yaml,
            "dvc_lock": self.dvc_lock,
            "artver_yaml": self.artver_yaml,
            "artver_lock": self.artver_lock,
            "changes": self.changes,
            "stages": [s.to_dict() for s in self.stages],
        }


class Plan:
    """What converting the DVC project at `root` does (and, once applied, did)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.init = False  # `artver init` first
        self.no_git = False
        self.data: list[DataItem] = []
        self.pipelines: list[PipelineItem] = []
        self.ignores: list[tuple[str, str, str]] = []  # (.dvcignore, .artverignore, text)
        self.settings: list[mapping.Setting] = []
        self.skipped_config: list[str] = []
        self.dvc_files: list[str] = []  # every DVC file found that is under Git's control
        self.cache: DvcCache | None = None  # DVC's cache, read-only
        self.applied = False
        self.changed: set[str] = set()  # files the conversion wrote (once applied)

    @property
    def complete(self) -> bool:
        """Whether everything DVC tracked was converted (DVC's files are then not needed)."""
        return all(_converts(d) for d in self.data)

    @property
    def failed(self) -> list[str]:
        """What the conversion set out to do and could not (once applied)."""
        found = [f"{d.path}: {d.note}" for d in self.data if d.status == "failed"]
        for p in self.pipelines:
            found += [
                f"stage {s.name}: {'; '.join(s.reasons)}" for s in p.stages if s.status == "failed"
            ]
        return found

    def git_add(self) -> list[str]:
        """What the user commits: every artver file the conversion writes (or would)."""
        found = {d.pointer for d in self.data if _converts(d)}
        for p in self.pipelines:
            found.add(p.artver_yaml)
            if any(s.status in ("lock", "locked", "already locked") for s in p.stages):
                found.add(p.artver_lock)
        found.update(dst for _, dst, _ in self.ignores)
        if self.init:
            found.update({".artver/config.yaml", ".artver/.gitignore"})
        elif any(s.level == "repo" for s in self.settings):
            found.add(".artver/config.yaml")
        return sorted(found | self.changed)

    def git_rm(self) -> list[str]:
        """DVC's files the conversion replaced, for the user to remove from Git (never done
        here); `.dvc/` only once nothing is left that needs DVC."""
        replaced = {d.dvc_file for d in self.data if _converts(d)}
        found = replaced - {d.dvc_file for d in self.data if not _converts(d)}
        for p in self.pipelines:
            found.add(p.dvc_yaml)
            if p.dvc_lock:
                found.add(p.dvc_lock)
        found.update(src for src, _, _ in self.ignores)
        if self.complete and (self.root / DVC_DIR).is_dir():
            found.add(DVC_DIR)
        return sorted(found)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "dry_run": not self.applied,
            "init": self.init,
            "complete": self.complete,
            "failed": self.failed,
            "data": [d.to_dict() for d in self.data],
            "pipelines": [p.to_dict() for p in self.pipelines],
            "ignores": [{"from": s, "to": d} for s, d, _ in self.ignores],
            "config": [s.to_dict() for s in self.settings],
            "config_skipped": self.skipped_config,
            "git_add": self.git_add(),
            "git_rm": self.git_rm(),
        }


def _converts(item: DataItem) -> bool:
    return item.source is not None and item.status != "failed"


# -- finding the project ---------------------------------------------------------------------
def discover(root: Path) -> tuple[list[str], list[str], list[str]]:
    """(`.dvc` files, dvc.yaml files, .dvcignore files), repo-relative and sorted. A directory
    beside its own `.dvc` file is data DVC tracks: not walked."""
    dvc_files, pipelines, ignores = [], [], []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel.replace(os.sep, "/")
        names = set(filenames)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and d + ".dvc" not in names)
        for name in filenames:
            path = f"{rel}/{name}" if rel else name
            if name.endswith(".dvc") and name != ".dvc":
                dvc_files.append(path)
            elif name == "dvc.yaml":
                pipelines.append(path)
            elif name == ".dvcignore":
                ignores.append(path)
    return sorted(dvc_files), sorted(pipelines), sorted(ignores)


def _read(root: Path, rel: str) -> str:
    from artver.safetext import PIPELINE_MAX, BadText, read_text

    try:
        return read_text(root / rel, PIPELINE_MAX, "DVC")
    except BadText as exc:
        raise DvcFileError(rel, str(exc)) from None
    except OSError as exc:
        raise DvcFileError(rel, f"cannot read it: {exc.strerror or exc}") from None


def _check_root(root: Path, plan: Plan) -> None:
    """Where artver's files go: the project's directory must be (or become) the artver root."""
    from artver import scm

    if (root / ".artver").is_dir():
        return
    above = next((d for d in root.parents if (d / ".artver").is_dir()), None)
    git_root = scm.find_git_root(root)
    if above is not None or (git_root is not None and git_root != root):
        outer = above or git_root
        raise ImportDvcError(
            f"{root} is inside {outer}: artver keeps one repository per Git work tree, at its "
            "top, and import-dvc converts a DVC project there",
            hint=f"Run `artver import-dvc --path {outer}` if the DVC project is there too.",
        )
    plan.init = True
    plan.no_git = git_root is None


class _Hasher:
    """DVC md5s of workspace paths, each computed once, a directory's files on all cores; and
    the md5s of outputs the workspace lacks but that are taken from DVC's cache, which a
    downstream stage's dep may then be recorded as."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self._known: dict[tuple[str, bool], Any] = {}
        self.from_cache: dict[str, str] = {}  # repo-relative path -> md5

    def md5(self, rel: str, legacy: bool = False) -> str | None:
        key = (rel, legacy)
        if key not in self._known:
            try:
                found = md5_path(self.root, rel, legacy, _forked)
            except OSError as exc:
                where = exc.filename or rel
                raise ImportDvcError(f"cannot read {where}: {exc.strerror or exc}") from None
            self._known[key] = found[0] if found else None
        return self._known[key]

    def dep_md5(self, rel: str, legacy: bool = False) -> str | None:
        now = self.md5(rel, legacy)
        return self.from_cache.get(rel) if now is None else now

    def taken(self, rel: str, source: str | None, now: str | None, md5: str | None) -> None:
        """Note where an output is taken from: from DVC's cache, for a path the workspace
        lacks, its md5 stands in for the workspace's."""
        if source == mapping.DVC_CACHE and now is None and md5:
            self.from_cache[rel] = md5


def _forked(func, items: list) -> list[tuple]:
    """`[(item, func(item))]`, on one forked process per core when there are many (the
    Python around each small file's md5 holds the GIL: threads would not help)."""
    from artver.config import usable_cores
    from artver.forked_map import share_out

    results: dict = {}
    left = share_out(func, items, usable_cores(), results.__setitem__, lambda: None)
    for item in left:
        results[item] = func(item)
    return [(item, results[item]) for item in items]


# -- the plan ----------------------------------------------------------------------------------
def make_plan(directory: Path) -> Plan:
    root = directory.resolve()
    if not root.is_dir():
        raise ImportDvcError(f"{directory}: no such directory")
    dvc_files, pipelines, ignores = discover(root)
    if not (root / DVC_DIR).is_dir() and not dvc_files and not pipelines:
        raise ImportDvcError(
            f"{directory} is not a DVC project: it has no .dvc directory, dvc.yaml or .dvc files",
            hint="Run `artver import-dvc --path DIR` with the directory that holds .dvc/.",
        )
    plan = Plan(root)
    _check_root(root, plan)
    repo_cfg = _config(root, f"{DVC_DIR}/config")
    local_cfg = _config(root, f"{DVC_DIR}/config.local")
    plan.settings, plan.skipped_config = mapping.map_config(repo_cfg, local_cfg)
    cache = plan.cache = DvcCache(_cache_dir(root, repo_cfg, local_cfg))
    hasher = _Hasher(root)
    for rel in ignores:
        dst = posixpath.join(posixpath.dirname(rel), ".artverignore")
        plan.ignores.append((rel, dst, _read(root, rel)))
    parsed = [parse_dvc_file(_read(root, rel), rel) for rel in dvc_files]  # all, or stop
    for dvc_file in parsed:
        plan.data += _data_items(dvc_file, cache, hasher)
    loaded = [_load_pipeline(root, rel) for rel in pipelines]  # all, or stop
    _check_graph([s for _, stages, _ in loaded for s in stages], [d.path for d in plan.data])
    outs = [
        [_stage_outs(stage, entries.get(stage.name), cache, hasher) for stage in stages]
        for _, stages, entries in loaded
    ]
    params = _Params(root)
    for (item, stages, entries), stage_outs in zip(loaded, outs, strict=True):
        for stage, (sources, records, problems) in zip(stages, stage_outs, strict=True):
            entry = entries.get(stage.name)
            reasons = mapping.lock_reasons(stage, entry, hasher.dep_md5, params.value, problems)
            if reasons:
                item.stages.append(StageItem(stage.name, reasons, {}))
            else:
                item.stages.append(StageItem(stage.name, [], sources, records))
        plan.pipelines.append(item)
    _refuse_conflicts(plan)
    return plan


def _check_graph(stages: list, tracked: list[str]) -> None:
    """Refuse stages artver could not run together (two with one name in different dvc.yaml
    files, two writing one output, a cycle) before anything is written."""
    if not stages:
        return
    from artver.stages.graph import Pipeline

    try:
        Pipeline.build(stages, tracked)
    except ArtverError as exc:
        raise ImportDvcError(f"the pipeline cannot be converted: {exc.message}") from None


def _config(root: Path, rel: str) -> dict[str, dict[str, str]]:
    from artver.dvcimport.dvcfiles import parse_dvc_config

    if not (root / rel).is_file():
        return {}
    return parse_dvc_config(_read(root, rel), rel)


def _cache_dir(root: Path, repo_cfg: dict, local_cfg: dict) -> str:
    configured = (local_cfg.get("cache") or {}).get("dir") or (repo_cfg.get("cache") or {}).get(
        "dir"
    )
    if configured:  # DVC reads it from the directory of its config file
        return os.path.normpath(os.path.join(root, DVC_DIR, os.path.expanduser(configured)))
    return str(root / DVC_DIR / "cache")


def _data_items(dvc_file: DvcFile, cache: DvcCache, hasher: _Hasher) -> list[DataItem]:
    if dvc_file.source is not None:
        note = (
            f"was imported by DVC from {dvc_file.source}: re-create it with `artver import` "
            "or `artver import-url` (the data stays where it is)"
        )
        return [DataItem(dvc_file.file, out, None, note) for out in dvc_file.outs]
    items = []
    for out in dvc_file.outs:
        if out.path in ("", ".git", ".artver") or out.path.startswith((".git/", ".artver/")):
            items.append(DataItem(dvc_file.file, out, None, "is a path artver cannot track"))
            continue
        workspace = hasher.md5(out.path, out.legacy) if out.md5 else None
        missing = None
        if out.md5 and workspace != out.md5:
            missing = cache.missing(out.md5, out.legacy)
        source, note = mapping.out_source(out.md5, workspace, missing, True)
        hasher.taken(out.path, source, workspace, out.md5)
        items.append(DataItem(dvc_file.file, out, source, note))
    return items


def _load_pipeline(root: Path, rel: str) -> tuple[PipelineItem, list, dict]:
    """(the artver.yaml to write, its stages, the dvc.lock entries beside it)."""
    from artver.dvcimport.dvcfiles import parse_dvc_lock
    from artver.stages.schema import PipelineError, parse_pipeline, workspace_params_reader
    from artver.yamlio import YAMLParseError, dump_roundtrip, load_roundtrip

    text = _read(root, rel)
    try:
        doc = load_roundtrip(text)
    except (YAMLParseError, ValueError) as exc:
        raise DvcFileError(rel, f"invalid YAML at {exc}") from None
    changes = mapping.adapt_pipeline(doc)
    new_text = dump_roundtrip(doc, like=text) if changes else text
    item = PipelineItem(rel, new_text, changes)
    try:
        stages = parse_pipeline(new_text, rel, read_params=workspace_params_reader(root)).stages
    except PipelineError as exc:
        raise DvcFileError(rel, f"artver cannot read it: {exc.message}") from None
    lock_rel = posixpath.join(posixpath.dirname(rel), "dvc.lock")
    entries = {}
    if (root / lock_rel).is_file():
        item.dvc_lock = lock_rel
        wdirs = {s.name: s.wdir for s in stages}
        entries = parse_dvc_lock(_read(root, lock_rel), lock_rel, wdirs)
    return item, list(stages), entries


class _Params:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, Any] = {}

    def value(self, file: str, key: str) -> Any:
        from artver.stages.params import MISSING, load_params_file, lookup

        if file not in self._files:
            try:
                self._files[file] = load_params_file(self.root, file)
            except ArtverError:
                self._files[file] = None
        data = self._files[file]
        return MISSING if not isinstance(data, dict) else lookup(data, key)


def _stage_outs(
    stage, entry, cache: DvcCache, hasher: _Hasher
) -> tuple[dict[str, str], dict[str, DvcOut], dict[str, str]]:
    """(where each out is taken from, its dvc.lock record, why an out cannot be taken)."""
    sources: dict[str, str] = {}
    records: dict[str, DvcOut] = {}
    problems: dict[str, str] = {}
    if entry is None:
        return sources, records, problems
    for out in stage.outs:
        recorded = entry.outs.get(out.path)
        if recorded is None:
            continue
        now = hasher.md5(out.path, recorded.legacy) if recorded.md5 else None
        missing = None
        if recorded.md5 and now != recorded.md5 and out.cache:
            missing = cache.missing(recorded.md5, recorded.legacy)
        source, note = mapping.out_source(recorded.md5, now, missing, out.cache)
        if source is None:
            problems[out.path] = note or "cannot be taken"
        else:
            sources[out.path], records[out.path] = source, recorded
            hasher.taken(out.path, source, now, recorded.md5)
    return sources, records, problems


# -- what would be overwritten -----------------------------------------------------------------
def _refuse_conflicts(plan: Plan) -> None:
    """Refuse the whole conversion when it would overwrite an artver file that holds anything
    but what it would write (running it again after a partial conversion is fine)."""
    root = plan.root
    conflicts = []
    for p in plan.pipelines:
        artver_yaml = root / p.artver_yaml
        same = artver_yaml.is_file() and artver_yaml.read_text("utf-8", "replace") == p.text
        if artver_yaml.exists() and not same:
            conflicts.append(f"{p.artver_yaml} (it is not what {p.dvc_yaml} converts to)")
        if (root / p.artver_lock).exists() and not same:
            conflicts.append(p.artver_lock)
    for _, dst, text in plan.ignores:
        path = root / dst
        if path.exists() and not (path.is_file() and path.read_text("utf-8", "replace") == text):
            conflicts.append(dst)
    pointers = [d for d in plan.data if d.source and os.path.lexists(root / d.pointer)]
    if pointers:
        conflicts += _differing_pointers(plan, pointers)
    conflicts += _config_conflicts(plan)
    if conflicts:
        raise ImportDvcError(
            "these artver files exist and converting would overwrite them: "
            + ", ".join(conflicts)
            + "; nothing was written",
            hint="Move them away (or remove them), then run `artver import-dvc` again.",
        )


def _differing_pointers(plan: Plan, items: list[DataItem]) -> list[str]:
    """The existing pointers that record something else than the conversion would."""
    if plan.init:
        return [d.pointer for d in items]
    from artver import pointer as pointers
    from artver.dvcimport.fromcache import output_from_cache
    from artver.ops.snapshot import take
    from artver.repo import Repo

    repo = Repo(plan.root)
    assert plan.cache is not None
    differing = []
    try:
        for item in items:
            try:
                recorded = pointers.load(plan.root / item.pointer).out.oid
            except ArtverError:
                differing.append(item.pointer)
                continue
            if item.source == mapping.WORKSPACE:
                oid = take(repo, plan.root / item.path, item.path).oid
            else:
                oid = output_from_cache(plan.cache, item.out, "").oid
            if oid != recorded:
                differing.append(item.pointer)
            else:
                item.status = "unchanged"
    finally:
        repo.close()
    return differing


def _config_conflicts(plan: Plan) -> list[str]:
    if plan.init:
        return []
    from artver.config import Config

    current = Config.load(plan.root / ".artver")
    found = []
    for setting in plan.settings:
        if setting.key == "core.remote" or setting.key.endswith(".url"):
            now = current.get(setting.key)
            if now is not None and str(now) != setting.value and not setting.secret:
                found.append(
                    f".artver config {setting.key} (it is {now}, DVC says {setting.value})"
                )
    return found
