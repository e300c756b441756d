"""`artver.yaml` -> Stage values. Validation with file, line and column; foreach/matrix;
`vars` and `${...}` (the substitution itself is stages/templating.py).

Parsing uses the C-accelerated safe loader; only when something is wrong is the text parsed
again in round-trip mode to find the line and column of the offending key.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from artver.errors import ArtverError
from artver.stages import templating
from artver.stages.templating import Context, ParamUse, Source, TemplateError

STAGE_KEYS = {
    "cmd",
    "deps",
    "params",
    "outs",
    "metrics",
    "plots",
    "wdir",
    "frozen",
    "always_changed",
    "env",
    "resources",
    "seed",
    "desc",
}
OUT_OPTIONS = {"cache", "persist", "desc"}
# What a stage's `plots:` out may say besides OUT_OPTIONS, as in a dvc.yaml (artver.plots reads
# them; `header` is accepted and ignored: CSV/TSV files are read with their header row).
PLOT_OPTIONS = {"x", "y", "template", "title", "x_label", "y_label", "header"}
ENV_KEYS = {"lock", "python", "vars", "image"}
IMAGE = r"[^\s@]+@sha256:[0-9a-f]{64}"  # env.image: NAME@sha256:DIGEST
RESOURCE_KEYS = {"cpus", "memory", "gpus"}
DEFAULT_PARAMS = "params.yaml"
# Top-level sections of a dvc.yaml that artver reads (with their `${...}` resolved) and keeps on
# the parsed file (`plots` is read by artver.plots; the others are not used yet): section -> the
# type its value must have.
SECTIONS: dict[str, type] = {
    "plots": list,
    "metrics": list,
    "params": list,
    "artifacts": dict,
    "datasets": list,
}
TOP_LEVEL_KEYS = {"stages", "vars", *SECTIONS}
# The names a foreach or matrix stage sets for its template.
ITEM_NAMES = ("item", "key")
# Patterns are compiled on first use (re keeps them): a no-op command rarely needs them.
SIZE = r"(?i)^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$"


class PipelineError(ArtverError):
    """A mistake in artver.yaml, named with file, line and column."""


class Out(NamedTuple):
    path: str  # repo-relative, posix
    cache: bool = True
    persist: bool = False
    metric: bool = False
    plot: bool = False  # declared under a stage's `plots:` (kept out of the cache by default)
    # The plot options the out gives (`x`, `y`, `template`, ...), as sorted (key, value) pairs
    # whose lists are tuples: an Out stays hashable.
    plot_props: tuple[tuple[str, Any], ...] = ()


class ParamRef(NamedTuple):
    file: str  # repo-relative params file
    key: str | None  # dotted key; None = the whole file


class EnvSpec(NamedTuple):
    lock: tuple[str, ...] = ()  # repo-relative files pinning the environment
    python: bool = False
    vars: tuple[str, ...] = ()
    image: str | None = None  # NAME@sha256:DIGEST of the container the stage runs in

    @property
    def empty(self) -> bool:
        return not (self.lock or self.python or self.vars or self.image)


class Resources(NamedTuple):
    cpus: float = 0  # 0 = not declared: only -j limits the stage
    memory: int = 0  # bytes
    gpus: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (("cpus", self.cpus), ("memory", self.memory), ("gpus", self.gpus))
            if v
        }


class Stage(NamedTuple):
    name: str
    cmd: tuple[str, ...]
    wdir: str  # repo-relative ("" = repo root)
    file: str  # repo-relative artver.yaml defining it
    deps: tuple[str, ...] = ()
    params: tuple[ParamRef, ...] = ()
    outs: tuple[Out, ...] = ()
    env: EnvSpec = EnvSpec()
    resources: Resources = Resources()
    seed: int | None = None
    frozen: bool = False
    always_changed: bool = False
    desc: str | None = None

    @property
    def cached_outs(self) -> tuple[Out, ...]:
        return tuple(o for o in self.outs if o.cache)


# A params file's mapping by its repo-relative path; None when no such file exists. ParamsError
# (an ArtverError) when it exists but cannot be read as a mapping.
ParamsReader = Callable[[str], "dict[str, Any] | None"]


class PipelineFile(NamedTuple):
    """One parsed artver.yaml: its stages, and its top-level dvc.yaml sections (`plots`,
    `metrics`, `params`, `artifacts`, `datasets`, with `${...}` resolved), which artver
    accepts and keeps: `plots show/diff` read `plots` (artver.plots.definitions); the others
    are kept for later use."""

    file: str
    stages: tuple[Stage, ...]
    sections: dict[str, Any]


class _Where:
    """Builds error messages that point into one artver.yaml."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text

    def error(self, keys: list[str | int], message: str) -> PipelineError:
        from artver.yamlio import position

        pos = position(self.text, keys)
        where = f"{self.file}, line {pos[0]}, column {pos[1]}" if pos else self.file
        return PipelineError(f"{where}: {message}")


def parse_file(
    text: str, file: str, doc: Any = None, read_params: ParamsReader | None = None
) -> list[Stage]:
    """Stages defined by the artver.yaml at repo-relative `file` with content `text`
    (`doc`: its already parsed content, when the caller has it). `read_params` reads the
    params files that `vars` and `${...}` use (default: from the work tree of the repository
    around the current directory; see `workspace_params_reader`)."""
    return list(parse_pipeline(text, file, doc, read_params).stages)


def parse_pipeline(
    text: str, file: str, doc: Any = None, read_params: ParamsReader | None = None
) -> PipelineFile:
    """The whole artver.yaml: stages, and the top-level sections kept for later use."""
    if doc is None:
        doc = load_document(text, file)
    where = _Where(file, text)
    if doc is None:
        return PipelineFile(file, (), {})
    if not isinstance(doc, dict):
        raise where.error([], "expected a mapping with a 'stages' section")
    unknown = set(doc) - TOP_LEVEL_KEYS
    if unknown:
        key = sorted(unknown, key=str)[0]
        raise where.error(
            [key],
            f"unknown top-level key {key!r} (expected 'stages', 'vars', "
            + ", ".join(f"'{k}'" for k in SECTIONS)
            + ")",
        )
    stages_doc = doc.get("stages") or {}
    if not isinstance(stages_doc, dict):
        raise where.error(["stages"], "'stages' must be a mapping of stage names to stages")
    base = posixpath.dirname(file)
    # Substitution is skipped, and no params file read, for a file with neither `${` nor `vars`:
    # every command parses every artver.yaml.
    values = None
    if "${" in text or "vars" in doc or any(_has_vars(b) for b in stages_doc.values()):
        values = _Values(where, base, read_params)
        values.load_top_level(doc.get("vars"))
    stages: list[Stage] = []
    for name, body in stages_doc.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][\w.-]*", name):
            raise where.error(["stages", name], f"invalid stage name {name!r}")
        if isinstance(body, dict) and ("foreach" in body or "matrix" in body):
            for item_name, item_body, names, keys in _expand(where, name, body, values):
                stages.append(_stage_from(where, values, item_name, item_body, base, keys, names))
        else:
            stages.append(_stage_from(where, values, name, body, base, ["stages", name], {}))
    return PipelineFile(file, tuple(stages), _sections(where, doc, values))


def _has_vars(body: Any) -> bool:
    return isinstance(body, dict) and (
        "vars" in body or (isinstance(body.get("do"), dict) and "vars" in body["do"])
    )


def _sections(where: _Where, doc: dict, values: _Values | None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, kind in SECTIONS.items():
        if key not in doc or doc[key] is None:
            continue
        value = doc[key]
        if not isinstance(value, kind):
            what = "a list" if kind is list else "a mapping"
            raise where.error([key], f"top-level '{key}' must be {what}")
        if values is not None:
            value = values.resolve(value, values.context, templating.DATA, [key], f"'{key}'")
        found[key] = value
    return found


def workspace_params_reader(
    root: Any, remember: Callable[[str, str, Callable[[str], Any]], Any] | None = None
) -> ParamsReader:
    """A `ParamsReader` over the files under `root` (a Path); `remember` as in
    `params.load_params_file` (the repository's parse cache)."""
    from artver.stages.params import load_params_file

    def read(rel: str) -> dict[str, Any] | None:
        if not os.path.lexists(root / rel if rel else root):
            return None
        return load_params_file(root, rel, remember=remember)

    return read


def bytes_params_reader(read: Callable[[str], bytes | None], label: str) -> ParamsReader:
    """A `ParamsReader` over files read as bytes (`read(rel)`, None when there is none): a
    Git revision's tree, as replay, lineage and `metrics diff` read one. `label` names that
    revision in messages (`params.yaml (v1)`)."""
    from artver.safetext import PARAMS_MAX, BadText, decode
    from artver.stages.params import parse_params_text

    def reader(rel: str) -> dict[str, Any] | None:
        data = read(rel)
        if data is None:
            return None
        try:
            text = decode(data, PARAMS_MAX, "params")
        except BadText as exc:
            raise PipelineError(f"{rel} ({label}): {exc}") from None
        return parse_params_text(text, rel, where=f"{rel} ({label})")

    return reader


def _default_reader() -> ParamsReader:
    """Params files of the work tree around the current directory: the repository root (the
    nearest directory above with `.artver`, as `Repo.find` looks), else the directory itself,
    which is where the command-line commands read the pipeline from."""
    from pathlib import Path

    try:
        start = Path.cwd().resolve()
    except OSError:  # the current directory was removed
        raise PipelineError("cannot read params files: the current directory is gone") from None
    root = next((d for d in (start, *start.parents) if (d / ".artver").is_dir()), start)
    return workspace_params_reader(root)


def load_document(text: str, file: str) -> Any:
    from artver.safetext import PIPELINE_MAX, BadText, check_text
    from artver.yamlio import YAMLParseError, load_yaml

    try:
        return load_yaml(check_text(text, PIPELINE_MAX, "pipeline"))
    except YAMLParseError as exc:
        raise PipelineError(f"{file}: invalid YAML at {exc}") from None
    except BadText as exc:
        raise PipelineError(f"{file}: {exc}") from None


# -- foreach / matrix ------------------------------------------------------------------------
# A foreach or matrix stage makes one stage per item: one that would make more than
# MAX_GENERATED (a matrix of 5 names with 20 values each makes 3.2 million), or whose copies of
# its template would hold more than MAX_EXPANDED_NODES values in all, is refused before any is
# made. A few lines of YAML must not cost minutes and gigabytes.
MAX_GENERATED = 10_000
MAX_EXPANDED_NODES = 1_000_000


def _nodes(value: Any, cap: int) -> int:
    """Values in `value` (lists and mappings walked), counted no further than `cap`."""
    count, stack = 0, [value]
    while stack and count <= cap:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def _check_size(where: _Where, keys: list, name: str, count: int, template: Any) -> None:
    if count > MAX_GENERATED:
        raise where.error(
            keys, f"{name} would make more than {MAX_GENERATED:,} stages (the most allowed)"
        )
    if count and _nodes(template, MAX_EXPANDED_NODES // count) > MAX_EXPANDED_NODES // count:
        raise where.error(
            keys,
            f"{name}'s {count:,} copies of its stage would hold more than"
            f" {MAX_EXPANDED_NODES:,} values",
        )


def _expand(
    where: _Where, name: str, body: dict, values: _Values | None
) -> list[tuple[str, dict, dict[str, Any], list]]:
    """(stage name, template, the names it sets, where the template is) per item. As DVC
    names them: `NAME@VALUE` for a list of plain values, `NAME@INDEX` for a list holding a
    mapping or list, `NAME@KEY` for a mapping; a matrix joins one part per name with `-`
    (`NAMEINDEX` for a value that is a mapping or list)."""
    keys: list[str | int] = ["stages", name]
    if "foreach" in body:
        template = body.get("do")
        extra = set(body) - {"foreach", "do"}
        if extra:
            raise where.error(
                [*keys, sorted(extra, key=str)[0]], "a foreach stage has only 'foreach' and 'do'"
            )
        if not isinstance(template, dict):
            raise where.error([*keys, "foreach"], "foreach needs a 'do' mapping with the stage")
        items = body["foreach"]
        if values is not None:
            items = values.resolve(
                items, values.context, templating.DATA, [*keys, "foreach"], f"stage {name}"
            )
        if not isinstance(items, list | dict):
            raise where.error(
                [*keys, "foreach"],
                f"foreach must be a list or a mapping; got {type(items).__name__}",
            )
        _check_size(where, [*keys, "foreach"], name, len(items), template)
        if isinstance(items, dict):
            labels = [templating.to_text(k) for k in items]
            pairs = [
                (lb, {"item": v, "key": lb}) for lb, v in zip(labels, items.values(), strict=True)
            ]
        elif any(isinstance(item, dict | list) for item in items):
            pairs = [(str(i), {"item": item}) for i, item in enumerate(items)]
        else:
            pairs = [(templating.to_text(item), {"item": item}) for item in items]
        template_keys = [*keys, "do"]
    else:
        matrix = body["matrix"]
        if isinstance(matrix, dict) and values is not None:
            matrix = values.resolve(
                matrix, values.context, templating.DATA, [*keys, "matrix"], f"stage {name}"
            )
        if not isinstance(matrix, dict) or not all(isinstance(v, list) for v in matrix.values()):
            raise where.error([*keys, "matrix"], "matrix must map names to lists of values")
        template = {k: v for k, v in body.items() if k != "matrix"}
        names = list(matrix)
        count = 1
        for choices in matrix.values():
            count = min(count * len(choices), MAX_GENERATED + 1)  # never a huge product
        _check_size(where, [*keys, "matrix"], name, count, template)
        pairs = []
        for combo in itertools.product(*(list(enumerate(matrix[n])) for n in names)):
            item = {str(n): v for n, (_, v) in zip(names, combo, strict=True)}
            label = "-".join(
                f"{n}{i}" if isinstance(v, dict | list) else templating.to_text(v)
                for n, (i, v) in zip(names, combo, strict=True)
            )
            pairs.append((label, {"item": item, "key": label}))
        template_keys = keys
    seen: set[str] = set()
    out = []
    for label, names_set in pairs:
        if label in seen:
            raise where.error(keys, f"two items of {name} would both be named {name}@{label}")
        seen.add(label)
        out.append((f"{name}@{label}", template, names_set, template_keys))
    return out


# -- vars and ${...} -------------------------------------------------------------------------
class _Values:
    """The values one artver.yaml's `${...}` can use: `params.yaml` next to it (when it
    exists) and the top-level `vars`, then per stage its own `vars`; each params file is
    read once however many stages name it."""

    def __init__(self, where: _Where, base: str, read_params: ParamsReader | None) -> None:
        self.where = where
        self.base = base
        self.read = read_params or _default_reader()
        self.context = Context()
        self.budget = templating.Budget()
        self._files: dict[str, dict[str, Any] | None] = {}

    def load_top_level(self, spec: Any) -> None:
        default = _join(self.where, [], self.base, DEFAULT_PARAMS)
        data = self._read(default, [])  # an error in it is not at a line of this file
        if data is not None:
            self.context.merge(data, Source(default, default))
        self.context = self._with_vars(self.context, spec, self.base, ["vars"], "")

    def stage_context(
        self, context: Context, spec: Any, wdir: str, keys: list, stage: str
    ) -> Context:
        """`context` with a stage's own `vars` added (files relative to the stage's wdir)."""
        if spec is None:
            return context
        return self._with_vars(context.copy(), spec, wdir, keys, f" of stage {stage}")

    def _with_vars(self, context: Context, spec: Any, base: str, keys: list, owner: str):
        if spec is None:
            return context
        if isinstance(spec, dict):  # artver's shorthand for a list of one mapping
            spec = [spec]
        if not isinstance(spec, list):
            raise self.where.error(
                keys,
                "'vars' must be a list of params files (file.yaml, file.yaml:key) and mappings",
            )
        for i, entry in enumerate(spec):
            at = [*keys, i]
            if templating.has_reference(entry):
                raise self.where.error(at, "vars cannot use ${...}: their values are given as is")
            if isinstance(entry, dict):
                source = Source(f"vars[{i}]{owner}")
                values = templating.text_keys(entry)
            elif isinstance(entry, str) and entry.strip():
                file, selected = templating.parse_vars_entry(entry)
                path = _join(self.where, at, base, file.strip())
                data = self._read(path, at)
                if data is None:
                    raise self.where.error(at, f"vars: params file {path} does not exist")
                shown = path if selected is None else f"{path}:{','.join(selected)}"
                source = Source(shown, path)
                try:
                    values = templating.select_keys(data, selected, path)
                except TemplateError as exc:
                    raise self.where.error(at, f"vars: {exc.message}") from None
            else:
                raise self.where.error(
                    at,
                    "each vars entry is a params file name (file.yaml, file.yaml:key) or a mapping",
                )
            reserved = [n for n in ITEM_NAMES if n in values and n in context.locals]
            if reserved:
                raise self.where.error(
                    at, f"vars cannot define {reserved[0]!r}: foreach and matrix set it"
                )
            try:
                context.merge(values, source)
            except TemplateError as exc:
                raise self.where.error(at, exc.message) from None
        return context

    def _read(self, path: str, keys: list) -> dict[str, Any] | None:
        if path not in self._files:
            try:
                self._files[path] = self.read(path)
            except ArtverError as exc:
                raise self.where.error(keys, exc.message) from None
        return self._files[path]

    def resolve(
        self,
        value: Any,
        context: Context,
        mode: str,
        keys: list,
        what: str,
        uses: list[ParamUse] | None = None,
    ) -> Any:
        try:
            return templating.resolve(value, context, mode, self.budget, uses)
        except TemplateError as exc:
            raise self.where.error([*keys, *exc.path], f"{what}: {exc.message}") from None


def _stage_from(
    where: _Where,
    values: _Values | None,
    name: str,
    body: Any,
    base: str,
    keys: list,
    item_names: dict[str, Any],
) -> Stage:
    """The stage `body` defines, its `${...}` resolved (the names of a foreach or matrix
    item in `item_names`); keys of params files it reads become params of the stage."""
    if not isinstance(body, dict):
        raise where.error(keys, f"stage {name} must be a mapping with at least 'cmd'")
    unknown = set(body) - STAGE_KEYS - {"vars"}
    if unknown:
        key = sorted(unknown, key=str)[0]
        raise where.error([*keys, key], f"unknown key {key!r} in stage {name}")
    if values is None:
        return _stage(where, name, body, base, keys)
    context = values.context.with_locals(item_names) if item_names else values.context
    what = f"stage {name}"
    uses: list[ParamUse] = []
    if "vars" in body:
        # As in DVC, wdir is resolved first, without the stage's vars: their files are
        # relative to it.
        wdir = values.resolve(
            body.get("wdir", "."), context, templating.VALUE, [*keys, "wdir"], what
        )
        if not isinstance(wdir, str):
            raise where.error([*keys, "wdir"], "'wdir' must be a path")
        wdir_path = _join(where, [*keys, "wdir"], base, wdir)
        context = values.stage_context(context, body["vars"], wdir_path, [*keys, "vars"], name)
    resolved = {}
    for field, value in body.items():
        if field != "vars":
            mode = templating.CMD if field == "cmd" else templating.VALUE
            resolved[field] = values.resolve(value, context, mode, [*keys, field], what, uses)
    stage = _stage(where, name, resolved, base, keys)
    return _with_params_used(stage, uses)


def _with_params_used(stage: Stage, uses: list[ParamUse]) -> Stage:
    """`stage` depending also on the params-file keys its `${...}` read (as `params: [...]`
    would say), so that `params diff` and `status` name them. A key within another one read
    (`train.lr` beside `train`), or within what `params` already lists, is not added."""

    def within(key: str, outer: str | None) -> bool:
        return outer is None or key == outer or key.startswith(outer + ".")

    wanted: dict[tuple[str, str], None] = {}  # ordered: the first use first
    for use in uses:
        wanted.setdefault((use.file, use.key), None)
    refs = list(stage.params)
    for file, key in wanted:
        if any(f == file and k != key and within(key, k) for f, k in wanted):
            continue
        if not any(r.file == file and within(key, r.key) for r in refs):
            refs.append(ParamRef(file, key))
    return stage if len(refs) == len(stage.params) else stage._replace(params=tuple(refs))


# -- one stage --------------------------------------------------------------------------------
def _stage(where: _Where, name: str, body: dict, base: str, keys: list) -> Stage:
    """The stage of a mapping whose keys `_stage_from` checked and whose `${...}` it
    resolved."""
    if "cmd" not in body:
        raise where.error(keys, f"stage {name} has no 'cmd'")
    cmd = body["cmd"]
    cmds = tuple(cmd) if isinstance(cmd, list) else (cmd,)
    if not cmds or not all(isinstance(c, str) and c.strip() for c in cmds):
        raise where.error([*keys, "cmd"], "'cmd' must be a command or a list of commands")
    wdir_rel = body.get("wdir", ".")
    if not isinstance(wdir_rel, str):
        raise where.error([*keys, "wdir"], "'wdir' must be a path")
    wdir = _join(where, [*keys, "wdir"], base, wdir_rel)

    def paths(key: str) -> list[Any]:
        value = body.get(key) or []
        if not isinstance(value, list):
            raise where.error([*keys, key], f"'{key}' must be a list")
        return value

    deps = []
    for i, dep in enumerate(paths("deps")):
        if not isinstance(dep, str):
            raise where.error([*keys, "deps", i], "each dep must be a path")
        deps.append(_join(where, [*keys, "deps", i], wdir, dep))
    outs = [_out(where, [*keys, "outs", i], wdir, o, False) for i, o in enumerate(paths("outs"))]
    outs += [
        _out(where, [*keys, "metrics", i], wdir, o, True) for i, o in enumerate(paths("metrics"))
    ]
    outs += [
        _out(where, [*keys, "plots", i], wdir, o, False, plot=True)
        for i, o in enumerate(paths("plots"))
    ]
    return Stage(
        name=name,
        cmd=cmds,
        wdir=wdir,
        file=where.file,
        deps=tuple(deps),
        params=tuple(_params(where, [*keys, "params"], wdir, body.get("params"))),
        outs=tuple(outs),
        env=_env(where, [*keys, "env"], wdir, body.get("env")),
        resources=_resources(where, [*keys, "resources"], body.get("resources")),
        seed=_int_or_none(where, [*keys, "seed"], body.get("seed")),
        frozen=_bool(where, [*keys, "frozen"], body.get("frozen", False)),
        always_changed=_bool(where, [*keys, "always_changed"], body.get("always_changed", False)),
        desc=body.get("desc"),
    )


def _join(where: _Where, keys: list, base: str, path: str) -> str:
    if "\0" in path:  # no file has such a name; the OS would refuse it with a ValueError
        raise where.error(keys, f"{path!r}: a path cannot hold a NUL character")
    if os.path.isabs(path):
        raise where.error(keys, f"{path}: paths must be relative to the stage's wdir")
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined == ".":
        return ""
    if joined.startswith("../") or joined == "..":
        raise where.error(keys, f"{path}: outside the repository")
    if joined.split("/")[0] in (".git", ".artver"):
        raise where.error(keys, f"{path}: inside {joined.split('/')[0]}")
    return joined


def _out(where: _Where, keys: list, wdir: str, spec: Any, metric: bool, plot: bool = False) -> Out:
    options: dict[str, Any] = {}
    if isinstance(spec, str):
        path = spec
    elif isinstance(spec, dict) and "path" in spec:
        path, options = spec["path"], {k: v for k, v in spec.items() if k != "path"}
    elif isinstance(spec, dict) and len(spec) == 1:  # DVC style: `- logs/: {cache: false}`
        path, options = next(iter(spec.items()))
        options = options or {}
    else:
        raise where.error(keys, "an out is a path or a mapping with 'path' and options")
    if not isinstance(path, str) or not isinstance(options, dict):
        raise where.error(keys, "an out is a path or a mapping with 'path' and options")
    unknown = set(options) - OUT_OPTIONS - (PLOT_OPTIONS if plot else set())
    if unknown:
        key = sorted(unknown, key=str)[0]
        at = [*keys, key] if isinstance(spec, dict) and "path" in spec else [*keys, path, key]
        raise where.error(at, f"unknown out option {key!r} for {path}")
    # Metrics and plots are small files kept in Git: hashed, not cached, unless `cache: true`.
    cache = _bool(where, keys, options.get("cache", not (metric or plot)))
    persist = _bool(where, keys, options.get("persist", False))
    joined = _join(where, keys, wdir, path.rstrip("/"))
    if not plot:
        return Out(joined, cache, persist, metric)
    props = tuple(
        (k, _frozen(v)) for k, v in sorted(options.items()) if k in PLOT_OPTIONS and v is not None
    )
    return Out(joined, cache, persist, metric, True, props)


def _frozen(value: Any) -> Any:
    """`value` with its lists made tuples and its mappings sorted pairs (hashable)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple((str(k), _frozen(v)) for k, v in value.items())
    return value


def _params(where: _Where, keys: list, wdir: str, spec: Any) -> list[ParamRef]:
    if spec is None:
        return []
    if not isinstance(spec, list):
        raise where.error(keys, "'params' must be a list of keys or {file: [keys]}")
    default = _join(where, keys, wdir, DEFAULT_PARAMS)
    refs: list[ParamRef] = []
    for i, item in enumerate(spec):
        if isinstance(item, str):
            refs.append(ParamRef(default, item))
        elif isinstance(item, dict):
            for file, names in item.items():
                path = _join(where, [*keys, i], wdir, str(file))
                if names is None or names == []:
                    refs.append(ParamRef(path, None))
                elif isinstance(names, list) and all(isinstance(n, str) for n in names):
                    refs.extend(ParamRef(path, n) for n in names)
                else:
                    raise where.error([*keys, i], f"params of {file} must be a list of keys")
        else:
            raise where.error([*keys, i], "each params entry is a key or {file: [keys]}")
    return refs


def _env(where: _Where, keys: list, wdir: str, spec: Any) -> EnvSpec:
    if spec is None:
        return EnvSpec()
    if not isinstance(spec, dict):
        raise where.error(keys, "'env' must be a mapping with lock, python, vars and image")
    unknown = set(spec) - ENV_KEYS
    if unknown:
        raise where.error(
            [*keys, sorted(unknown, key=str)[0]], f"unknown env key {sorted(unknown, key=str)[0]!r}"
        )
    locks = spec.get("lock") or []
    env_vars = spec.get("vars") or []
    if not isinstance(locks, list) or not isinstance(env_vars, list):
        raise where.error(keys, "env lock and vars must be lists")
    image = spec.get("image")
    if image is not None and not (isinstance(image, str) and re.fullmatch(IMAGE, image)):
        raise where.error(
            [*keys, "image"],
            f"env image must be NAME@sha256:DIGEST (a 64-hex sha256 digest), not {image!r}",
        )
    return EnvSpec(
        lock=tuple(_join(where, [*keys, "lock"], wdir, str(p)) for p in locks),
        python=_bool(where, [*keys, "python"], spec.get("python", False)),
        vars=tuple(str(v) for v in env_vars),
        image=image,
    )


def parse_size(value: Any) -> int:
    """`4GiB`, `512MB`, `1024` (bytes) -> bytes; ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.match(SIZE, str(value))
    if not match:
        raise ValueError(value)
    number, unit = float(match.group(1)), (match.group(2) or "B").upper()
    scale = {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}[unit[0]]
    if "I" not in unit and unit != "B":
        scale = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}[unit[0]]
    return int(number * scale)


def _resources(where: _Where, keys: list, spec: Any) -> Resources:
    if spec is None:
        return Resources()
    if not isinstance(spec, dict):
        raise where.error(keys, "'resources' must be a mapping with cpus, memory and gpus")
    unknown = set(spec) - RESOURCE_KEYS
    if unknown:
        key = sorted(unknown, key=str)[0]
        raise where.error([*keys, key], f"unknown resource {key!r} (cpus, memory, gpus)")
    try:
        cpus = float(spec.get("cpus", 0))
        gpus = int(spec.get("gpus", 0))
        memory = parse_size(spec.get("memory", 0))
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(.inf)
        raise where.error(keys, "resources: cpus and gpus are numbers, memory like 4GiB") from None
    if cpus < 0 or gpus < 0 or memory < 0:
        raise where.error(keys, "resources cannot be negative")
    return Resources(cpus, memory, gpus)


def _bool(where: _Where, keys: list, value: Any) -> bool:
    if not isinstance(value, bool):
        raise where.error(keys, f"expected true or false; got {value!r}")
    return value


def _int_or_none(where: _Where, keys: list, value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise where.error(keys, f"seed must be a whole number; got {value!r}")
    return value
