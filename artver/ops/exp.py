"""`artver exp run`: what the command line asks, turned into queueing and running.

The pieces live in `artver.experiments` (overrides, records, runner, parallel, show, manage);
this module puts them in the order one invocation needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from artver.errors import ArtverError, UsageError
from artver.experiments import overrides as ov
from artver.experiments.parallel import Notify, run_all
from artver.experiments.runner import Queued, Result, queue, queued, run_queued
from artver.repo import Repo


class ExperimentFailed(ArtverError):
    pass


class RunReport(NamedTuple):
    queued: list[Queued]  # what was added to the queue
    results: list[Result]  # what ran


def run(
    repo: Repo,
    settings: list[str],
    stages: list[str],
    name: str | None,
    queue_only: bool,
    run_all: bool,
    jobs: int,
    on_line: Callable[[str, str], None],
    on_event: Callable[[str, str, list[str]], None],
    notify: Notify,
) -> RunReport:
    if jobs < 1:
        raise UsageError("-j must be at least 1")
    if run_all and (settings or name or stages or queue_only):
        raise UsageError("--run-all runs the queue as it is: give no -S, -n, --queue or STAGE")
    if run_all:
        items = queued(repo)
        if not items:
            raise ArtverError(
                "the queue is empty", hint="Queue experiments with: artver exp run --queue -S ..."
            )
        return RunReport([], _run_many(repo, items, jobs, notify))
    specs = [ov.parse(s) for s in settings]
    changes = ov.expand(specs)
    added = queue(repo, changes, stages, name)
    if queue_only:
        return RunReport(added, [])
    if len(added) > 1:  # a sweep without --queue: run the product now
        return RunReport(added, _run_many(repo, added, jobs, notify))
    result = run_queued(repo, added[0], on_line, on_event, jobs)
    return RunReport(added, [result])


def _run_many(repo: Repo, items: list[Queued], jobs: int, notify: Notify) -> list[Result]:
    logs = repo.artver_dir / "tmp" / "exps" / "logs"
    return run_all(repo, items, jobs, notify, logs)
