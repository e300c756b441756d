"""`artver import-dvc`: parse, call `artver.dvcimport`, print the report.

The report is the command's result (stdout, printed even with -q): what was converted, what
was not and why, and the `git add` / `git rm` that finish the job.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from artver.cli.common import JsonOpt
from artver.ui import out, plural

SOURCES = {"workspace": "from the workspace", "dvc-cache": "from DVC's cache"}


def import_dvc(
    path: Annotated[
        Path,
        typer.Option(
            "--path",
            help="The DVC project's directory (the one holding .dvc/).",
            show_default="the current directory",
        ),
    ] = Path("."),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be converted; write nothing.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Convert a DVC project into artver, in place: .dvc files, dvc.yaml, dvc.lock, config."""
    from artver.dvcimport import import_dvc as convert

    plan = convert(path, dry_run=dry_run)
    if json:
        out.json(plan.to_dict())
    else:
        _print(plan)
    if plan.failed:
        from artver.errors import ArtverError

        raise ArtverError(
            f"{plural(len(plan.failed), 'item')} could not be converted: " + "; ".join(plan.failed)
        )


def _print(plan: Any) -> None:
    would = not plan.applied
    out.result(f"{'Would convert' if would else 'Converted'} the DVC project in {plan.root}")
    if plan.init:
        out.result(f"  artver init: {'would create' if would else 'created'} .artver/")
    for item in plan.data:
        _print_data(item)
    for pipeline in plan.pipelines:
        out.result(f"  {pipeline.dvc_yaml} -> {pipeline.artver_yaml}")
        for change in pipeline.changes:
            out.result(f"      changed: {change}")
        for stage in pipeline.stages:
            _print_stage(stage, pipeline.artver_lock, would)
    for src, dst, _ in plan.ignores:
        out.result(f"  {src} -> {dst}")
    for setting in plan.settings:
        value = "****" if setting.secret else setting.value
        file = "config.local.yaml" if setting.level == "local" else "config.yaml"
        out.result(f"  config: {setting.key} = {value} -> .artver/{file}")
        if setting.exposed:
            out.result(
                "      warning: this secret was in the committed .dvc/config: Git's history "
                "still holds it; replace (rotate) it"
            )
    for skipped in plan.skipped_config:
        out.result(f"  config not carried: {skipped}")
    _print_git(plan, would)


def _print_data(item: Any) -> None:
    if item.status in ("convert", "converted"):
        out.result(f"  {item.dvc_file} -> {item.pointer} ({SOURCES[item.source]})")
        if item.note:
            out.result(f"      note: {item.path} {item.note}")
    elif item.status == "unchanged":
        out.result(f"  {item.dvc_file} -> {item.pointer} (already converted)")
    elif item.status == "failed":
        out.result(f"  {item.dvc_file}: FAILED: {item.note}")
    else:
        out.result(f"  {item.dvc_file}: NOT converted: {item.path} {item.note}")
    if item.out.dropped:
        out.result(f"      not carried: {', '.join(item.out.dropped)} (artver has no such keys)")


def _print_stage(stage: Any, lock: str, would: bool) -> None:
    if stage.status == "lock":
        out.result(f"      stage {stage.name}: {'would be ' if would else ''}recorded in {lock}")
    elif stage.status == "locked":
        out.result(f"      stage {stage.name}: recorded in {lock}")
    elif stage.status == "already locked":
        out.result(f"      stage {stage.name}: already in {lock}")
    elif stage.status == "failed":
        out.result(f"      stage {stage.name}: FAILED: {'; '.join(stage.reasons)}")
    else:
        why = "; ".join(stage.reasons)
        out.result(f"      stage {stage.name}: not recorded (`artver repro` will run it): {why}")


def _print_git(plan: Any, would: bool) -> None:
    add, rm = plan.git_add(), plan.git_rm()
    skipped = [d for d in plan.data if not d.source or d.status == "failed"]
    if skipped:
        out.result(
            f"\n{plural(len(skipped), 'output')} not converted: keep DVC for them, "
            "fix what is said above and run `artver import-dvc` again."
        )
    if not add and not rm:
        return
    lead = "Once converted, record" if would else "To record"
    out.result(f"\n{lead} the conversion in Git, run:\n")
    if add:
        out.result(f"    git add {_paths(plan, add)}")
    if rm:
        out.result(f"    git rm -r -q --ignore-unmatch -- {_paths(plan, rm)}")
    out.result("")
    if ".dvc" in rm:
        out.result(
            "DVC's cache (.dvc/cache) is left as it was: delete .dvc/ yourself once you no "
            "longer need DVC."
        )


def _paths(plan: Any, rels: list[str]) -> str:
    """Repo-relative paths as the user types them here (relative to the current directory)."""
    import os

    return " ".join(shlex.quote(os.path.relpath(plan.root / rel)) for rel in rels)


def register(app: typer.Typer) -> None:
    app.command(name="import-dvc")(import_dvc)
