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
        return cls(
            data["path"],
            data.get("oid"),
            int(data.get("size", 0)),
            data.get("nfiles"),
            bool(data.get("cache", True)),
        )


class LockEntry:
    __slots__ = ("cmd", "deps", "env", "outs", "params", "resources", "seed", "text")

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
    ) -> None:
        self.cmd = cmd
        self.deps = [] if deps is None else deps
        self.params = {} if params is None else params  # file -> key -> value
        self.outs = [] if outs is None else outs
        self.env = {} if env is None else env
        self.resources = {} if resources is None else resources
        self.seed = seed
        self.text = text  # its YAML, once made

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
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LockEntry:
        cmd = data.get("cmd", [])
        return cls(
            cmd=list(cmd) if isinstance(cmd, list) else [cmd],
            deps=[Recorded.from_dict(d) for d in data.get("deps", [])],
            params={str(k): dict(v or {}) for k, v in (data.get("params") or {}).items()},
            outs=[Recorded.from_dict(o) for o in data.get("outs", [])],
            env=dict(data.get("env") or {}),
            resources=dict(data.get("resources") or {}),
            seed=data.get("seed"),
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
    from artver.yamlio import YAMLParseError, load_yaml

    try:
        doc = (load or load_yaml)(text) or {}
        stages = doc.get("stages") or {}
        return {name: LockEntry.from_dict(entry) for name, entry in stages.items()}
    except YAMLParseError as exc:
        raise LockFileError(f"{rel}: invalid YAML at {exc}") from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise LockFileError(
            f"{rel} is damaged ({exc}); restore it with git or re-run `artver repro -f`"
        ) from None


def read_lock(
    root: Path, pipeline_file: str, load: Callable[[str, str], Any] | None = None
) -> dict[str, LockEntry]:
    """Entries of the lock beside `pipeline_file`; `load(rel, text)` parses (and may cache)."""
    rel = lock_path_for(pipeline_file)
    try:
        text = (root / rel).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
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
