"""`artver cache dir`: where the cache is, and setting `cache.dir` from a path typed here.

artver reads a relative `cache.dir` from the repository root (concepts.md), so a relative PATH
given on the command line (relative to the current directory) is stored relative to the root
for the repo and local config files; for the global file, which serves every repository, it is
stored absolute. An absolute PATH, or one starting with `~`, is stored as typed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from artver.config import level_path, load_level, set_value
from artver.errors import ConfigError
from artver.repo import Repo

KEY = "cache.dir"


@dataclass
class CacheDirChange:
    value: str | None  # what was written (None: unset)
    level: str
    now: Path | None  # the cache directory this repository uses now (None: outside one)
    left_behind: Path | None  # the previous cache, when it holds objects that were not moved


def stored_value(path: str, cwd: Path, root: Path | None, level: str) -> str:
    """What `cache.dir` gets for PATH typed in `cwd`."""
    if path.startswith("~") or os.path.isabs(path):
        return path
    absolute = os.path.normpath(cwd / path)
    if level == "global" or root is None:
        return absolute
    return Path(os.path.relpath(absolute, root)).as_posix()


def set_cache_dir(repo: Repo | None, path: str | None, cwd: Path, level: str) -> CacheDirChange:
    """Set (or with `path` None, unset) `cache.dir` in the config file of `level` (outside a
    repository, only the global file can be written)."""
    before = repo.cache_dir if repo is not None else None
    value = None if path is None else stored_value(path, cwd, repo and repo.root, level)
    if repo is not None:
        repo.set_config(level, KEY, value)
        repo.__dict__.pop("cache_dir", None)
        now: Path | None = repo.cache_dir
    else:
        set_value(level_path(None, level), KEY, value)
        now = None
    left = before if before is not None and before != now and _has_objects(before) else None
    return CacheDirChange(value, level, now, left)


def configured(repo: Repo | None, level: str) -> Path:
    """The cache directory the config file of `level` names, resolved as artver reads it."""
    artver_dir = repo.artver_dir if repo is not None else None
    value = load_level(artver_dir, level).get(KEY)
    if not value:
        raise ConfigError(f"{KEY} is not set in the {level} config")
    expanded = os.path.expanduser(str(value))
    if repo is None:
        return Path(os.path.abspath(expanded))
    return (repo.root / expanded).resolve()


def _has_objects(cache: Path) -> bool:
    try:
        return any(
            e.is_dir() and len(e.name) == 2 and any(os.scandir(e.path)) for e in os.scandir(cache)
        )
    except OSError:
        return False
