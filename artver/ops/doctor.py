"""`artver doctor`: what a bug report needs — versions, cache, link type, remotes, platform.

A bug report gets pasted in public: remote URLs are shown without their passwords, and secrets
found in the committed config file are named (never shown) so that they can be moved out.
"""

from __future__ import annotations

import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path

from artver import __version__, redact
from artver.config import load_level
from artver.errors import ArtverError
from artver.fsutil import temp_name, unlink_quietly
from artver.repo import Repo

LIBRARIES = (
    "dulwich",
    "fsspec",
    "s3fs",
    "gcsfs",
    "xxhash",
    "networkx",
    "ruamel.yaml",
    "rich",
    "typer",
    "sqlite-utils",
)


def working_link_type(repo: Repo) -> str:
    """Try the preferred link types from the cache into the workspace, as checkout would."""
    odb = repo.odb
    probe_dir = odb.tmp_dir
    probe_dir.mkdir(parents=True, exist_ok=True)
    src = temp_name(probe_dir / "probe")
    dest = temp_name(repo.artver_dir / "probe")
    try:
        with open(src, "wb") as fobj:
            fobj.write(b"artver link probe\n")
        return odb.linker.place(src, dest, executable=False)
    finally:
        unlink_quietly(src)
        unlink_quietly(dest)


def doctor(start: Path) -> dict:
    info: dict = {
        "artver": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": {},
    }
    for name in LIBRARIES:
        try:
            info["libraries"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info["libraries"][name] = "not installed"
    try:
        repo = Repo.find(start)
    except ArtverError as exc:
        info["repo"] = f"none ({exc.message})"
        return info
    info["repo"] = str(repo.root)
    try:
        in_use = working_link_type(repo)
    except ArtverError as exc:
        in_use = f"none works ({exc.message})"
    info["cache"] = {
        "dir": str(repo.cache_dir),
        "link types": ", ".join(repo.config.link_types),
        "link type in use": in_use,
        "shared": repo.config.get("cache.shared"),
    }
    usage = shutil.disk_usage(repo.cache_dir if repo.cache_dir.exists() else repo.artver_dir)
    info["cache"]["free space"] = usage.free
    remotes = repo.config.get("remote") or {}
    info["remotes"] = {
        name: redact.mask_value("url", (conf or {}).get("url")) for name, conf in remotes.items()
    }
    info["default remote"] = repo.config.get("core.remote")
    committed = redact.secret_keys_in(load_level(repo.artver_dir, "repo").data)
    info["secrets in config.yaml"] = ", ".join(committed) or None
    info["jobs"] = repo.config.jobs
    info["filesystem"] = _fs_type(repo.root)
    return info


def _fs_type(path: Path) -> str:
    """The filesystem type of `path`, from /proc/mounts where there is one."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    best, kind = "", "unknown"
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) > 2 and target.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind
