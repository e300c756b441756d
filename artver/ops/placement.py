"""Where artver may write: never outside the repository, never through a symlink that leads out.

A tracked path can name a place outside the work tree in three ways: lexically (`../x` in a
pointer, a lock or a revision someone committed), through a symlink on the way (the tracked
directory itself, or a directory above it, links elsewhere), or through a symlinked directory
inside a tracked directory. Each writer (checkout, pull, add's link-back) checks here first;
the checks resolve each directory once, so their cost grows with the directories a command
touches, not with its files.

What this cannot close: a collaborator who can already change the work tree between the check
and the write (a race on the same machine). See docs/security.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from artver.errors import PathError
from artver.repo import Repo
from artver.workspace import link_leads_out, outside_link_error


def check_tracked_path(repo: Repo, path: Path, shown: str, is_dir: bool = False) -> Path:
    """`path` normalised, once it is proved to lie inside the repository (not in `.git`,
    `.artver` or the cache) with no symlink on the way that leads out. A symlink at `path`
    itself may lead into the repository, or, for a file, into the cache (cache.type
    symlink); a tracked directory that links into the cache or Git's files is refused."""
    norm = Path(os.path.normpath(path))
    repo.check_inside(norm, shown)
    real_parent = os.path.realpath(norm.parent)
    problem = _bad_place(repo, real_parent)
    if problem is not None:
        raise PathError(
            shown,
            f"sits under a symbolic link that leads {problem} (to {real_parent}); artver never "
            "writes through such a link",
        )
    if os.path.islink(norm):
        real = os.path.realpath(norm)
        if is_dir or link_leads_out(real, repo.link_roots) is not None:
            problem = _bad_place(repo, real)
            if problem is not None:
                raise PathError(
                    shown,
                    f"is a symbolic link that leads {problem} (to {real}); artver never "
                    "follows such a link",
                )
    return norm


def _bad_place(repo: Repo, real: str) -> str | None:
    """Why the resolved path `real` is no place for tracked data, or None when it is one."""
    if link_leads_out(real, repo.link_roots[:1]) is not None:
        return "outside the repository"
    artver_dirs = (repo.root / ".git", repo.artver_dir, repo.cache_dir)
    forbidden = tuple(os.path.realpath(p) for p in artver_dirs)
    if link_leads_out(real, forbidden) is None:
        return "into Git's or artver's own files"
    return None


def check_parents(repo: Repo, root: Path, rels: list[str], shown: str) -> None:
    """Every directory that placing or deleting `rels` (paths below the tracked directory
    `root`) goes through resolves inside the repository: a symlinked subdirectory that leads
    out stops the command before anything is written."""
    inside = repo.link_roots[:1]
    seen: set[str] = set()
    for rel in rels:
        parent = rel.rpartition("/")[0]
        while parent and parent not in seen:
            seen.add(parent)
            real = link_leads_out(str(root / parent), inside)
            if real is not None:
                raise outside_link_error(f"{shown}/{parent}", real)
            parent = parent.rpartition("/")[0]
