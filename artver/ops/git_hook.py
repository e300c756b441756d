"""What the hooks of `artver install` do, run as `artver git-hook NAME ARGS...` by Git.

- post-checkout: after a branch checkout that changed the commit, check the data out. It never
  fails the checkout (Git would report the hook's status as the checkout's): a problem becomes one
  hint line.
- pre-commit: warn about tracked data that differs from its pointer files; never blocks.
- pre-push: push to the default remote the data the pushed commits reference; when that fails
  the hook fails, so Git does not push pointers whose data is not on the remote.

Each returns the lines to show on stderr; the CLI prints them. Repositories without `.artver`
at the top of the work tree (where Git runs hooks) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from artver import scm
from artver.errors import (
    ArtverError,
    Interrupted,
    MissingObjectsError,
    UsageError,
    WouldLoseDataError,
)
from artver.repo import ARTVER_DIR, Repo

PREFIX = "artver: "


@dataclass
class HookReport:
    messages: list[str] = field(default_factory=list)


class PushBlockedError(ArtverError):
    """The pre-push hook could not send the data: Git must not push the pointers."""


def _open(cwd: Path) -> Repo | None:
    """The artver repository at the top of this Git work tree, or None."""
    top = scm.find_git_root(cwd) or cwd
    if not (top / ARTVER_DIR).is_dir():
        return None
    return Repo.find(top)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ArtverError):
        return exc.message.splitlines()[0].rstrip(":")
    return f"{type(exc).__name__}: {exc}"


def post_checkout(cwd: Path, args: list[str]) -> HookReport:
    """Git passes (previous HEAD, new HEAD, 1 for a branch checkout / 0 for files)."""
    report = HookReport()
    if len(args) < 3 or args[2] != "1" or args[0] == args[1]:
        return report
    from artver.ops.checkout import checkout

    try:
        repo = _open(cwd)
        if repo is None:
            return report
        try:
            result = checkout(repo, [], repo.root)
        finally:
            repo.close()
    except MissingObjectsError as exc:
        shown = ", ".join(sorted(exc.missing)[:3]) + (", ..." if len(exc.missing) > 3 else "")
        report.messages.append(
            f"{PREFIX}data not checked out ({shown}: not in the cache); run `artver pull`"
        )
        return report
    except WouldLoseDataError as exc:
        shown = ", ".join(exc.paths[:3]) + (", ..." if len(exc.paths) > 3 else "")
        report.messages.append(
            f"{PREFIX}data not checked out (it would discard changes only in the workspace: "
            f"{shown}); run `artver add` to keep them or `artver checkout --force` to drop them"
        )
        return report
    except Interrupted:
        raise
    except Exception as exc:  # the checkout itself is done: a hook failure must not fail it
        report.messages.append(
            f"{PREFIX}data not checked out ({_describe(exc)}); run `artver checkout`"
        )
        return report
    if result.artifacts_changed:
        report.messages.append(f"{PREFIX}checked out {', '.join(result.artifacts_changed)}")
    return report


def pre_commit(cwd: Path) -> HookReport:
    """A warning naming tracked data that differs from its pointers; the commit goes on."""
    from artver.ops.status import OK, status

    report = HookReport()
    try:
        repo = _open(cwd)
        if repo is None:
            return report
        try:
            changed = [r for r in status(repo, [], repo.root) if r.state != OK]
        finally:
            repo.close()
    except Interrupted:
        raise
    except Exception as exc:  # a warning hook must never block a commit
        report.messages.append(f"{PREFIX}could not check the tracked data: {_describe(exc)}")
        return report
    if changed:
        report.messages.append(
            f"{PREFIX}warning: tracked data differs from its pointer files, which are what "
            "this commit records:"
        )
        report.messages += [f"  {r.path}: {r.state}" for r in changed]
        report.messages.append(
            f"{PREFIX}run `artver add` or `artver commit` to record it (or `artver checkout` "
            "to restore it); committing anyway."
        )
    return report


def pushed_revisions(refs: str) -> list[str]:
    """The local commits of the `<local ref> <local sha> <remote ref> <remote sha>` lines Git
    gives pre-push on stdin; deletions (an all-zero local sha) push no data. Pure."""
    revs: list[str] = []
    for line in refs.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        sha = parts[1]
        if sha.strip("0") and sha not in revs:
            revs.append(sha)
    return revs


def pre_push(cwd: Path, args: list[str], refs: str) -> HookReport:
    """Push what the pushed commits reference to the default remote, or fail the push."""
    from artver.ops.transfer import Selection, push

    report = HookReport()
    repo = _open(cwd)
    if repo is None:
        return report
    try:
        remote = repo.config.get("core.remote")
        revs = pushed_revisions(refs)
        if not remote or not revs:
            return report
        result = push(repo, Selection(revs=revs, workspace=False), repo.root, None)
    except Interrupted:
        raise
    except ArtverError as exc:
        raise PushBlockedError(
            f"the data of this push could not be sent to the artver remote: {exc.message}",
            hint=(exc.hint + "\n" if exc.hint else "")
            + "Git did not push, so no pointer reaches it before its data. Fix this and push "
            "again, or skip the check with `git push --no-verify`.",
        ) from None
    finally:
        repo.close()
    if result.transferred:
        report.messages.append(f"{PREFIX}pushed {result.transferred} objects to {result.remote}")
    return report


def run(name: str, cwd: Path, args: list[str], stdin: str = "") -> HookReport:
    if name == "post-checkout":
        return post_checkout(cwd, args)
    if name == "pre-commit":
        return pre_commit(cwd)
    if name == "pre-push":
        return pre_push(cwd, args, stdin)
    raise UsageError(f"unknown hook {name!r} (artver runs post-checkout, pre-commit, pre-push)")
