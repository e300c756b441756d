"""Git: where the repository is and its ignore files.

Finding the work tree and editing `.gitignore` need no Git library. Reading history (revisions,
trees at a revision) will go through dulwich, imported here and only here, on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

from artver.errors import ArtverError
from artver.fsutil import atomic_write_text


def find_git_root(start: Path) -> Path | None:
    """The top of the Git work tree containing `start`, like `git rev-parse --show-toplevel`."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def ignore_entry(name: str) -> str:
    """The line that ignores exactly `name` in the .gitignore of its own directory."""
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


def is_inside(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
        return True
    except ValueError:
        return False


def relpath(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


# -- history, through dulwich ----------------------------------------------------------------------
class RevisionError(ArtverError):
    pass


def pointer_files_at(
    root: Path,
    revs: list[str],
    all_branches: bool = False,
    all_commits: bool = False,
    suffix: str = ".artver",
) -> list[tuple[str, str, bytes]]:
    """(revision label, repo-relative path, content) of every file ending in `suffix` in the
    trees of the named revisions, every branch tip, or every commit: read from Git's object
    store without checking anything out."""
    from dulwich.errors import NotGitRepository
    from dulwich.objects import Commit, Tree
    from dulwich.objectspec import parse_commit
    from dulwich.repo import Repo as GitRepo

    git_root = find_git_root(root)
    try:
        repo = GitRepo(str(git_root or root))
    except NotGitRepository:
        raise RevisionError(f"{root} is not a Git repository: revisions cannot be read") from None
    try:
        commits: dict[bytes, str] = {}
        for rev in revs:
            try:
                commit = parse_commit(repo, rev.encode("utf-8"))
            except (KeyError, ValueError):
                raise RevisionError(f"unknown Git revision {rev!r}") from None
            commits.setdefault(commit.id, rev)
        heads = {ref: sha for ref, sha in repo.get_refs().items() if ref.startswith(b"refs/heads/")}
        if all_branches:
            for ref, sha in sorted(heads.items()):
                commits.setdefault(sha, ref.decode("utf-8", "replace").removeprefix("refs/heads/"))
        if all_commits:
            tips = [
                sha
                for ref, sha in repo.get_refs().items()
                if ref.startswith((b"refs/heads/", b"refs/tags/")) or ref == b"HEAD"
            ]
            tips = [t for t in {_peel(repo, t) for t in tips} if t is not None]
            if tips:
                for entry in repo.get_walker(include=tips):
                    commits.setdefault(entry.commit.id, entry.commit.id.decode()[:8])
        found: list[tuple[str, str, bytes]] = []
        seen_blobs: set[tuple[str, bytes]] = set()
        seen_trees: set[tuple[str, bytes]] = set()
        for sha, label in commits.items():
            obj = repo[sha]
            assert isinstance(obj, Commit)
            stack: list[tuple[str, bytes]] = [("", obj.tree)]
            while stack:
                prefix, tree_id = stack.pop()
                if (prefix, tree_id) in seen_trees:
                    continue  # the same subtree at the same place: already read
                seen_trees.add((prefix, tree_id))
                tree = repo[tree_id]
                assert isinstance(tree, Tree)
                for item in tree.iteritems():
                    name = item.path.decode("utf-8", "surrogateescape")
                    path = f"{prefix}{name}"
                    if item.mode & 0o170000 == 0o040000:
                        stack.append((path + "/", item.sha))
                    elif (
                        name.endswith(suffix)
                        and item.mode & 0o170000 == 0o100000
                        and (path, item.sha) not in seen_blobs
                    ):
                        seen_blobs.add((path, item.sha))
                        found.append((label, path, repo[item.sha].as_raw_string()))
        return found
    finally:
        repo.close()


def _peel(repo, sha: bytes) -> bytes | None:
    """The commit a ref points at, through annotated tags; None for anything else."""
    from dulwich.objects import Commit, Tag

    obj = repo[sha]
    while isinstance(obj, Tag):
        obj = repo[obj.object[1]]
    return obj.id if isinstance(obj, Commit) else None


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
        raise RevisionError(f"{git_root} is not a Git repository that can be read") from None
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
