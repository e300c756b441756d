"""History commands: diff and gc.

Thin like cli.py: parse, call a use-case in artver.ops, print.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from artver.cli.common import JsonOpt, RemoteOpt, open_repo
from artver.ui import human_size, out, plural


def diff(
    a: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="Old revision (default HEAD).", show_default=False),
    ] = None,
    b: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="New revision (default: the workspace).", show_default=False),
    ] = None,
    remote: RemoteOpt = None,
    json: JsonOpt = False,
) -> None:
    """Tracked data added, modified, deleted and renamed between revisions A and B."""
    from artver.ops.diff import diff as do_diff

    result = do_diff(open_repo(), a, b, remote)
    if json:
        out.json(_diff_json(result))
        return
    changes = result.changes
    if not changes:
        out.info(f"No changes between {_side(result.old)} and {_side(result.new)}.")
        return
    for title, found in (("Added:", changes.added), ("Deleted:", changes.deleted)):
        if found:
            out.result(title)
        for path, v in found.items():
            out.result(_row(_dir_name(path, v), _size(v.size) + _file_count(result, path)))
    if changes.modified:
        out.result("Modified:")
        for path, (old, new) in changes.modified.items():
            out.result(_row(_dir_name(path, new), f"{_size(old.size)} -> {_size(new.size)}"))
            inner = result.inside.get(path)
            if inner is not None:
                _print_inside(inner)
    if changes.renamed:
        out.result("Renamed:")
        for path, (old_path, v) in changes.renamed.items():
            out.result(_row(f"{_dir_name(old_path, v)} -> {_dir_name(path, v)}", _size(v.size)))
    line = _counts(changes.counts()) or "no artifact changed"
    inner = {k.removeprefix("files "): n for k, n in result.summary().items() if "files " in k}
    if any(inner.values()):
        line += f"; inside directories: {_counts(inner)}"
    out.result(f"summary: {line}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)


def _print_inside(inner: Any) -> None:
    if inner.changes is None:
        out.result(f"        (files inside unknown: {inner.unknown})")
        return
    marks = (("+", inner.changes.added), ("-", inner.changes.deleted))
    for mark, items in marks:
        for path, v in items.items():
            out.result(_row(f"    {mark} {path}", _size(v.size)))
    for path, (old, new) in inner.changes.modified.items():
        out.result(_row(f"    ~ {path}", f"{_size(old.size)} -> {_size(new.size)}"))
    for path, (old_path, v) in inner.changes.renamed.items():
        out.result(_row(f"    > {old_path} -> {path}", _size(v.size)))


def _file_count(result: Any, path: str) -> str:
    """` (N files)` after an added or deleted directory whose manifest is known."""
    inner = result.inside.get(path)
    if inner is None or inner.changes is None:
        return ""
    n = len(inner.changes.added) + len(inner.changes.deleted)
    return f" ({plural(n, 'file')})"


def _row(name: str, size: str) -> str:
    return f"    {name:<48} {size}"


def _dir_name(path: str, v: Any) -> str:
    return path + "/" if v.is_dir else path


def _size(n: int | None) -> str:
    return "?" if n is None else human_size(n)


def _side(info: dict[str, Any]) -> str:
    return info["rev"] if info.get("commit") is None else f"{info['rev']} ({info['commit'][:8]})"


def _version(v: Any) -> dict[str, Any]:
    return {"oid": v.oid, "size": v.size}


def _changes_json(changes: Any) -> dict[str, Any]:
    return {
        "added": [{"path": p, **_version(v)} for p, v in changes.added.items()],
        "deleted": [{"path": p, **_version(v)} for p, v in changes.deleted.items()],
        "modified": [
            {"path": p, "old": _version(o), "new": _version(n)}
            for p, (o, n) in changes.modified.items()
        ],
        "renamed": [
            {"path": {"old": o, "new": p}, **_version(v)} for p, (o, v) in changes.renamed.items()
        ],
    }


def _diff_json(result: Any) -> dict[str, Any]:
    doc = {"old": result.old, "new": result.new, **_changes_json(result.changes)}
    for entry in doc["modified"] + doc["added"] + doc["deleted"]:
        inner = result.inside.get(entry["path"])
        if inner is not None:
            entry["files"] = _changes_json(inner.changes) if inner.changes else None
            if inner.unknown:
                entry["files_unknown"] = inner.unknown
    doc["summary"] = result.summary()
    return doc


def gc(
    workspace: Annotated[
        bool, typer.Option("-w", "--workspace", help="Keep what the workspace references.")
    ] = False,
    all_branches: Annotated[
        bool, typer.Option("-a", "--all-branches", help="Also keep what every branch tip uses.")
    ] = False,
    all_tags: Annotated[
        bool, typer.Option("-T", "--all-tags", help="Also keep what every tag uses.")
    ] = False,
    all_commits: Annotated[
        bool, typer.Option("-A", "--all-commits", help="Also keep what any commit uses.")
    ] = False,
    cloud: Annotated[
        bool, typer.Option("-c", "--cloud", help="Also delete unreferenced objects on a remote.")
    ] = False,
    remote: RemoteOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask to confirm.")] = False,
    json: Annotated[
        bool, typer.Option("--json", help="With --dry-run: the plan as one JSON document.")
    ] = False,
) -> None:
    """Remove cached objects that nothing in the chosen scope references."""
    from artver.errors import ArtverError, UsageError
    from artver.ops.gc import Scope
    from artver.ops.gc import gc as do_gc

    if remote and not cloud:
        raise UsageError("-r/--remote only applies with --cloud")
    if json and not dry_run:
        raise UsageError("--json goes with --dry-run")
    scope = Scope(workspace, all_branches, all_tags, all_commits)

    def confirm(plan) -> bool:
        _print_plan(plan, listing=False)
        if force:
            return True
        if plan.shared_cache:
            out.info("Warning: the cache is shared (cache.dir); other repositories may use it.")
        try:
            return typer.confirm("Remove them?", default=False, err=True)
        except typer.Abort:
            return False

    result = do_gc(open_repo(), scope, cloud, remote, dry_run, confirm)
    plan = result.plan
    for warning in plan.warnings:
        out.info(f"Warning: {warning}")
    if dry_run and json:
        out.json(_plan_json(plan))
        return
    if dry_run:
        _print_plan(plan, listing=True)
        return
    if result.temps_removed:
        out.info(
            f"Removed {plural(result.temps_removed, 'temp file')} "
            f"({human_size(result.temp_bytes)}) that interrupted commands left."
        )
    if plan.empty:
        out.info(f"Nothing to remove: everything in the cache is used by {plan.scope.describe()}.")
        return
    if not result.done:
        raise ArtverError("gc cancelled: nothing was removed")
    out.info(
        f"Removed {plural(result.deleted_local, 'object')} "
        f"({human_size(result.freed)}) from the cache."
    )
    if plan.remote_name is not None:
        out.info(
            f"Removed {plural(result.deleted_remote, 'object')} from remote {plan.remote_name}."
        )
    if result.runs_dropped:
        out.info(f"Dropped {plural(result.runs_dropped, 'recorded run')} whose outputs went.")


def _print_plan(plan: Any, listing: bool) -> None:
    if listing:
        for oid, size in plan.local.items():
            out.result(f"{oid}  {human_size(size)}")
        for oid in plan.remote:
            out.result(f"{oid}  (remote {plan.remote_name})")
    verb = "Would remove" if listing else "gc will remove"
    out.info(
        f"{verb} {plural(len(plan.local), 'object')} ({human_size(plan.local_bytes)}) "
        f"from the cache, keeping {plural(plan.kept, 'object')} used by {plan.scope.describe()}."
    )
    if plan.remote_name is not None:
        out.info(f"{verb} {plural(len(plan.remote), 'object')} from remote {plan.remote_name}.")
    if plan.temps and listing:
        out.info(
            f"Would remove {plural(len(plan.temps), 'temp file')} "
            f"({human_size(plan.temp_bytes)}) that interrupted commands left."
        )


def _plan_json(plan: Any) -> dict[str, Any]:
    return {
        "scope": plan.scope.describe(),
        "kept": plan.kept,
        "remove": [{"oid": oid, "size": size} for oid, size in plan.local.items()],
        "bytes": plan.local_bytes,
        "remote": plan.remote_name,
        "remove_remote": list(plan.remote),
        "temp_files": len(plan.temps),
        "warnings": list(plan.warnings),
    }


def register(app: typer.Typer) -> None:
    app.command()(diff)
    app.command()(gc)
