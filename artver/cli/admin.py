"""The repository itself: root, cache dir, destroy."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from artver.cli.common import git_add_hint, open_repo, sub_app
from artver.ui import human_size, out, plural

cache_app = sub_app("cache", "The cache directory.")


def root() -> None:
    """Print the repository root, relative to the current directory."""
    repo = open_repo()
    out.result(os.path.relpath(repo.root, Path.cwd().resolve()))


@cache_app.command("dir")
def cache_dir(
    path: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional here
        typer.Argument(
            help="New cache directory (relative to the current directory).", show_default=False
        ),
    ] = None,
    unset: Annotated[bool, typer.Option("-u", "--unset", help="Remove cache.dir.")] = False,
    global_: Annotated[bool, typer.Option("--global", help="The per-user config file.")] = False,
    local: Annotated[
        bool, typer.Option("--local", help="config.local.yaml (not committed).")
    ] = False,
) -> None:
    """Print the cache directory, or set cache.dir."""
    from artver.errors import ArtverError, UsageError
    from artver.ops.cache_dir import configured, set_cache_dir

    if global_ and local:
        raise UsageError("use only one of --global and --local")
    if unset and path is not None:
        raise UsageError("--unset takes no PATH")
    level = "global" if global_ else "local" if local else "repo"
    try:
        repo = open_repo()
    except ArtverError:
        if level != "global":
            raise
        repo = None
    if path is None and not unset:
        if global_ or local:
            out.result(str(configured(repo, level)))
        else:
            assert repo is not None
            out.result(str(repo.cache_dir))
        return
    change = set_cache_dir(repo, path, Path.cwd(), level)
    if change.value is None:
        out.info(f"Unset cache.dir in the {level} config")
    else:
        out.info(f"Set cache.dir to {change.value} in the {level} config")
    if change.now is not None:
        out.info(f"The cache directory is now {change.now}")
    if change.left_behind is not None:
        out.info(
            f"note: the objects in {change.left_behind} were not moved; move them there, or "
            "`artver pull` what the new cache lacks"
        )


def destroy(
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask to confirm.")] = False,
) -> None:
    """Stop using artver here: remove pointers, pipelines and .artver/; keep the data."""
    from artver.errors import ArtverError
    from artver.ops.destroy import destroy as do_destroy

    def confirm(plan: Any) -> bool:
        _print_plan(plan)
        if force:
            return True
        try:
            return typer.confirm("Destroy artver in this repository?", default=False, err=True)
        except typer.Abort:
            return False

    result = do_destroy(open_repo(), Path.cwd(), confirm)
    if not result.done:
        raise ArtverError(
            "destroy cancelled: nothing was changed",
            hint="Use -f/--force to destroy without asking.",
        )
    if result.copied:
        out.info(f"Replaced {plural(result.copied, 'link')} into the cache by copies")
    if result.hooks:
        out.info(f"Took artver's lines out of the Git hooks: {', '.join(result.hooks)}")
    out.info("Removed artver from this repository; the data stays in the workspace.")
    if not result.plan.cache_goes:
        out.info(f"The cache at {result.plan.cache_dir} was left as it is (cache.dir).")
    git_add_hint(result.changed, result.deleted)


def _print_plan(plan: Any) -> None:
    parts = [plural(len(plan.pointers), "pointer file")]
    if plan.pipelines:
        parts.append(plural(len(plan.pipelines), "pipeline file") + " (artver.yaml, artver.lock)")
    if plan.cache_goes:
        parts.append(
            f".artver/ with the cache ({plural(plan.objects, 'object')}, "
            f"{human_size(plan.cache_bytes)})"
        )
    else:
        parts.append(".artver/ (the cache elsewhere is kept)")
    out.info(
        "destroy will remove " + ", ".join(parts) + " and artver's .gitignore entries; the "
        "tracked data stays in the workspace as plain files. Versions that only the cache "
        "holds are lost."
    )


def register(app: typer.Typer) -> None:
    app.command()(root)
    app.add_typer(cache_app, name="cache")
    app.command()(destroy)
