"""The run cache: outputs of every run, keyed by what the run consumed.

Entries live in the cache directory (`runs/<2>/<30>`), so every branch and every clone that
shares the cache sees them, and remotes can carry them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from artver.fsutil import atomic_write_text


def _path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "runs" / key[:2] / key[2:]


# An entry lists a stage's outputs (~150 bytes each); one from a remote is read whole.
ENTRY_MAX = 4 * 1024 * 1024


def _outs(data: bytes) -> list[dict[str, Any]] | None:
    """The outputs a run cache entry's bytes list, or None unless it is a well-formed one."""
    from artver.stages.lock import Recorded

    if len(data) > ENTRY_MAX:
        return None
    try:
        outs = json.loads(data)["outs"]
        if not isinstance(outs, list):
            return None
        for out in outs:
            Recorded.from_dict(out)  # raises unless each has the fields a lock entry has
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    return outs


def lookup(cache_dir: Path, key: str) -> list[dict[str, Any]] | None:
    try:
        with open(_path(cache_dir, key), "rb") as fobj:
            data = fobj.read(ENTRY_MAX + 1)
    except OSError:
        return None
    return _outs(data)


def keys(cache_dir: Path) -> set[str]:
    """Every run recorded in this cache."""
    found = set()
    for shard in (cache_dir / "runs").glob("??"):
        found.update(shard.name + p.name for p in shard.iterdir() if len(p.name) == 30)
    return found


def read_raw(cache_dir: Path, key: str) -> bytes:
    return _path(cache_dir, key).read_bytes()


def save_raw(cache_dir: Path, key: str, data: bytes) -> bool:
    """Store an entry that came from elsewhere, if it is a well-formed one."""
    outs = _outs(data)
    if outs is None:
        return False
    save(cache_dir, key, outs)
    return True


def save(cache_dir: Path, key: str, outs: list[dict[str, Any]]) -> None:
    path = _path(cache_dir, key)
    os.makedirs(path.parent, exist_ok=True)
    atomic_write_text(path, json.dumps({"outs": outs}, sort_keys=True))


def remove(cache_dir: Path, key: str) -> None:
    try:
        _path(cache_dir, key).unlink()
    except FileNotFoundError:
        pass
