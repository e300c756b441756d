"""The `git` program, for what reading history through dulwich (`artver.history`) does not
cover: worktrees, snapshots of the working tree, commits and refs of experiments, and moving
those refs to and from a Git remote.

Experiments go through the user's own `git` on purpose: a push or fetch then uses the remotes,
credential helpers and SSH settings the user already has, and a worktree is one Git knows about
(`git worktree list` shows it while an experiment runs). This is the only module that runs it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from artver.errors import ArtverError

# An identity for the commits artver writes when the user has none configured: an experiment
# must not fail because `user.email` is unset on a CI machine.
_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "artver",
    "GIT_AUTHOR_EMAIL": "artver@localhost",
    "GIT_COMMITTER_NAME": "artver",
    "GIT_COMMITTER_EMAIL": "artver@localhost",
}


class GitError(ArtverError):
    pass


def git(
    root: Path,
    *args: str,
    env: dict[str, str] | None = None,
    input_bytes: bytes | None = None,
    check: bool = True,
) -> str:
    """Run `git -C root ARGS`; its stdout. A failure raises GitError with git's own message."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            input=input_bytes,
            capture_output=True,
            env={**os.environ, **(env or {})},
            timeout=600,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (experiments need the git program)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish in 10 minutes") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def identity_env(root: Path) -> dict[str, str]:
    """The fallback identity for what the user's Git config and environment leave unset
    (asked of Git once per process and repository)."""
    key = str(root)
    if key not in _IDENTITIES:
        _IDENTITIES[key] = _identity_env(root)
    return _IDENTITIES[key]


_IDENTITIES: dict[str, dict[str, str]] = {}


def _identity_env(root: Path) -> dict[str, str]:
    env = {}
    for kind in ("AUTHOR", "COMMITTER"):
        for field, key in (("NAME", "user.name"), ("EMAIL", "user.email")):
            name = f"GIT_{kind}_{field}"
            if os.environ.get(name):
                continue
            if not git(root, "config", "--get", key, check=False).strip():
                env[name] = _FALLBACK_IDENTITY[name]
    return env


def head(root: Path) -> str | None:
    """HEAD's commit, or None in a repository with no commits."""
    out = git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False).strip()
    return out or None


def snapshot_tree(root: Path, base: str) -> str:
    """The tree of the working tree as `git add -A` would stage it (untracked files that are
    not ignored included), written with a temporary index: the user's index is not touched.
    It starts as a copy of that index, whose file stats spare `git add` re-reading every file."""
    import shutil

    where = git_dir(root)
    tmp_index = where / f"artver-exp-index-{os.getpid()}"
    env = {"GIT_INDEX_FILE": str(tmp_index)}
    try:
        if (where / "index").is_file():
            shutil.copyfile(where / "index", tmp_index)
        else:
            git(root, "read-tree", base, env=env)
        git(root, "add", "-A", env=env)
        return git(root, "write-tree", env=env).strip()
    finally:
        tmp_index.unlink(missing_ok=True)


def git_dir(root: Path) -> Path:
    """The repository's (or this worktree's own) Git directory."""
    return Path(git(root, "rev-parse", "--absolute-git-dir").strip())


def commit_tree(root: Path, tree: str, parent: str, message: str) -> str:
    """A commit of `tree` on top of `parent`; no branch moves."""
    return git(
        root,
        "commit-tree",
        tree,
        "-p",
        parent,
        env=identity_env(root),
        input_bytes=message.encode("utf-8"),
    ).strip()


def update_ref(root: Path, ref: str, sha: str) -> None:
    git(root, "update-ref", ref, sha)


def delete_ref(root: Path, ref: str) -> None:
    git(root, "update-ref", "-d", ref)


def move_ref(root: Path, old: str, new: str, sha: str) -> None:
    """Point `new` at `sha` and delete `old`, in one transaction."""
    commands = f"start\nupdate {new} {sha}\ndelete {old}\nprepare\ncommit\n"
    git(root, "update-ref", "--stdin", input_bytes=commands.encode("utf-8"))


def refs(root: Path, prefix: str) -> dict[str, str]:
    """{ref name: commit} of the refs under `prefix`."""
    out = git(root, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    found = {}
    for line in out.splitlines():
        name, _, sha = line.rpartition(" ")
        found[name] = sha
    return found


def ref_exists(root: Path, ref: str) -> bool:
    return bool(git(root, "rev-parse", "--verify", "-q", ref, check=False).strip())


def changed_files(root: Path, a: str, b: str) -> list[str]:
    """Paths whose content differs between commits `a` and `b`."""
    out = git(root, "diff", "--name-only", "--no-renames", "-z", a, b)
    return [p for p in out.split("\0") if p]


def show_file(root: Path, sha: str, path: str) -> bytes | None:
    """The bytes of `path` at commit `sha`, or None when it has no such file."""
    proc = subprocess.run(
        ["git", "-C", str(root), "cat-file", "blob", f"{sha}:{path}"],
        capture_output=True,
        timeout=600,
    )
    return proc.stdout if proc.returncode == 0 else None


def worktree_add(root: Path, path: Path, commit: str) -> None:
    git(root, "worktree", "add", "--detach", "-q", str(path), commit)


def worktree_remove(root: Path, path: Path) -> None:
    """Remove the worktree and Git's record of it (pruned when `remove` could not)."""
    import shutil

    git(root, "worktree", "remove", "--force", str(path), check=False)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
        git(root, "worktree", "prune", check=False)


def remote_exists(root: Path, name: str) -> bool:
    """A configured Git remote, or a URL or path Git can reach as one (an empty one too)."""
    if git(root, "remote", "get-url", name, check=False).strip():
        return True
    try:
        git(root, "ls-remote", name)
    except GitError:
        return False
    return True


def push_refs(root: Path, remote: str, refspecs: list[str]) -> None:
    git(root, "push", "-q", "--force", remote, *refspecs)


def fetch_refs(root: Path, remote: str, refspecs: list[str]) -> None:
    git(root, "fetch", "-q", "--force", remote, *refspecs)


def remote_refs(root: Path, remote: str, prefix: str) -> dict[str, str]:
    """{ref: commit} of the refs under `prefix` on the Git remote."""
    out = git(root, "ls-remote", remote, f"{prefix}*")
    found = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        found[name] = sha
    return found
