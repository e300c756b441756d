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


def lookup(cache_dir: Path, key: str) -> list[dict[str, Any]] | None:
    try:
        doc = json.loads(_path(cache_dir, key).read_text(encoding="utf-8"))
        return list(doc["outs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    try:
        outs = json.loads(data)["outs"]
        if not isinstance(outs, list) or not all(isinstance(o, dict) and "path" in o for o in outs):
            return False
    except (ValueError, KeyError, TypeError):
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
