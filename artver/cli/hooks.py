"""Git hook commands: `artver install [--uninstall]` and the hidden `artver git-hook` that the
installed hooks call. Thin: parse, call, print."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from artver.ui import out


def _shown(path: Path) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(path)


def install(
    uninstall: Annotated[
        bool, typer.Option("--uninstall", help="Remove artver's part of the hooks.")
    ] = False,
) -> None:
    """Git hooks: post-checkout runs checkout, pre-push runs push, pre-commit warns on status."""
    from artver.ops import hooks

    if uninstall:
        res = hooks.uninstall(Path.cwd())
        where = _shown(res.hooks_dir)
        deleted = [c.name for c in res.changes if c.action == "deleted"]
        restored = [c.name for c in res.changes if c.action == "restored"]
        if deleted:
            out.info(f"Removed hooks {', '.join(deleted)} from {where}")
        for name in restored:
            out.info(f"Removed artver's lines from {where}/{name}; the rest is as it was")
        if not deleted and not restored:
            out.info(f"No artver hooks in {where}")
        return
    res = hooks.install(Path.cwd())
    where = _shown(res.hooks_dir)
    done = [c.name for c in res.changes if c.action != "unchanged"]
    if done:
        out.info(f"Installed hooks {', '.join(done)} in {where}")
    else:
        out.info(f"Hooks already installed in {where}: {', '.join(hooks.HOOKS)}")
    for change in res.changes:
        if change.action == "chained":
            out.info(f"Kept your {change.name} hook: artver's lines run first, then yours")
    if res.in_work_tree:
        out.info(
            f"{where} is inside the work tree (core.hooksPath), so the hooks run `artver` from PATH"
        )


def git_hook(
    name: Annotated[str, typer.Argument(help="post-checkout, pre-commit or pre-push.")],
    args: Annotated[
        Optional[list[str]],  # noqa: UP045 - typer needs Optional here
        typer.Argument(help="The arguments Git gave the hook."),
    ] = None,
) -> None:
    """Run artver's part of a Git hook (called by the hooks `artver install` writes)."""
    from artver.ops.git_hook import run

    refs = sys.stdin.read() if name == "pre-push" and not sys.stdin.isatty() else ""
    report = run(name, Path.cwd(), list(args or []), refs)
    for line in report.messages:
        out.info(line)


def register(app: typer.Typer) -> None:
    """Add `install` and the hidden `git-hook` to the main app."""
    app.command()(install)
    app.command(
        "git-hook",
        hidden=True,
        context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    )(git_hook)
