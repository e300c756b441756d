"""Reproducibility commands: verify, replay.

Thin like cli.py: parse, call a use-case in artver.ops, print. The commands' own output goes
to stderr (hidden by -q), so that stdout holds the verdicts, or the one JSON document.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from artver.cli.common import JsonOpt, open_repo
from artver.ui import human_size, out, plural


def _on_line(stage: str, line: str) -> None:
    if not out.quiet:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _events(json: bool):
    def on_event(stage: str, what: str, details: list[str]) -> None:
        if what == "environment differs" and not json:
            out.result(
                f"{stage}: environment differs from the recorded one ({'; '.join(details)}): "
                "the result is evidence, not proof"
            )
        elif what == "running":
            out.info(f"Running stage {stage} hermetically ({'; '.join(details)})")

    return on_event


def _size(value: int | None) -> str:
    return "absent" if value is None else human_size(value)


def _difference_lines(diff) -> list[str]:
    if diff.kind == "missing":
        return [f"  {diff.path}: not produced ({_size(diff.recorded_size)} recorded)"]
    if diff.kind == "extra":
        return [f"  {diff.path}: produced ({_size(diff.produced_size)}), not recorded"]
    lines = [
        f"  {diff.path}: differs ({_size(diff.recorded_size)} recorded, "
        f"{_size(diff.produced_size)} produced)"
    ]
    if diff.line is not None:
        number, old, new = diff.line
        lines.append(f"    line {number}: recorded {old!r}, produced {new!r}")
    return lines


def _print_verdict(verdict, against: str = "the lock") -> None:
    name = verdict.name
    if verdict.status == "skipped":
        out.result(f"{name}: not verified ({verdict.reason})")
        return
    noted = f"; not compared with {against}: {', '.join(verdict.not_compared)} (persist)"
    note = noted if verdict.not_compared else ""
    if verdict.status == "deterministic":
        runs = f", {verdict.runs} runs" if verdict.runs > 1 else ""
        same = plural(verdict.files, "file")
        out.result(f"{name}: deterministic ({same} identical{runs}){note}")
        return
    for comparison in verdict.comparisons:
        if not comparison.differences:
            continue
        count = len(comparison.differences)
        run = f"run {comparison.run}" if verdict.runs > 1 else "the run"
        if comparison.against == "lock":
            total = plural(verdict.files, "file")
            head = f"{name}: {run} differs from {against} in {count} of {total}"
        else:
            head = (
                f"{name}: run {comparison.run} differs from {comparison.against} in {count} files"
            )
        out.result(head + note)
        for diff in comparison.differences:
            for line in _difference_lines(diff):
                out.result(line)


def verify(
    stages: Annotated[
        Optional[list[str]],  # noqa: UP045 - typer needs Optional here
        typer.Argument(help="Stage names (default: every stage that has run).", show_default=False),
    ] = None,
    runs: Annotated[
        int, typer.Option("--runs", help="Runs per stage, compared with each other too.")
    ] = 1,
    json: JsonOpt = False,
) -> None:
    """Re-run stages in a scratch directory and compare every output file with the lock."""
    from artver.ops.verify import verify as do_verify

    def report(verdict) -> None:
        if not json:
            _print_verdict(verdict)

    verdicts = do_verify(open_repo(), stages or [], runs, _events(json), _on_line, report)
    if json:
        out.json(
            {
                "deterministic": all(v.status != "differs" for v in verdicts),
                "stages": [v.to_dict() for v in verdicts],
            }
        )
    elif not verdicts:
        out.result("No stage has run yet: artver.lock records nothing to verify.")
    if any(v.status == "differs" for v in verdicts):
        raise typer.Exit(1)


def replay(
    stage: Annotated[str, typer.Argument(help="The stage to replay.")],
    rev: Annotated[str, typer.Option("--rev", help="The Git revision whose record to replay.")],
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "-o",
            "--output",
            help="Directory for the outputs (default: new, under .artver/tmp/replay/).",
            show_default=False,
        ),
    ] = None,
    env: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--env",
            help="recreate: the recorded Python environment; current: this one "
            "(default: recreate when the lock lists packages).",
            show_default=False,
        ),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Re-run a past stage hermetically, as REV recorded it, and compare with its lock."""
    from artver.ops.replay import replay as do_replay

    result = do_replay(open_repo(), stage, rev, output, env, _events(json), _on_line)
    if json:
        out.json(result.to_dict())
    else:
        _print_verdict(result.verdict, f"the lock at {rev}")
        out.result(f"Outputs of {stage} at {rev} are in {result.out_dir}")
    if result.verdict.status == "differs":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(verify)
    app.command()(replay)
