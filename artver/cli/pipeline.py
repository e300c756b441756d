"""Pipeline commands: stage add/list, repro, dag, params diff, metrics show.

Thin like cli.py: parse, call a use-case in artver.ops, print.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from artver.cli.common import JsonOpt, git_add_hint, open_repo, sub_app
from artver.ui import out

stage_app = sub_app("stage", "Define pipeline stages in artver.yaml.")
params_app = sub_app("params", "Parameters stages depend on.")
metrics_app = sub_app("metrics", "Metrics stages produce.")

StagesArg = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional here
    typer.Argument(help="Stage names (default: every stage).", show_default=False),
]


@stage_app.command("add")
def stage_add(
    command: Annotated[str, typer.Argument(help="The command the stage runs.")],
    name: Annotated[str, typer.Option("-n", "--name", help="Stage name.")],
    deps: Annotated[list[str], typer.Option("-d", "--deps", help="A dependency.")] = [],  # noqa: B006
    outs: Annotated[list[str], typer.Option("-o", "--outs", help="An output (cached).")] = [],  # noqa: B006
    outs_no_cache: Annotated[
        list[str], typer.Option("-O", "--outs-no-cache", help="An output kept out of the cache.")
    ] = [],  # noqa: B006
    params: Annotated[
        list[str], typer.Option("-p", "--params", help="KEY[,KEY] or FILE:KEY[,KEY].")
    ] = [],  # noqa: B006
    metrics: Annotated[list[str], typer.Option("-m", "--metrics", help="A metrics file.")] = [],  # noqa: B006
    wdir: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("-w", "--wdir", help="Directory the command runs in."),
    ] = None,
    force: Annotated[bool, typer.Option("-f", "--force", help="Replace a stage.")] = False,
) -> None:
    """Append a stage to artver.yaml (comments and order are kept)."""
    from artver.ops.stage import NewStage, add_stage

    new = NewStage(name, command, deps, outs, outs_no_cache, params, metrics, wdir)
    path = add_stage(open_repo(), new, Path.cwd(), force=force)
    out.info(f"Added stage {name} to {path.name}. Run `artver repro {name}` to run it.")


@stage_app.command("list")
def stage_list(json: JsonOpt = False) -> None:
    """The stages with their deps and outs, in run order."""
    from artver.ops.stage import list_stages

    rows = list_stages(open_repo())
    if json:
        out.json({"stages": rows})
        return
    for row in rows:
        out.result(f"{row['name']}: {' && '.join(row['cmd'])}")
        for dep in row["deps"]:
            out.result(f"    dep: {dep}")
        for path in row["outs"]:
            out.result(f"    out: {path}")


def _import_event(stage: str, what: str, details: list[str]) -> None:
    path = details[0]
    if what == "import updated":
        out.info(
            f"Updated {path} from its source URL, which changed (stage {stage} needs it; "
            f"`git add {path}.artver` records it)"
        )
    elif what == "import behind":
        out.info(f"{path} is behind its source URL: repro would update it (stage {stage})")
    elif what == "import unchecked":
        out.info(f"warning: cannot check {path} against its source ({details[1]}); using it as is")


def repro(
    stages: StagesArg = None,
    force: Annotated[bool, typer.Option("-f", "--force", help="Run even if up to date.")] = False,
    jobs: Annotated[int, typer.Option("-j", "--jobs", min=1, help="Stages run at once.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only.")] = False,
    downstream: Annotated[
        bool, typer.Option("--downstream", help="Also the stages after the targets, not before.")
    ] = False,
    keep_going: Annotated[
        bool, typer.Option("-k", "--keep-going", help="After a failure, finish independent stages.")
    ] = False,
    no_run_cache: Annotated[
        bool, typer.Option("--no-run-cache", help="Never restore outputs of an earlier run.")
    ] = False,
    hermetic: Annotated[
        bool,
        typer.Option("--hermetic", help="Run each stage with only its declared deps visible."),
    ] = False,
    single_item: Annotated[
        bool,
        typer.Option("-s", "--single-item", help="Only the named stages, not those before them."),
    ] = False,
    pull: Annotated[
        bool,
        typer.Option("--pull", help="First pull missing deps, outputs and runs from the remote."),
    ] = False,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="A missing dep or output alone makes no stage run."),
    ] = False,
    json: Annotated[
        bool, typer.Option("--json", help="With --dry-run: the plan as one JSON document.")
    ] = False,
) -> None:
    """Run stale stages in DAG order; independent stages in parallel with -j."""
    from artver.errors import UsageError
    from artver.ops.repro import Options
    from artver.ops.repro import repro as do_repro

    if json and not dry_run:
        raise UsageError("--json goes with --dry-run (a run prints the stages' own output)")
    if single_item and (downstream or not stages):
        raise UsageError("-s/--single-item needs STAGE names, and not --downstream")

    opts = Options(
        stages or [],
        force,
        downstream,
        dry_run,
        jobs,
        keep_going,
        not no_run_cache,
        hermetic,
        single_item,
        pull,
        allow_missing,
    )
    write_lock = threading.Lock()

    def on_line(stage: str, line: str) -> None:
        with write_lock:  # one whole line at a time, never interleaved mid-line
            sys.stdout.write(f"[{stage}] {line}\n" if jobs > 1 else line + "\n")
            sys.stdout.flush()

    def on_event(stage: str, what: str, details: list[str]) -> None:
        with write_lock:
            if what == "running":
                out.info(f"Running stage {stage} ({'; '.join(details)})")
            elif what == "restored":
                out.info(f"Restored stage {stage} from the run cache")
            elif what == "up to date" and out.verbose:
                out.info(f"Stage {stage} is up to date")
            elif what == "failed":
                out.info(f"Stage {stage} failed")
            elif what == "pulling":
                out.info(
                    f"Pulling what the stages need and the workspace lacks: {', '.join(details)}"
                )
            elif what == "skipped":
                out.info(f"Skipped stage {stage}: {'; '.join(details)}")
            elif what.startswith("import "):  # url imports the stages need (repro_imports)
                _import_event(stage, what, details)
            elif what == "not deterministic":
                for path in details:
                    out.info(
                        f"warning: stage {stage} is not deterministic: {path} changed with "
                        "identical inputs"
                    )

    outcomes = do_repro(open_repo(), opts, on_event, on_line)
    if dry_run and json:
        out.json({"stages": [{"name": o.name, "status": o.status, "reasons": o.reasons}
                             for o in outcomes]})  # fmt: skip
        return
    if dry_run:
        for o in outcomes:
            out.result(
                f"{o.name}: {o.status}" + (f" ({'; '.join(o.reasons)})" if o.reasons else "")
            )
        return
    changed = sorted({path for o in outcomes for path in o.changed})
    if changed:
        git_add_hint([Path(p) for p in changed])
    elif not any(o.status in ("ran", "restored") for o in outcomes):
        out.info("Data and pipelines are up to date.")


def dag(
    stages: StagesArg = None,
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Mermaid flowchart.")] = False,
    dot: Annotated[bool, typer.Option("--dot", help="Graphviz dot.")] = False,
    json: JsonOpt = False,
) -> None:
    """The pipeline graph (text, --mermaid, --dot or --json)."""
    from artver.errors import UsageError
    from artver.ops.pipeline import load, select

    if mermaid + dot + json > 1:
        raise UsageError("use one of --mermaid, --dot and --json")
    loaded = load(open_repo())
    pipeline = loaded.pipeline
    if not pipeline.stages and not json:
        out.result("No pipeline here (no artver.yaml).")
        return
    names = pipeline.upstream_closure(select(loaded, stages)) if stages else None
    if json:
        out.json(pipeline.to_dict(names))
    elif mermaid:
        out.result(pipeline.to_mermaid(names))
    elif dot:
        out.result(pipeline.to_dot(names))
    else:
        out.result(pipeline.to_text(names))


RevA = Annotated[
    Optional[str],  # noqa: UP045
    typer.Argument(help="Old Git revision.", show_default=False),
]
RevB = Annotated[
    Optional[str],  # noqa: UP045
    typer.Argument(help="New Git revision (default: the workspace).", show_default=False),
]


@params_app.command("diff")
def params_diff(
    a: RevA = None,
    b: RevB = None,
    show_all: Annotated[bool, typer.Option("--all", help="Unchanged params too.")] = False,
    json: JsonOpt = False,
) -> None:
    """Params now against the values each stage last ran with; or at revision A against B
    (default: the workspace)."""
    from artver.ops.metrics import params_diff as do_diff
    from artver.ops.metrics import params_diff_revisions

    if a is not None:
        old, new, rows = params_diff_revisions(open_repo(), a, b, show_all)
        _print_revision_diff("params", "file", old, new, rows, json)
        return
    rows = do_diff(open_repo(), show_all)
    if json:
        out.json({"params": rows})
        return
    if not rows:
        out.result("No params changed since the last run.")
        return
    out.table(
        ["stage", "file", "param", "last run", "now"],
        [[r["stage"], r["file"], r["key"], _shown(r["old"]), _shown(r["new"])] for r in rows],
    )


@metrics_app.command("diff")
def metrics_diff(
    a: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="Old Git revision (default HEAD).", show_default=False),
    ] = None,
    b: RevB = None,
    show_all: Annotated[bool, typer.Option("--all", help="Unchanged metrics too.")] = False,
    json: JsonOpt = False,
) -> None:
    """Metrics at revision A (default HEAD) against revision B (default: the workspace)."""
    from artver.ops.metrics import metrics_diff as do_diff

    old, new, rows = do_diff(open_repo(), a, b, show_all)
    _print_revision_diff("metrics", "path", old, new, rows, json)


def _print_revision_diff(
    kind: str, first: str, old: str, new: str, rows: list[dict], json: bool
) -> None:
    """Params or metrics of two revisions: JSON, a "nothing differs" line, or a table whose
    columns are `first`, the name, the two sides and the change."""
    if json:
        out.json({"old": old, "new": new, kind: rows})
    elif not rows:
        out.result(f"No {kind} differ between {old} and {new}.")
    else:
        out.table([first, kind.removesuffix("s"), old, new, "change"], _diff_rows(rows, first))


def _diff_rows(rows: list[dict], first: str) -> list[list[str]]:
    return [
        [
            r[first],
            r["key"],
            _shown(r["old"]),
            _shown(r["new"]),
            "" if r["change"] is None else f"{r['change']:+g}",
        ]
        for r in rows
    ]


@metrics_app.command("show")
def metrics_show(json: JsonOpt = False) -> None:
    """The values in the stages' metrics files."""
    from artver.ops.metrics import metrics_show as do_show

    rows = do_show(open_repo())
    if json:
        out.json({"metrics": rows})
        return
    if not rows:
        out.result("No metrics: no stage declares a metrics file.")
        return
    out.table(
        ["stage", "path", "metric", "value"],
        [
            [r["stage"], r["path"], r["key"] or "", r.get("error") or _shown(r.get("value"))]
            for r in rows
        ],
    )


def _shown(value: object) -> str:
    return "-" if value is None else str(value)


def register(app: typer.Typer) -> None:
    app.add_typer(stage_app, name="stage")
    app.add_typer(params_app, name="params")
    app.add_typer(metrics_app, name="metrics")
    app.command()(repro)
    app.command()(dag)
