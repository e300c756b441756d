"""`artver exp ...`: parse, call `artver.ops.exp` / `artver.experiments`, print."""

from __future__ import annotations

import sys
import threading
from typing import Annotated, Optional

import typer

from artver.cli.common import JsonOpt, RemoteOpt, open_repo, sub_app
from artver.ui import out, plural

exp_app = sub_app("exp", "Experiments: run variants of the pipeline without committing.")

NamesArg = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional here
    typer.Argument(help="Experiment names.", show_default=False),
]


@exp_app.command("run")
def exp_run(
    stages: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(help="Stages to run (default: the whole pipeline).", show_default=False),
    ] = None,
    set_param: Annotated[
        list[str],
        typer.Option(
            "-S",
            "--set-param",
            help="[FILE:]KEY=VALUE to change, +KEY=VALUE to add, ~KEY to remove; "
            "a,b or range(..) sweeps.",
        ),
    ] = [],  # noqa: B006
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("-n", "--name", help="The experiment's name (default: generated)."),
    ] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Only add it to the queue.")] = False,
    run_all: Annotated[
        bool, typer.Option("--run-all", help="Run every queued experiment.")
    ] = False,
    jobs: Annotated[
        int, typer.Option("-j", "--jobs", help="Experiments run at once (with --run-all).")
    ] = 1,
) -> None:
    """Run the pipeline with changed params in an isolated worktree; the workspace stays."""
    from artver.ops.exp import ExperimentFailed
    from artver.ops.exp import run as do_run

    lock = threading.Lock()

    def on_line(stage: str, line: str) -> None:
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def on_event(stage: str, what: str, details: list[str]) -> None:
        if what == "running":
            out.info(f"Running stage {stage} ({'; '.join(details)})")
        elif what == "restored":
            out.info(f"Restored stage {stage} from the run cache")

    def notify(exp: str, what: str, detail: str) -> None:
        if what == "started":
            out.info(f"Started experiment {exp}")
        elif what == "success":
            out.info(f"Experiment {exp} succeeded")
        else:
            first = detail.splitlines()[0] if detail else ""
            out.info(f"Experiment {exp} failed: {first}")

    report = do_run(
        open_repo(), set_param, stages or [], name, queue, run_all, jobs, on_line, on_event, notify
    )
    for item in report.queued if not report.results else []:
        shown = " ".join(item.overrides) or "no param changes"
        out.result(f"Queued experiment {item.name} ({shown})")
    if report.queued and not report.results:
        out.info("Run the queue with: artver exp run --run-all [-j N]")
        return
    failed = [r for r in report.results if r.status == "failed"]
    if len(report.results) == 1:
        result = report.results[0]
        if failed:
            raise ExperimentFailed(
                f"experiment {result.name} failed (recorded as failed): {result.log}",
                hint="`artver exp show` lists it; fix the stage and run again.",
            )
        out.result(f"Ran experiment {result.name} ({result.sha[:7]})")
        out.info(
            f"Compare: artver exp show   Apply to the workspace: artver exp apply {result.name}"
        )
        return
    ok = len(report.results) - len(failed)
    out.result(f"Ran {plural(len(report.results), 'experiment')}: {ok} succeeded")
    if failed:
        names = ", ".join(r.name for r in failed)
        raise ExperimentFailed(
            f"{plural(len(failed), 'experiment')} failed: {names}",
            hint="Their last lines: artver exp show --json (or .artver/tmp/exps/logs/NAME.log)",
        )


@exp_app.command("show")
def exp_show(
    json: JsonOpt = False,
    csv: Annotated[bool, typer.Option("--csv", help="Comma-separated values.")] = False,
    md: Annotated[bool, typer.Option("--md", help="A Markdown table.")] = False,
    sort_by: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--sort-by", help="Sort experiments by this param or metric ([FILE:]KEY)."),
    ] = None,
    sort_order: Annotated[
        str, typer.Option("--sort-order", help="asc or desc (with --sort-by).")
    ] = "asc",
    only_changed: Annotated[
        bool, typer.Option("--only-changed", help="Only columns whose values differ.")
    ] = False,
    num: Annotated[
        int, typer.Option("-n", "--num", help="Baselines to show: HEAD and its parents.")
    ] = 1,
    all_commits: Annotated[
        bool, typer.Option("-A", "--all-commits", help="Every commit of the branches and tags.")
    ] = False,
) -> None:
    """A table of the baseline and its experiments: params, metrics, environment changes."""
    from artver.errors import UsageError
    from artver.experiments import table
    from artver.experiments.show import collect

    if json + csv + md > 1:
        raise UsageError("choose one of --json, --csv and --md")
    if sort_order not in ("asc", "desc"):
        raise UsageError(f"--sort-order takes asc or desc, not {sort_order!r}")
    if num < 1:
        raise UsageError("-n takes a number of at least 1")
    rows = collect(open_repo(), num, all_commits)
    rows = table.sort_rows(rows, sort_by, sort_order == "desc")
    keys = table.columns(rows, only_changed)
    if json:
        out.json(table.to_json(rows))
    elif csv:
        sys.stdout.write(table.to_csv(rows, keys))
    elif md:
        sys.stdout.write(table.to_markdown(rows, keys))
    else:
        names, cells = table.text_rows(rows, keys)
        out.table(names, cells)


@exp_app.command("diff")
def exp_diff(
    a: Annotated[str, typer.Argument(help="An experiment or Git revision.")],
    b: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="Another (default: A's baseline).", show_default=False),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Params and metrics that differ between two experiments (or revisions)."""
    from artver.ops.exp_diff import diff

    rows = diff(open_repo(), a, b)
    if json:
        out.json(rows)
        return
    if not rows["params"] and not rows["metrics"]:
        out.info(f"{rows['old']} and {rows['new']} have the same params and metrics")
        return
    for kind in ("params", "metrics"):
        if rows[kind]:
            columns = ["Path", kind.capitalize()[:-1] if kind == "params" else "Metric"]
            columns += [rows["old"], rows["new"], "Change"]
            out.table(
                columns,
                [
                    [r["file"], r["key"], _cell(r["old"]), _cell(r["new"]), _cell(r["change"])]
                    for r in rows[kind]
                ],
            )


def _cell(value: object) -> str:
    from artver.experiments.table import cell

    return cell(value)


@exp_app.command("apply")
def exp_apply(
    name: Annotated[str, typer.Argument(help="The experiment.")],
    force: Annotated[
        bool, typer.Option("-f", "--force", help="Overwrite uncommitted changes.")
    ] = False,
) -> None:
    """Put the experiment's params, locks, metrics and outputs into the workspace."""
    from artver.cli.common import git_add_hint
    from artver.experiments.manage import apply

    repo = open_repo()
    applied = apply(repo, name, force)
    for shown in applied.checked_out:
        out.info(f"Checked out {shown}")
    out.result(f"Applied experiment {applied.name}")
    git_add_hint([repo.root / p for p in applied.files])


@exp_app.command("branch")
def exp_branch(
    name: Annotated[str, typer.Argument(help="The experiment.")],
    branch: Annotated[str, typer.Argument(help="The new Git branch.")],
) -> None:
    """Make a Git branch of an experiment's commit."""
    from artver.experiments.manage import branch as do_branch

    sha = do_branch(open_repo(), name, branch)
    out.result(f"Branch {branch} is experiment {name} ({sha[:7]}); `git checkout {branch}`")


@exp_app.command("remove")
def exp_remove(
    names: NamesArg = None,
    queue: Annotated[bool, typer.Option("--queue", help="Every queued experiment.")] = False,
    all_: Annotated[bool, typer.Option("-A", "--all", help="Every experiment.")] = False,
) -> None:
    """Delete experiments (their refs)."""
    from artver.errors import UsageError
    from artver.experiments.manage import remove

    if not names and not queue and not all_:
        raise UsageError("name experiments to remove, or give --queue or --all")
    removed = remove(open_repo(), names or [], queue, all_)
    out.result(f"Removed {plural(len(removed), 'experiment')}" + (":" if removed else ""))
    for exp in removed:
        out.result(f"  {exp.name}")


@exp_app.command("list")
def exp_list(json: JsonOpt = False) -> None:
    """Experiments by baseline commit."""
    from artver.experiments.show import names_in

    grouped = names_in(open_repo())
    if json:
        out.json(
            {
                base: [{"name": e.name, "rev": e.sha, "status": e.status} for e in exps]
                for base, exps in grouped.items()
            }
        )
        return
    if not grouped:
        out.info("There are no experiments.")
    for base, exps in grouped.items():
        out.result(f"{base[:7]}:")
        for e in exps:
            out.result(f"  {e.name}" + ("" if e.status == "success" else f" ({e.status})"))


@exp_app.command("push")
def exp_push(
    git_remote: Annotated[str, typer.Argument(help="A Git remote (name or URL).")],
    names: NamesArg = None,
    remote: RemoteOpt = None,
) -> None:
    """Send experiments to a Git remote, and their data to the artver remote."""
    from artver.experiments.manage import push

    moved = push(open_repo(), git_remote, names or [], remote)
    _print_moved("Pushed", "to", git_remote, moved)


@exp_app.command("pull")
def exp_pull(
    git_remote: Annotated[str, typer.Argument(help="A Git remote (name or URL).")],
    names: NamesArg = None,
    remote: RemoteOpt = None,
) -> None:
    """Get experiments from a Git remote, and their data from the artver remote."""
    from artver.experiments.manage import pull

    moved = pull(open_repo(), git_remote, names or [], remote)
    _print_moved("Pulled", "from", git_remote, moved)


def _print_moved(verb: str, way: str, git_remote: str, moved) -> None:
    from artver.ui import transfer_summary

    if moved.experiments:
        shown = ", ".join(moved.experiments)
        count = plural(len(moved.experiments), "experiment")
        out.result(f"{verb} {count} {way} {git_remote}: {shown}")
    if moved.data is not None:
        what = "Data: pushed" if verb == "Pushed" else "Data: fetched"
        out.info(transfer_summary(what, moved.data))
    if moved.note:
        out.info(moved.note)


def register(app: typer.Typer) -> None:
    app.add_typer(exp_app, name="exp")
