"""`artver fsck`: parse, call `artver.ops.fsck`, print the report.

Thin like cli.py. The report goes to stdout (a result, printed even with -q); when anything
is left wrong the command then fails with one `error:` line (exit 1).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from artver.cli.common import JsonOpt, open_repo
from artver.ui import human_size, out, plural

FsckRemoteOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional here
    typer.Option(
        "-r",
        "--remote",
        help="Also re-hash every object on this remote (and fetch repairs from it).",
        show_default=False,
    ),
]


def fsck(
    remote: FsckRemoteOpt = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Quarantine corrupt objects in .artver/quarantine/ and fetch verified copies.",
        ),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Re-hash every cached object, check every manifest and find missing objects."""
    from artver.errors import ArtverError
    from artver.ops.fsck import fsck as do_fsck

    report = do_fsck(open_repo(), remote, repair)
    if json:
        out.json(report.to_dict())
    else:
        _print_report(report)
    if report.sound:
        return
    left = report.unresolved
    raise ArtverError(
        f"fsck found {plural(len(report.problems), 'problem')}"
        + (f", {len(left)} not repaired" if report.problems and repair else ""),
        hint=None
        if repair
        else "Run `artver fsck --repair` to quarantine the bad objects and "
        "fetch good copies from a remote.",
    )


def _print_report(report: Any) -> None:
    for problem in report.problems:
        where = "" if problem.where == "cache" else f" on {problem.where}"
        out.result(f"{problem.kind}: {problem.oid}{where}: {problem.detail}")
        users = ", ".join(f"{u.path} ({u.source})" for u in problem.users)
        out.result(f"    used by {users or 'nothing in the workspace'}")
        if problem.commits:
            out.result(f"    at {', '.join(problem.commits)}")
        if problem.quarantined:
            out.result(f"    bad bytes moved to {problem.quarantined}")
        if problem.repaired is not None:
            state = "repaired" if problem.repaired else "not repaired"
            out.result(f"    {state}: {problem.repair_note}")
    for note in report.notes:
        out.info(f"Note: {note}")
    checked = [_checked(report.cache)]
    if report.remote is not None:
        checked.append(_checked(report.remote))
    counts = ", ".join(f"{n} {kind}" for kind, n in _counts(report.problems).items())
    verdict = f"{plural(len(report.problems), 'problem')} ({counts})" if counts else "all sound"
    repaired = sum(1 for p in report.problems if p.repaired)
    if repaired:
        verdict += f", {repaired} repaired"
    out.result(f"Checked {' and '.join(checked)}: {verdict}.")


def _checked(store: Any) -> str:
    manifests = f", {plural(store.manifests, 'manifest')}" if store.manifests else ""
    where = "in the cache" if store.where == "cache" else f"on {store.where}"
    return f"{plural(store.objects, 'object')} ({human_size(store.bytes)}{manifests}) {where}"


def _counts(problems: list) -> dict[str, int]:
    from artver.ops.fsck_check import summary_counts

    return summary_counts(problems)


def register(app: typer.Typer) -> None:
    app.command()(fsck)
