"""Tracking data: init, add, status, checkout, commit, ls."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from artver.cli.common import (
    JobsOpt,
    JsonOpt,
    RemoteOpt,
    TargetsArg,
    git_add_hint,
    note_checked_out_rev,
    open_repo,
    rev_option,
)
from artver.ui import human_size, out, plural


def init(
    no_git: Annotated[bool, typer.Option("--no-git", help="Allow a repo outside Git.")] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="Re-initialise.")] = False,
) -> None:
    """Make .artver/ in the current Git repository."""
    from artver.repo import Repo

    repo = Repo.init(Path.cwd(), no_git=no_git, force=force)
    out.info(f"Initialised artver in {repo.artver_dir}")
    git_add_hint([repo.artver_dir / "config.yaml", repo.artver_dir / ".gitignore"])


def add(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or glob patterns.")],
    out_path: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "-o",
            "--out",
            help="Track the one SRC (from anywhere) as this path.",
            metavar="DST",
            show_default=False,
        ),
    ] = None,
    to_remote: Annotated[
        bool,
        typer.Option("--to-remote", help="Upload SRC straight to a remote; keep no local copy."),
    ] = False,
    remote: RemoteOpt = None,
) -> None:
    """Hash, cache and track files or directories; write PATH.artver."""
    from artver.errors import UsageError

    if remote is not None and not to_remote:
        raise UsageError("-r/--remote goes with --to-remote")
    if to_remote:
        from artver.ops.add_out import add_to_remote

        sent = add_to_remote(open_repo(), paths, out_path, remote, Path.cwd())
        res = sent.added
        o = res.pointer.out
        what = f"{plural(o.nfiles, 'file')}, " if o.nfiles is not None else ""
        out.info(
            f"Added {os.path.relpath(res.pointer.data_path())} ({what}{human_size(o.size)}) "
            f"to remote {sent.remote}: {plural(sent.sent, 'object')} sent, {sent.already} "
            "already there"
        )
        if not sent.placed:
            out.info(f"`artver pull {os.path.relpath(res.pointer.data_path())}` gets it here.")
        git_add_hint([res.pointer.file] + ([res.gitignore] if res.gitignore else []))
        return
    if out_path is not None:
        from artver.ops.add_out import add_out

        results = [add_out(open_repo(), paths, out_path, Path.cwd())]
    else:
        from artver.ops.add import add as do_add

        results = do_add(open_repo(), paths, Path.cwd())
    to_git: list[Path] = []
    for res in results:
        data = res.pointer.data_path()
        o = res.pointer.out
        what = f"{plural(o.nfiles, 'file')}, " if o.nfiles is not None else ""
        verb = "Added" if res.previous is None else ("Updated" if res.changed else "Unchanged")
        out.info(f"{verb} {os.path.relpath(data)} ({what}{human_size(o.size)})")
        if res.changed or res.gitignore:
            to_git.append(res.pointer.file)
        if res.gitignore:
            to_git.append(res.gitignore)
    git_add_hint(to_git)


def status(
    targets: TargetsArg = None,
    cloud: Annotated[
        bool,
        typer.Option("-c", "--cloud", help="Compare the cache with a remote instead."),
    ] = False,
    remote: RemoteOpt = None,
    jobs: JobsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show tracked data that is modified or missing, and stale stages with why."""
    from artver.ops.status import stage_status
    from artver.ops.status import status as do_status

    if (remote or jobs) and not cloud:
        from artver.errors import UsageError

        raise UsageError("-r/--remote and -j/--jobs go with -c/--cloud")
    repo = open_repo()
    if cloud:
        _cloud_status(repo, targets or [], remote, jobs, json)
        return
    results = do_status(repo, targets or [], Path.cwd())
    stages = stage_status(repo) if not targets else []
    if json:
        out.json(
            {"artifacts": [r.to_dict() for r in results], "stages": [s.to_dict() for s in stages]}
        )
        return
    for stage in stages:
        out.result(f"{stage.name}: " + "; ".join(stage.reasons))
    changed = [r for r in results if r.state != "ok"]
    if not changed and not stages:
        if repo.pipeline_files():
            out.result("Data and pipelines are up to date.")
        else:
            out.result("Data is up to date." if results else "Nothing is tracked yet.")
        return
    if not changed:
        out.info("\nRun `artver repro` to bring the stages up to date.")
        return
    for res in changed:
        behind = f" ({res.behind[0][:7] or '?'} -> {res.behind[1][:7]})" if res.behind else ""
        out.result(f"{res.path}: {res.state}{behind}")
        for kind, paths in res.changes.items():
            for path in paths:
                out.result(f"    {kind}: {res.path}/{path}")
        if not res.details_known:
            out.result("    (which files changed is unknown: the old manifest is not in the cache)")
    states = {r.state for r in changed}
    imports = {s for s in states if s.startswith("import behind")}
    if imports:
        out.info("\n`artver update` brings imports up to date with their sources.")
        states -= imports
        if not states:
            return
    if states == {"not in cache"}:
        out.info("\nRun `artver pull` to fetch the data from the remote and check it out.")
        return
    if "not in cache" in states:
        out.info("\n`artver pull` fetches what is not in the cache.")
    if states - {"not in cache"}:
        out.info("\nRun `artver add` to record the changes or `artver checkout` to discard them.")


def _cloud_status(repo, targets: list[str], remote: str | None, jobs, json: bool) -> None:
    from artver.ops.cloud_status import IN_SYNC, cloud_status

    where, results = cloud_status(repo, targets, Path.cwd(), remote, jobs)
    if json:
        out.json({"remote": where, "artifacts": [r.to_dict() for r in results]})
        return
    behind = [r for r in results if r.state != IN_SYNC]
    if not behind:
        out.result(f"Everything is in the cache and on remote {where}." if results else
                   "Nothing is tracked yet.")  # fmt: skip
        return
    for r in behind:
        total = plural(r.objects, "object")
        parts = [
            f"{len(r.not_on_remote)} of {total} not on the remote" if r.not_on_remote else "",
            f"{len(r.not_in_cache)} of {total} not in the cache" if r.not_in_cache else "",
            f"{len(r.lost)} of {total} in neither" if r.lost else "",
            "its manifest is in neither, so its files are unknown" if r.files_unknown else "",
        ]
        out.result(f"{r.path}: {r.state} (" + "; ".join(p for p in parts if p) + ")")
    hints = {
        "not on remote": "`artver push` sends what the remote lacks",
        "not in cache": "`artver fetch` (or `pull`) brings what the cache lacks",
        "lost": "objects in neither place are lost unless another clone has them: push from it",
    }
    for state in ("not on remote", "not in cache", "lost"):
        if any(r.state == state for r in behind):
            out.info(f"  {hints[state]}")


def checkout(
    targets: TargetsArg = None,
    force: Annotated[
        bool, typer.Option("-f", "--force", help="Discard changes that are not in the cache.")
    ] = False,
    relink: Annotated[
        bool, typer.Option("--relink", help="Re-create every file with the current link type.")
    ] = False,
    rev: Annotated[
        Optional[str],  # noqa: UP045
        rev_option("Restore the data this Git revision records; HEAD and the pointers stay."),
    ] = None,
) -> None:
    """Make the workspace match the pointer files and the stage outputs in artver.lock."""
    from artver.ops.checkout import checkout as do_checkout

    res = do_checkout(open_repo(), targets or [], Path.cwd(), force=force, relink=relink, rev=rev)
    c = res.counts
    for shown in res.artifacts_changed:
        out.info(f"Checked out {shown}")
    if res.artifacts_changed:
        out.info(
            f"{c['create']} created, {c['modify']} modified, {c['delete']} deleted"
            + (f", {c['relink']} relinked" if c["relink"] else "")
        )
    if rev is not None:
        note_checked_out_rev(rev, res.artifacts_changed)
    elif not res.artifacts_changed:
        out.info("Workspace already matches the pointers.")


def commit(targets: TargetsArg = None) -> None:
    """Record the current state of tracked paths and stages into pointers and the lock."""
    from artver.ops.commit import commit as do_commit

    result = do_commit(open_repo(), targets or [], Path.cwd())
    changed = [r for r in result.pointers if r.changed]
    for res in changed:
        out.info(f"Committed {os.path.relpath(res.pointer.data_path())}")
    for name in result.stages:
        out.info(f"Committed stage {name}")
    if not changed and not result.stages:
        out.info("Nothing to commit: pointers and the lock already match the workspace.")
    to_git = [r.pointer.file for r in changed] + [
        r.gitignore for r in result.pointers if r.gitignore
    ]
    if result.stages:
        to_git.append(Path("artver.lock"))
    git_add_hint(to_git)


def list_(
    targets: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(
            help="Tracked paths or their .artver files (default: all); or URL [PATH]: what "
            "another repository tracks.",
            show_default=False,
        ),
    ] = None,
    rev: Annotated[
        Optional[str],  # noqa: UP045
        rev_option("What this Git revision tracks (pointers and stage outputs), read from Git."),
    ] = None,
    recursive: Annotated[
        bool,
        typer.Option("-R", "--recursive", help="With URL: also every file in tracked dirs."),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """List tracked artifacts with size, file count and state (or another repository's)."""
    from artver.external.location import names_a_repository
    from artver.ops.ls import ls, ls_at

    if targets and names_a_repository(targets[0], Path.cwd()):
        _list_external(targets, rev, recursive, json)
        return
    if recursive:
        from artver.errors import UsageError

        raise UsageError("-R/--recursive goes with a repository URL: artver ls URL [PATH] -R")
    if rev is not None:
        items = ls_at(open_repo(), rev, targets or [], Path.cwd())
    else:
        items = ls(open_repo(), targets or [], Path.cwd())
    if json:
        out.json({"artifacts": [i.to_dict() for i in items]})
        return
    rows = [[i.path, human_size(i.size), str(i.nfiles), i.state] for i in items]
    out.table(["path", "size", "files", "state"], rows)


def _list_external(targets: list[str], rev: str | None, recursive: bool, json: bool) -> None:
    from artver.errors import NotARepoError, UsageError
    from artver.ops.external_ls import ls_external

    if len(targets) > 2:
        raise UsageError("artver ls URL takes one PATH at most")
    try:
        repo = open_repo()
    except NotARepoError:
        repo = None
    path = targets[1] if len(targets) > 1 else None
    source, entries = ls_external(targets[0], path, Path.cwd(), rev, recursive, repo)
    if json:
        out.json(
            {
                "repo": targets[0],
                "rev": rev or "HEAD",
                "commit": source.sha,
                "entries": [e._asdict() for e in entries],
            }
        )
        return
    rows = [[e.path + ("/" if e.kind == "dir" else ""), human_size(e.size), str(e.nfiles)]
            for e in entries]  # fmt: skip
    out.table(["path", "size", "files"], rows)


def register(app: typer.Typer) -> None:
    for command in (init, add, status, checkout, commit):
        app.command()(command)
    app.command("ls")(list_)
