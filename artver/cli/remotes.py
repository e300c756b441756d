"""Remote commands: `artver remote ...`, `push`, `fetch`, `pull`. Thin: parse, call, print.

Importing this module is cheap: use-cases and filesystem packages are imported inside the
commands that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from artver.cli.common import (
    JobsOpt,
    JsonOpt,
    RemoteOpt,
    note_checked_out_rev,
    open_repo,
    print_notes,
    sub_app,
)
from artver.errors import UsageError
from artver.ui import out, plural, transfer_json, transfer_summary

remote_app = sub_app("remote", "Manage remotes: where push, fetch and pull send and get data.")

LocalOpt = Annotated[
    bool, typer.Option("--local", help="Write to config.local.yaml (not committed).")
]
TargetsArg = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional here
    typer.Argument(help="Tracked paths or their .artver files (default: all)."),
]
RevOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--rev",
        help="What this Git revision references, instead of the workspace (repeatable).",
        show_default=False,
    ),
]
AllBranchesOpt = Annotated[
    bool, typer.Option("--all-branches", help="The workspace and what every branch tip references.")
]
AllCommitsOpt = Annotated[
    bool, typer.Option("--all-commits", help="The workspace and what every commit references.")
]
RunCacheOpt = Annotated[
    bool,
    typer.Option("--run-cache", help="Also the run cache: every recorded run and its outputs."),
]


def _level(local: bool) -> str:
    return "local" if local else "repo"


@remote_app.command("add")
def remote_add(
    name: Annotated[str, typer.Argument(help="A name for the remote.")],
    url: Annotated[str, typer.Argument(help="s3://bucket/path, gs://bucket/path, a directory...")],
    default: Annotated[bool, typer.Option("-d", "--default", help="Make it the default.")] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="Replace an existing one.")] = False,
    local: LocalOpt = False,
) -> None:
    """Add a remote (its URL goes to .artver/config.yaml, or config.local.yaml with --local;
    a password in it, only to config.local.yaml)."""
    from artver.ops.remote_config import add

    notes = add(open_repo(), name, url, default, _level(local), force)
    out.info(f"Added remote {name} ({url})" + (" as the default" if default else ""))
    print_notes(notes)


@remote_app.command("list")
def remote_list(
    json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """List remotes with their options (secrets masked); the default is marked."""
    from artver.ops.remote_config import list_remotes

    found = list_remotes(open_repo())
    if json:
        out.json({"remotes": [r.to_dict() for r in found]})
        return
    if not found:
        out.info("No remotes. Add one with `artver remote add NAME URL`.")
        return
    for info in found:
        mark = " (default)" if info.default else ""
        out.result(f"{info.name}\t{info.url}{mark}")
        for key, value in sorted(info.options.items()):
            out.result(f"  {key}={value}")


@remote_app.command("remove")
def remote_remove(name: Annotated[str, typer.Argument(help="The remote's name.")]) -> None:
    """Remove a remote from the repository's config files."""
    from artver.ops.remote_config import remove

    remove(open_repo(), name)
    out.info(f"Removed remote {name}")


@remote_app.command("modify")
def remote_modify(
    name: Annotated[str, typer.Argument(help="The remote's name.")],
    option: Annotated[str, typer.Argument(help="url, endpointurl, region, profile, ...")],
    value: Annotated[Optional[str], typer.Argument(help="New value.")] = None,  # noqa: UP045
    local: LocalOpt = False,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the option.")] = False,
) -> None:
    """Set (or --unset) an option of a remote; secrets go to config.local.yaml."""
    from artver.ops.remote_config import modify

    if (value is None) != unset:
        raise UsageError("give a VALUE, or --unset to remove the option")
    print_notes(modify(open_repo(), name, option, value, _level(local)))


@remote_app.command("default")
def remote_default(
    name: Annotated[Optional[str], typer.Argument(help="The remote's name.")] = None,  # noqa: UP045
    local: LocalOpt = False,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the default.")] = False,
) -> None:
    """Set the default remote (core.remote), or print it when no NAME is given."""
    from artver.ops.remote_config import set_default

    repo = open_repo()
    if name is None and not unset:
        current = repo.config.get("core.remote")
        if not current:
            from artver.remotes.errors import NoDefaultRemoteError

            raise NoDefaultRemoteError(
                "no default remote is set", hint="Set one with `artver remote default NAME`."
            )
        out.result(str(current))
        return
    if name is not None and unset:
        raise UsageError("give a NAME or --unset, not both")
    set_default(repo, name, _level(local))


def _selection(targets, rev, all_branches, all_commits, run_cache):
    from artver.ops.transfer import Selection

    return Selection(
        targets=list(targets or []),
        revs=list(rev or []),
        all_branches=all_branches,
        all_commits=all_commits,
        run_cache=run_cache,
    )


def push(
    targets: TargetsArg = None,
    remote: RemoteOpt = None,
    jobs: JobsOpt = None,
    rev: RevOpt = None,
    all_branches: AllBranchesOpt = False,
    all_commits: AllCommitsOpt = False,
    run_cache: RunCacheOpt = False,
    recheck: Annotated[
        bool,
        typer.Option(
            "--recheck",
            help="Ask the remote about every object, also those this clone pushed before "
            "(someone may have deleted them there).",
        ),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Upload the objects the remote lacks."""
    from artver.ops.transfer import push as do_push

    sel = _selection(targets, rev, all_branches, all_commits, run_cache)
    pushed = do_push(open_repo(), sel, Path.cwd(), remote, jobs, recheck)
    if json:
        out.json(transfer_json(pushed))
    else:
        out.info(transfer_summary("Pushed", pushed))


def fetch(
    targets: TargetsArg = None,
    remote: RemoteOpt = None,
    jobs: JobsOpt = None,
    rev: RevOpt = None,
    all_branches: AllBranchesOpt = False,
    all_commits: AllCommitsOpt = False,
    run_cache: RunCacheOpt = False,
    json: JsonOpt = False,
) -> None:
    """Download into the cache the objects it lacks (verified), without touching the workspace."""
    from artver.ops.transfer import fetch as do_fetch

    sel = _selection(targets, rev, all_branches, all_commits, run_cache)
    fetched = do_fetch(open_repo(), sel, Path.cwd(), remote, jobs)
    if json:
        out.json(transfer_json(fetched))
    else:
        out.info(transfer_summary("Fetched", fetched))


def pull(
    targets: TargetsArg = None,
    remote: RemoteOpt = None,
    jobs: JobsOpt = None,
    rev: RevOpt = None,
    all_branches: AllBranchesOpt = False,
    all_commits: AllCommitsOpt = False,
    run_cache: RunCacheOpt = False,
    force: Annotated[
        bool, typer.Option("-f", "--force", help="Discard workspace changes not in the cache.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Fetch, then check out: make the workspace match the pointers with data from a remote."""
    from artver.ops.transfer import pull as do_pull

    sel = _selection(targets, rev, all_branches, all_commits, run_cache)
    fetched, checked = do_pull(open_repo(), sel, Path.cwd(), remote, jobs, force=force)
    if json:
        counts = {k: checked.counts[k] for k in ("create", "modify", "delete")}
        doc = {**transfer_json(fetched), "checked_out": checked.artifacts_changed, **counts}
        out.json({**doc, "repaired": fetched.repaired})
        return
    out.info(transfer_summary("Fetched", fetched))
    if fetched.repaired:
        out.info(
            f"Replaced {plural(len(fetched.repaired), 'corrupt cache object')} with verified "
            "copies from the remote (the bad ones are in .artver/quarantine/)"
        )
    for shown in checked.artifacts_changed:
        out.info(f"Checked out {shown}")
    if len(sel.revs) == 1 and not (all_branches or all_commits):
        note_checked_out_rev(sel.revs[0], checked.artifacts_changed)
    elif not checked.artifacts_changed:
        out.info("Workspace already matches the pointers.")


def register(app: typer.Typer) -> None:
    """Add the remote sub-app and push/fetch/pull to the main app."""
    app.add_typer(remote_app, name="remote")
    app.command()(push)
    app.command()(fetch)
    app.command()(pull)
