"""Git: where the repository is and its ignore files.

Finding the work tree and editing `.gitignore` need no Git library. Reading history (revisions,
trees at a revision) goes through dulwich, in `artver.history`.
"""

from __future__ import annotations

import os
from pathlib import Path

from artver.errors import ArtverError, PathError
from artver.fsutil import atomic_write_text


def find_git_root(start: Path) -> Path | None:
    """The top of the Git work tree containing `start`, like `git rev-parse --show-toplevel`."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def unignorable(name: str) -> str | None:
    """Why no .gitignore line can name exactly `name`, or None. Git has no escape for a
    line break: `x<newline>src` would become two patterns, the second hiding `src`."""
    if "\n" in name or "\r" in name:
        return "its name holds a line break, which a .gitignore line cannot hold; rename it"
    return None


def ignore_entry(name: str) -> str:
    """The line that ignores exactly `name` in the .gitignore of its own directory."""
    problem = unignorable(name)
    if problem is not None:
        raise PathError(repr(name), problem)
    escaped = name
    for special in ("\\", "[", "]", "*", "?", "!", "#"):
        escaped = escaped.replace(special, "\\" + special)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def ensure_ignored(path: Path) -> Path | None:
    """Add `path` to the .gitignore beside it; returns the .gitignore when it changed."""
    gitignore = path.parent / ".gitignore"
    line = ignore_entry(path.name)
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if line in text.splitlines():
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    atomic_write_text(gitignore, text + line + "\n")
    return gitignore


def remove_ignored(path: Path) -> Path | None:
    """Take out of the .gitignore beside `path` the line `ensure_ignored` adds for it (other
    lines stay as they are; a file left with nothing else is deleted, as DVC does). Returns the
    .gitignore when it changed."""
    gitignore = path.parent / ".gitignore"
    if unignorable(path.name) is not None:
        return None
    line = ignore_entry(path.name)
    try:
        text = gitignore.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    lines = text.splitlines()
    if line not in lines:
        return None
    kept = [kept_line for kept_line in lines if kept_line != line]
    if any(kept_line.strip() for kept_line in kept):
        atomic_write_text(gitignore, "\n".join(kept) + "\n")
    else:
        gitignore.unlink()
    return gitignore


def tracked_by_git(git_root: Path, rels: list[str]) -> dict[str, str]:
    """For each of `rels` (posix paths relative to `git_root`) that Git's index holds, or
    holds files below: the first such path of the index. Read through dulwich, like
    `git ls-files`; a repository without an index (no commit, nothing added) tracks nothing."""
    import bisect

    index = _index_path(git_root)
    if index is None or not index.is_file():
        return {}
    from dulwich.index import Index  # not dulwich.repo: that costs an `add` ~40 ms more

    paths = sorted(Index(str(index)).paths())
    found: dict[str, str] = {}
    for rel in rels:
        key = rel.encode("utf-8", "surrogateescape")
        i = bisect.bisect_left(paths, key)
        if i < len(paths) and paths[i] == key:
            found[rel] = rel
            continue
        i = bisect.bisect_left(paths, key + b"/")
        if i < len(paths) and paths[i].startswith(key + b"/"):
            found[rel] = paths[i].decode("utf-8", "surrogateescape")
    return found


def _index_path(git_root: Path) -> Path | None:
    """Where the index of the work tree at `git_root` is: `.git/index`, or in the Git
    directory a `.git` file names (a linked worktree, a submodule)."""
    dot_git = git_root / ".git"
    if dot_git.is_dir():
        return dot_git / "index"
    try:
        text = dot_git.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    return (git_root / text[len("gitdir:") :].strip()) / "index"


def is_inside(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
        return True
    except ValueError:
        return False


def relpath(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


# -- hooks -----------------------------------------------------------------------------------------
def hooks_dir(git_root: Path) -> Path:
    """The directory Git runs this repository's hooks from, like `git rev-parse --git-path hooks`:
    `core.hooksPath` when set (relative to the top of the work tree, where hooks run), else
    `hooks/` in the common Git directory, which linked worktrees share with their main one and a
    submodule finds through its `.git` file."""
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo as GitRepo

    try:
        repo = GitRepo(str(git_root))
    except NotGitRepository:
        raise ArtverError(f"{git_root} is not a Git repository that can be read") from None
    try:
        try:
            configured = repo.get_config_stack().get((b"core",), b"hooksPath")
        except KeyError:
            configured = None
        common = Path(os.path.abspath(git_root / repo.commondir()))
    finally:
        repo.close()
    if configured:
        path = Path(os.path.expanduser(configured.decode("utf-8", "surrogateescape")))
        return path if path.is_absolute() else Path(os.path.abspath(git_root / path))
    return common / "hooks"
