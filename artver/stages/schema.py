"""`artver.yaml` -> Stage values. Validation with file, line and column; foreach/matrix.

Parsing uses the C-accelerated safe loader; only when something is wrong is the text parsed
again in round-trip mode to find the line and column of the offending key.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import re
from typing import Any, NamedTuple

from artver.errors import ArtverError

STAGE_KEYS = {
    "cmd",
    "deps",
    "params",
    "outs",
    "metrics",
    "wdir",
    "frozen",
    "always_changed",
    "env",
    "resources",
    "seed",
    "desc",
}
OUT_OPTIONS = {"cache", "persist", "desc"}
ENV_KEYS = {"lock", "python", "vars", "image"}
IMAGE = r"[^\s@]+@sha256:[0-9a-f]{64}"  # env.image: NAME@sha256:DIGEST
RESOURCE_KEYS = {"cpus", "memory", "gpus"}
DEFAULT_PARAMS = "params.yaml"
# Patterns are compiled on first use (re keeps them): a no-op command rarely needs them.
INTERPOLATION = r"\$\{\s*([A-Za-z_][\w.-]*)\s*\}"
SIZE = r"(?i)^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$"


class PipelineError(ArtverError):
    """A mistake in artver.yaml, named with file, line and column."""


class Out(NamedTuple):
    path: str  # repo-relative, posix
    cache: bool = True
    persist: bool = False
    metric: bool = False


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


def parse_file(text: str, file: str, doc: Any = None) -> list[Stage]:
    """Stages defined by the artver.yaml at repo-relative `file` with content `text`
    (`doc`: its already parsed content, when the caller has it)."""
    if doc is None:
        doc = load_document(text, file)
    where = _Where(file, text)
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise where.error([], "expected a mapping with a 'stages' section")
    unknown = set(doc) - {"stages", "vars"}
    if unknown:
        key = sorted(unknown, key=str)[0]
        raise where.error([key], f"unknown top-level key {key!r} (expected 'stages')")
    stages_doc = doc.get("stages") or {}
    if not isinstance(stages_doc, dict):
        raise where.error(["stages"], "'stages' must be a mapping of stage names to stages")
    base = posixpath.dirname(file)
    stages: list[Stage] = []
    for name, body in stages_doc.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][\w.-]*", name):
            raise where.error(["stages", name], f"invalid stage name {name!r}")
        if isinstance(body, dict) and ("foreach" in body or "matrix" in body):
            for item_name, item_body in _expand(where, name, body):
                stages.append(_stage(where, item_name, item_body, base, ["stages", name]))
        else:
            stages.append(_stage(where, name, body, base, ["stages", name]))
    return stages


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


def _expand(where: _Where, name: str, body: dict) -> list[tuple[str, dict]]:
    keys: list[str | int] = ["stages", name]
    if "foreach" in body:
        items = body["foreach"]
        template = body.get("do")
        extra = set(body) - {"foreach", "do"}
        if extra:
            raise where.error(
                [*keys, sorted(extra, key=str)[0]], "a foreach stage has only 'foreach' and 'do'"
            )
        if not isinstance(template, dict):
            raise where.error([*keys, "foreach"], "foreach needs a 'do' mapping with the stage")
        if isinstance(items, list | dict):
            _check_size(where, [*keys, "foreach"], name, len(items), template)
        if isinstance(items, list):
            pairs = [(_label(item), {"item": item}) for item in items]
        elif isinstance(items, dict):
            pairs = [(str(k), {"item": v, "key": k}) for k, v in items.items()]
        else:
            raise where.error(
                [*keys, "foreach"],
                f"foreach must be a list or a mapping; got {type(items).__name__}",
            )
    else:
        matrix = body["matrix"]
        if not isinstance(matrix, dict) or not all(isinstance(v, list) for v in matrix.values()):
            raise where.error([*keys, "matrix"], "matrix must map names to lists of values")
        template = {k: v for k, v in body.items() if k != "matrix"}
        names = list(matrix)
        count = 1
        for values in matrix.values():
            count = min(count * len(values), MAX_GENERATED + 1)  # never a huge product
        _check_size(where, [*keys, "matrix"], name, count, template)
        pairs = []
        for combo in itertools.product(*(matrix[n] for n in names)):
            item = dict(zip(names, combo, strict=True))
            pairs.append(("-".join(_label(v) for v in combo), {"item": item}))
    seen: set[str] = set()
    out = []
    for label, context in pairs:
        if label in seen:
            raise where.error(keys, f"two items of {name} would both be named {name}@{label}")
        seen.add(label)
        out.append((f"{name}@{label}", _interpolate(where, keys, template, context)))
    return out


def _label(value: Any) -> str:
    if isinstance(value, dict | list):
        raise PipelineError(
            "foreach over a list of mappings needs a mapping instead (its keys name the stages)"
        )
    return str(value)


def _lookup(context: dict, dotted: str) -> Any:
    node: Any = context
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(dotted)
    return node


def _interpolate(where: _Where, keys: list, value: Any, context: dict) -> Any:
    if isinstance(value, str):
        whole = re.fullmatch(INTERPOLATION, value)
        try:
            if whole:  # keep the type: `seed: ${item.seed}` stays an int
                return _lookup(context, whole.group(1))
            return re.sub(INTERPOLATION, lambda m: str(_lookup(context, m.group(1))), value)
        except KeyError as exc:
            raise where.error(keys, f"${{{exc.args[0]}}} is not defined here") from None
    if isinstance(value, list):
        return [_interpolate(where, keys, v, context) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(where, keys, v, context) for k, v in value.items()}
    return value


# -- one stage --------------------------------------------------------------------------------
def _stage(where: _Where, name: str, body: Any, base: str, keys: list) -> Stage:
    if not isinstance(body, dict):
        raise where.error(keys, f"stage {name} must be a mapping with at least 'cmd'")
    unknown = set(body) - STAGE_KEYS
    if unknown:
        key = sorted(unknown, key=str)[0]
        raise where.error([*keys, key], f"unknown key {key!r} in stage {name}")
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


def _out(where: _Where, keys: list, wdir: str, spec: Any, metric: bool) -> Out:
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
    unknown = set(options) - OUT_OPTIONS
    if unknown:
        key = sorted(unknown, key=str)[0]
        at = [*keys, key] if isinstance(spec, dict) and "path" in spec else [*keys, path, key]
        raise where.error(at, f"unknown out option {key!r} for {path}")
    cache = _bool(where, keys, options.get("cache", not metric))
    persist = _bool(where, keys, options.get("persist", False))
    return Out(_join(where, keys, wdir, path.rstrip("/")), cache, persist, metric)


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
