"""`artver.lock`: what each stage last ran with, written sorted and stable for clean merges."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from artver.errors import ArtverError
from artver.fsutil import atomic_write_text

LOCK_SCHEMA = 1
LOCK_NAME = "artver.lock"


class LockFileError(ArtverError):
    pass


# Plain classes, not dataclasses: generating one costs start-up time on every command.
class Recorded:
    """A dep or out as the lock records it (paths relative to the artver.yaml directory)."""

    __slots__ = ("cache", "nfiles", "oid", "path", "size")

    def __init__(
        self,
        path: str,
        oid: str | None,
        size: int = 0,
        nfiles: int | None = None,
        cache: bool = True,
    ) -> None:
        self.path = path
        self.oid = oid  # None: did not exist
        self.size = size
        self.nfiles = nfiles
        self.cache = cache

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "hash": "xxh3-128", "oid": self.oid}
        data["size"] = self.size
        if self.nfiles is not None:
            data["nfiles"] = self.nfiles
        if not self.cache:
            data["cache"] = False
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recorded:
        """A dep or out from a lock (or a run cache entry); ValueError names what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"a dep or out is {_kind(data)}, not a mapping")
        path, oid = data.get("path"), data.get("oid")
        if not isinstance(path, str) or not path:
            raise ValueError(f"a dep or out has no path (got {_short(path)})")
        if oid is not None and not isinstance(oid, str):
            raise ValueError(f"{path}: 'oid' is {_kind(oid)}, not text")
        size, nfiles = _count(data.get("size", 0), path, "size"), data.get("nfiles")
        return cls(
            path,
            oid,
            size,
            None if nfiles is None else _count(nfiles, path, "nfiles"),
            bool(data.get("cache", True)),
        )


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _count(value: Any, path: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{path}: {key!r} is {_kind(value)}, not a whole number")
    number = int(value)  # a string of digits from an older lock is taken; other text is not
    if number < 0:
        raise ValueError(f"{path}: {key!r} is negative")
    return number


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} is {_kind(value)}, not a mapping")
    return value


def _records(value: Any, what: str) -> list[Recorded]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} is {_kind(value)}, not a list")
    return [Recorded.from_dict(item) for item in value]


def _env(value: Any) -> dict[str, Any]:
    """The env record, with the shape `envprint.env_changes` walks."""
    env = _mapping(value, "'env'")
    for key in ("lock", "vars", "python", "pins"):
        _mapping(env.get(key), f"'env.{key}'")
    for path, pins in _mapping(env.get("pins"), "'env.pins'").items():
        _mapping(pins, f"'env.pins.{path}'")
    _mapping(_mapping(env.get("python"), "'env.python'").get("packages"), "'env.python.packages'")
    return dict(env)


class LockEntry:
    """One stage's record. `observed` (the machine, start time and duration of the run: see
    stages/hardware.py) is kept beside the identity: nothing compares it."""

    __slots__ = ("cmd", "deps", "env", "observed", "outs", "params", "resources", "seed", "text")

    def __init__(
        self,
        cmd: list[str],
        deps: list[Recorded] | None = None,
        params: dict[str, dict[str, Any]] | None = None,
        outs: list[Recorded] | None = None,
        env: dict[str, Any] | None = None,
        resources: dict[str, Any] | None = None,
        seed: int | None = None,
        text: str | None = None,
        observed: dict[str, Any] | None = None,
    ) -> None:
        self.cmd = cmd
        self.deps = [] if deps is None else deps
        self.params = {} if params is None else params  # file -> key -> value
        self.outs = [] if outs is None else outs
        self.env = {} if env is None else env
        self.resources = {} if resources is None else resources
        self.seed = seed
        self.text = text  # its YAML, once made
        self.observed = {} if observed is None else observed

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"cmd": self.cmd[0] if len(self.cmd) == 1 else list(self.cmd)}
        if self.deps:
            data["deps"] = [d.to_dict() for d in sorted(self.deps, key=lambda d: d.path)]
        if self.params:
            data["params"] = {f: dict(sorted(v.items())) for f, v in sorted(self.params.items())}
        if self.outs:
            data["outs"] = [o.to_dict() for o in sorted(self.outs, key=lambda o: o.path)]
        if self.env:
            data["env"] = self.env
        if self.resources:
            data["resources"] = self.resources
        if self.seed is not None:
            data["seed"] = self.seed
        if self.observed:  # last: a run's new figures are lines of their own in a diff
            data["observed"] = self.observed
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LockEntry:
        """An entry from a lock; ValueError names what is wrong with it."""
        data = _mapping(data, "the entry")
        cmd = data.get("cmd", [])
        cmd = list(cmd) if isinstance(cmd, list) else [cmd]
        if not all(isinstance(part, str) for part in cmd):
            raise ValueError("'cmd' is not text or a list of text")
        params = {}
        for file, values in _mapping(data.get("params"), "'params'").items():
            values = _mapping(values, f"the params of {file}")
            params[str(file)] = {str(k): v for k, v in values.items()}
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"'seed' is {_kind(seed)}, not a whole number")
        return cls(
            cmd=cmd,
            deps=_records(data.get("deps"), "'deps'"),
            params=params,
            outs=_records(data.get("outs"), "'outs'"),
            env=_env(data.get("env")),
            resources=dict(_mapping(data.get("resources"), "'resources'")),
            seed=seed,
            observed=dict(_mapping(data.get("observed"), "'observed'")),
        )

    def dep(self, path: str) -> Recorded | None:
        return next((d for d in self.deps if d.path == path), None)

    def out(self, path: str) -> Recorded | None:
        return next((o for o in self.outs if o.path == path), None)


def lock_path_for(pipeline_file: str) -> str:
    return posixpath.join(posixpath.dirname(pipeline_file), LOCK_NAME)


def parse_lock(
    text: str, rel: str, load: Callable[[str], Any] | None = None
) -> dict[str, LockEntry]:
    """Entries of a lock file's text (`rel` names it in messages; `load` parses YAML)."""
    from artver.safetext import LOCK_MAX, BadText, check_text
    from artver.yamlio import YAMLParseError, load_yaml

    try:
        doc = (load or load_yaml)(check_text(text, LOCK_MAX, "lock"))
    except YAMLParseError as exc:
        raise LockFileError(f"{rel}: invalid YAML at {exc}") from None
    except BadText as exc:
        raise LockFileError(f"{rel}: {exc}") from None
    try:
        stages = _mapping(_mapping(doc, "the document").get("stages"), "'stages'")
        entries = {}
        for name, entry in stages.items():
            if not isinstance(name, str):
                raise ValueError(f"the stage name {_short(name)} is not text")
            try:
                entries[name] = LockEntry.from_dict(entry)
            except ValueError as exc:
                raise ValueError(f"stage {name}: {exc}") from None
        return entries
    except ValueError as exc:
        raise LockFileError(
            f"{rel} is damaged ({exc}); restore it with git or re-run `artver repro -f`"
        ) from None


def read_lock(
    root: Path, pipeline_file: str, load: Callable[[str, str], Any] | None = None
) -> dict[str, LockEntry]:
    """Entries of the lock beside `pipeline_file`; `load(rel, text)` parses (and may cache)."""
    from artver.safetext import LOCK_MAX, BadText, read_text

    rel = lock_path_for(pipeline_file)
    try:
        text = read_text(root / rel, LOCK_MAX, "lock")
    except FileNotFoundError:
        return {}
    except BadText as exc:
        raise LockFileError(f"{rel}: {exc}") from None
    except OSError as exc:
        raise LockFileError(f"cannot read {rel}: {exc.strerror or exc}") from None
    return parse_lock(text, rel, (lambda t: load(rel, t)) if load else None)


def lock_document(entries: dict[str, LockEntry]) -> dict[str, Any]:
    """What parsing the lock `write_lock` writes for `entries` gives."""
    return {"schema": LOCK_SCHEMA, "stages": {n: entries[n].to_dict() for n in sorted(entries)}}


def write_lock(root: Path, pipeline_file: str, entries: dict[str, LockEntry]) -> str:
    """Rewrite the lock; returns its text. Each entry's YAML is produced once and kept: repro
    rewrites the lock after every stage, and re-emitting 1,000 unchanged entries each time
    would make a long pipeline quadratic."""
    from artver.yamlio import dump_fast

    parts = [f"schema: {LOCK_SCHEMA}\nstages:\n"]
    for name in sorted(entries):
        entry = entries[name]
        if entry.text is None:
            body = dump_fast({name: entry.to_dict()})
            entry.text = "".join("  " + line + "\n" for line in body.splitlines())
        parts.append(entry.text)
    text = "".join(parts)
    atomic_write_text(root / lock_path_for(pipeline_file), text)
    return text
