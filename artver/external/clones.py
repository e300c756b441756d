"""Bare copies of repositories on Git servers, kept so that the next `get`, `import`, `update`
or `status` fetches only what is new.

Inside an artver repository they live in `.artver/tmp/repos/` (Git ignores it); elsewhere in
`$XDG_CACHE_HOME/artver/repos/` (`~/.cache/artver/repos/`). One copy per URL, named by
`location.clone_name`; a lock file beside it keeps two processes from fetching into it at once.
The first fetch goes into a temp directory renamed into place, so a copy that exists is whole.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from artver.external.location import clone_name
from artver.fsutil import temp_name


def clones_dir(artver_dir: Path | None) -> Path:
    if artver_dir is not None:
        return artver_dir / "tmp" / "repos"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "artver" / "repos"


def existing(url: str, artver_dir: Path | None) -> Path | None:
    """The copy of `url` fetched before, if there is one (nothing is fetched)."""
    path = clones_dir(artver_dir) / clone_name(url)
    return path if (path / "objects").is_dir() else None


def fetched(url: str, artver_dir: Path | None, lock_wait: float = 60.0) -> Path:
    """The copy of `url`, made or brought up to date with the server now."""
    from artver.history import mirror
    from artver.lock import repo_lock

    base = clones_dir(artver_dir)
    base.mkdir(parents=True, exist_ok=True)
    path = base / clone_name(url)
    with repo_lock(base / f"{path.name}.lock", f"artver fetch of {url}", lock_wait):
        if (path / "objects").is_dir():
            mirror(url, path)
            return path
        tmp = Path(temp_name(path))
        try:
            mirror(url, tmp)
            os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path
