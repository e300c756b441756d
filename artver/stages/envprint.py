"""A stage's environment fingerprint: lock files, Python and its packages, env variables.

Recorded in full in the lock so that `status` can say *what* changed (which package moved
from which version to which), not only that something did.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from artver.cache.hashing import hash_bytes
from artver.errors import ArtverError
from artver.stages.schema import EnvSpec

MAX_PACKAGE_CHANGES = 5  # a status line, not an inventory: the lock has every version
PYTHON_PROBE = """
import json, platform, sys
from importlib import metadata
packages = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        packages[name.lower()] = dist.version
paths = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
print(json.dumps({"version": platform.python_version(), "platform": platform.platform(),
                  "executable": sys.executable, "packages": dict(sorted(packages.items())),
                  "paths": paths}))
"""


def find_python() -> str | None:
    return shutil.which("python3") or shutil.which("python")


def probe_python(executable: str) -> dict[str, Any]:
    """What the interpreter a stage's `python` would run has installed (one subprocess)."""
    try:
        proc = subprocess.run(
            [executable, "-c", PYTHON_PROBE], capture_output=True, text=True, timeout=60
        )
        return json.loads(proc.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise ArtverError(f"cannot inspect the Python environment of {executable}: {exc}") from None


def python_stamp(info: dict[str, Any]) -> list[list]:
    """Modification times of the interpreter and its package directories: installing or
    removing a package changes them, so an unchanged stamp means an unchanged environment."""
    stamp = []
    for path in [info.get("executable", ""), *info.get("paths", [])]:
        try:
            stamp.append([path, os.stat(path).st_mtime_ns])
        except OSError:
            stamp.append([path, None])
    return stamp


def env_record(
    spec: EnvSpec,
    lock_oid: Callable[[str], str | None],
    python_info: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """The fingerprint as recorded in the lock; empty when the stage declares no `env`."""
    if spec.empty:
        return {}
    record: dict[str, Any] = {}
    if spec.lock:
        record["lock"] = {path: lock_oid(path) for path in spec.lock}
    if spec.vars:
        record["vars"] = {name: os.environ.get(name) for name in spec.vars}
    if spec.python:
        info = python_info()
        record["python"] = {
            "version": info["version"],
            "platform": info["platform"],
            "packages": info["packages"],
        }
    record["fingerprint"] = hash_bytes(json.dumps(record, sort_keys=True).encode())
    return record


def env_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between two env records. Pure."""
    if old.get("fingerprint") == new.get("fingerprint"):
        return []
    changes: list[str] = []
    for path in sorted(set(old.get("lock", {})) | set(new.get("lock", {}))):
        if old.get("lock", {}).get(path) != new.get("lock", {}).get(path):
            changes.append(f"env lock file {path} changed")
    for name in sorted(set(old.get("vars", {})) | set(new.get("vars", {}))):
        before, after = old.get("vars", {}).get(name), new.get("vars", {}).get(name)
        if before != after:
            changes.append(f"env var {name} {before!r} -> {after!r}")
    old_py, new_py = old.get("python", {}), new.get("python", {})
    for key in ("version", "platform"):
        if old_py.get(key) != new_py.get(key):
            changes.append(f"python {key} {old_py.get(key)} -> {new_py.get(key)}")
    old_pk, new_pk = old_py.get("packages", {}), new_py.get("packages", {})
    moved = [
        f"package {name} {old_pk.get(name) or '(none)'} -> {new_pk.get(name) or '(none)'}"
        for name in sorted(set(old_pk) | set(new_pk))
        if old_pk.get(name) != new_pk.get(name)
    ]
    if len(moved) > MAX_PACKAGE_CHANGES:
        extra = len(moved) - MAX_PACKAGE_CHANGES
        moved = [*moved[:MAX_PACKAGE_CHANGES], f"and {extra} more packages changed"]
    return changes + moved or ["env changed"]
