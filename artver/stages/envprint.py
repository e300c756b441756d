"""A stage's environment fingerprint: lock files (and their pins), Python and its packages,
env variables, the container image.

Recorded in full in the lock so that `status` can say *what* changed (which package moved
from which version to which), not only that something did. Which interpreter is inspected is
`stages.interpreter`'s business; the pins of lock files, `stages.envlocks`'.
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
IDENTITY = ("lock", "vars", "python", "image")  # what the fingerprint covers (not `pins`)
# sys.path[0] is "" under `-c` (the directory it runs in), which `python script.py` does not
# search: dropped, so a stray *.egg-info in a stage's wdir is not taken for an installed package.
# Every other sys.path directory is stamped; so is the user site, even before it exists.
PYTHON_PROBE = """
import json, os, platform, site, sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
from importlib import metadata
packages = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        packages.setdefault(name.lower(), dist.version)
paths = [p for p in sys.path if os.path.isdir(p)]
user = site.getusersitepackages() if site.ENABLE_USER_SITE else None
if user and user not in paths:
    paths.append(user)
print(json.dumps({"version": platform.python_version(), "platform": platform.platform(),
                  "executable": sys.executable, "packages": dict(sorted(packages.items())),
                  "paths": paths}))
"""


def find_python() -> str | None:
    """The first `python3` (else `python`) on artver's PATH."""
    return shutil.which("python3") or shutil.which("python")


def probe_python(
    executable: str, env: dict[str, str] | None = None, cwd: str | None = None
) -> dict[str, Any]:
    """What the interpreter at `executable` has installed (one subprocess), run with the
    stage's environment and in its directory."""
    try:
        proc = subprocess.run(
            [executable, "-c", PYTHON_PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
        info = json.loads(proc.stdout)
        if not isinstance(info, dict) or not isinstance(info.get("packages"), dict):
            raise ValueError("it printed no package list")
        return info
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


def fingerprint(record: dict[str, Any]) -> str:
    """The hash of what decides the environment: lock file hashes, variables, Python and the
    image. Pins are derived from the lock files' content, already hashed, so they are left out
    (and a lock written before pins were recorded keeps its fingerprint)."""
    identity = {key: record[key] for key in IDENTITY if key in record}
    return hash_bytes(json.dumps(identity, sort_keys=True).encode())


def env_record(
    spec: EnvSpec,
    lock_oid: Callable[[str], str | None],
    python_info: Callable[[], dict[str, Any]],
    lock_pins: Callable[[str, str], dict[str, str] | None] | None = None,
) -> dict[str, Any]:
    """The fingerprint as recorded in the lock; empty when the stage declares no `env`.
    `lock_pins(path, oid)`: the pins of a lock file in a format artver reads, else None."""
    if spec.empty:
        return {}
    record: dict[str, Any] = {}
    if spec.lock:
        record["lock"] = {path: lock_oid(path) for path in spec.lock}
        pins = {}
        for path, oid in record["lock"].items():
            found = lock_pins(path, oid) if (lock_pins and oid) else None
            if found is not None:
                pins[path] = found
        if pins:
            record["pins"] = pins
    if spec.vars:
        record["vars"] = {name: os.environ.get(name) for name in spec.vars}
    if spec.python:
        info = python_info()
        if "missing" in info:  # not there (yet): a reason in status, not an error
            record["python"] = {"missing": info["missing"]}
        else:
            record["python"] = {
                "version": info["version"],
                "platform": info["platform"],
                "packages": info["packages"],
            }
    if spec.image:
        record["image"] = spec.image
    record["fingerprint"] = fingerprint(record)
    return record


def _short_image(image: str | None) -> str:
    """`name@sha256:0123456789ab` (the first 12 hex digits of the digest)."""
    if not image:
        return "(none)"
    name, _, digest = image.partition("@sha256:")
    return f"{name}@sha256:{digest[:12]}"


def env_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between two env records. Pure."""
    if old.get("fingerprint") == new.get("fingerprint"):
        return []
    if not old:
        return ["env recorded for the first time"]
    if not new:
        return ["env no longer recorded"]
    from artver.stages.envlocks import lock_file_change  # only when something changed

    changes: list[str] = []
    old_lock, new_lock = old.get("lock", {}), new.get("lock", {})
    old_pins, new_pins = old.get("pins", {}), new.get("pins", {})
    for path in sorted(set(old_lock) | set(new_lock)):
        if path not in old_lock:
            changes.append(f"env lock file {path} added")
        elif path not in new_lock:
            changes.append(f"env lock file {path} removed")
        elif old_lock[path] != new_lock[path]:
            changes.append(
                lock_file_change(
                    path, old_pins.get(path), new_pins.get(path), new_lock[path] is None
                )
            )
    old_vars, new_vars = old.get("vars", {}), new.get("vars", {})
    for name in sorted(set(old_vars) | set(new_vars)):
        if name not in old_vars:
            changes.append(f"env var {name} added")
        elif name not in new_vars:
            changes.append(f"env var {name} removed")
        elif old_vars[name] != new_vars[name]:
            changes.append(f"env var {name} {old_vars[name]!r} -> {new_vars[name]!r}")
    if old.get("image") != new.get("image"):
        before, after = _short_image(old.get("image")), _short_image(new.get("image"))
        changes.append(f"env image {before} -> {after}")
    if "python" in old and "python" not in new:
        return [*changes, "env python no longer recorded"]
    old_py, new_py = old.get("python", {}), new.get("python", {})
    if "missing" in new_py:
        return [*changes, f"python {new_py['missing']} not found"]
    if "python" in new and ("python" not in old or "missing" in old_py):
        return [*changes, "env python recorded for the first time"]
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
