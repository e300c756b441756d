"""`artver lineage` and `artver log`: parse, call `artver.ops.lineage` / `artver.ops.log`, print.

Thin like cli.py; the Mermaid, Graphviz and JSON forms are made by the ops modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from artver.cli.common import JsonOpt, open_repo
from artver.ui import human_size, out, plural


def lineage(
    path: Annotated[str, typer.Argument(help="An output, a file inside one, or tracked data.")],
    rev: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--rev", help="Read it at this Git revision (default: the workspace)."),
    ] = None,
    json: JsonOpt = False,
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Mermaid flowchart.")] = False,
    dot: Annotated[bool, typer.Option("--dot", help="Graphviz dot.")] = False,
) -> None:
    """The stages and raw inputs that produced PATH: commands, inputs, params, environment."""
    from artver.errors import UsageError
    from artver.ops import lineage as ops

    if json + mermaid + dot > 1:
        raise UsageError("choose one of --json, --mermaid and --dot")
    result = ops.lineage(open_repo(), path, Path.cwd(), rev)
    if json:
        out.json(ops.to_dict(result))
    elif mermaid:
        out.result(ops.to_mermaid(result))
    elif dot:
        out.result(ops.to_dot(result))
    else:
        _print_lineage(result)


def _where(lin: Any) -> str:
    if lin.commit is None:
        return "in the workspace"
    return f"at {lin.side} ({lin.commit[:8]})"


def _print_lineage(lin: Any) -> None:
    inside = f" (inside {lin.artifact})" if lin.artifact != lin.target else ""
    if lin.producer is None:
        out.result(f"{lin.target}{inside}: raw data {_where(lin)}")
    else:
        out.result(f"{lin.target}{inside}: output of stage {lin.producer} {_where(lin)}")
    for stage in lin.stages:
        out.result("")
        out.result(f"stage {stage.name} ({stage.file})")
        _field("cmd", " && ".join(stage.cmd))
        if not stage.ran:
            _field("ran", "never (no lock entry)")
        _field("changed", _changed(stage))
        _fields("params", _params(stage.params))
        if stage.seed is not None:
            _field("seed", str(stage.seed))
        _fields("env", _env(stage.env_summary))
        if stage.resources:
            _field("resources", _pairs(stage.resources))
        _fields("observed", _observed(stage.observed))
        if stage.deps:
            out.result("    deps")
        for dep in stage.deps:
            out.result(f"        {_dep(dep)}")
    for item in lin.data:
        data = item.data
        out.result("")
        out.result(f"data {data.path}  {_version(data.oid, data.size, data.nfiles)}")
        _field("pointer", data.pointer)
        _field("changed", _changed(item))


def _field(name: str, text: str) -> None:
    out.result(f"    {name:<9} {text}")


def _fields(name: str, lines: list[str]) -> None:
    """A field of several lines: its name on the first only."""
    for i, line in enumerate(lines):
        _field("" if i else name, line)


def _changed(node: Any) -> str:
    if node.changed is None:
        return "not committed yet" if node.uncommitted else "-"
    c = node.changed
    when = c.date.replace("T", " ")
    older = " (or earlier: the clone is shallow)" if c.truncated else ""
    return f"{c.sha[:8]} {when} {c.author}: {c.subject}{older}"


def _params(params: dict[str, dict[str, Any]]) -> list[str]:
    from artver.stages.params import flatten

    lines = []
    for file, values in params.items():
        flat = {}
        for key, value in values.items():
            flat.update(flatten(value, key))
        lines.append(f"{file}: " + ", ".join(f"{k}={v}" for k, v in flat.items()))
    return lines


def _env(summary: dict[str, Any]) -> list[str]:
    lines = []
    python = summary.get("python")
    if python:
        line = f"python {python.get('version')} ({python.get('platform')})"
        line += f", {plural(summary.get('packages', 0), 'package')}"
        changed = summary.get("packages_changed")
        if not summary.get("previous_run"):
            line += "; first run"
        elif changed is None:
            line += "; the previous run recorded no packages"
        elif not changed:
            line += "; no package changed since the previous run"
        else:
            moved = ", ".join(f"{c['name']} {c['old'] or '(none)'} -> {c['new'] or '(none)'}"
                              for c in changed)  # fmt: skip
            line += f"; changed since the previous run: {moved}"
        lines.append(line)
    for key, value in summary.items():
        if key in ("python", "packages", "packages_changed", "previous_run"):
            continue
        lines.append(f"{key}: {_pairs(value) if isinstance(value, dict) else value}")
    return lines


def _observed(observed: dict[str, Any]) -> list[str]:
    """The run's start and duration on one line, then one line per part of the machine."""
    rest = dict(observed)
    when = [f"started {rest.pop('started')}"] if "started" in rest else []
    if "duration" in rest:
        when.append(f"took {rest.pop('duration')} s")
    lines = [", ".join(when)] if when else []
    for key, value in rest.items():
        if key == "memory" and isinstance(value, int):
            value = human_size(value)
        lines.append(f"{key}: {_pairs(value) if isinstance(value, dict) else value}")
    return lines


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _version(oid: str | None, size: int | None, nfiles: int | None) -> str:
    if oid is None:
        return "(not recorded)"
    shown = f"{oid[:12]}{'.dir' if oid.endswith('.dir') else ''}"
    if size is not None:
        shown += f"  {human_size(size)}"
    if nfiles is not None:
        shown += f" ({plural(nfiles, 'file')})"
    return shown


def _dep(dep: Any) -> str:
    name = dep.path + ("/" if dep.oid and dep.oid.endswith(".dir") else "")
    text = f"{name:<28} {_version(dep.oid, dep.size, dep.nfiles)}"
    if dep.kind == "stage":
        text += f"  <- stage {', '.join(dep.sources)}"
    elif dep.kind == "data":
        text += f"  <- data {', '.join(dep.sources)}"
    else:
        text += "  (in Git)"
    if dep.current:
        text += f"  [stale: now {dep.current[:12]}]"
    return text


def log(
    path: Annotated[str, typer.Argument(help="A tracked path (data or a stage output).")],
    all_refs: Annotated[
        bool, typer.Option("--all", help="Every branch, tag and ref, not only HEAD.")
    ] = False,
    number: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("-n", "--max-count", help="Show at most N versions.", show_default=False),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Every version of PATH across Git history: commit, date, author, oid, size, stage."""
    from artver.ops.lock_history import iso_date
    from artver.ops.log import log as do_log

    result = do_log(open_repo(), path, Path.cwd(), all_refs, number)
    if json:
        out.json(
            {
                "path": result.target,
                "scope": result.scope,
                "commits": result.commits,
                "shallow": result.truncated,
                "versions": [_entry_json(e, iso_date(e.time, e.tz)) for e in result.entries],
            }
        )
        return
    rows = []
    for e in result.entries:
        v = e.version
        date = iso_date(e.time, e.tz)[:16].replace("T", " ")
        size = "-" if v.size is None else human_size(v.size)
        files = "-" if v.nfiles is None else str(v.nfiles)
        oid = "(removed)" if v.oid is None else v.oid[:12] + (".dir" if v.is_dir else "")
        by = v.stage or "-"
        name = v.artifact if v.artifact != result.target else ""
        rows.append([e.commit[:8], date, e.author, oid, size, files, by, e.subject, name])
    columns = ["commit", "date", "author", "oid", "size", "files", "stage", "subject"]
    if any(r[-1] for r in rows):
        columns.append("artifact")
    else:
        rows = [r[:-1] for r in rows]
    out.table(columns, rows)
    if result.truncated:
        out.info("Note: this is a shallow clone; older versions are not in it.")


def _entry_json(e: Any, date: str) -> dict[str, Any]:
    v = e.version
    return {
        "commit": e.commit,
        "date": date,
        "author": e.author,
        "email": e.email,
        "subject": e.subject,
        "artifact": v.artifact,
        "oid": v.oid,
        "size": v.size,
        "nfiles": v.nfiles,
        "stage": v.stage,
        "source": v.source,
        "removed": v.oid is None,
    }


def register(app: typer.Typer) -> None:
    app.command()(lineage)
    app.command()(log)
