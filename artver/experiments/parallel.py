"""`exp run --run-all -j N`: the queue, N experiments at a time, each in a forked process.

A forked child needs no new interpreter (start-up is most of a short experiment's overhead)
and shares nothing with its siblings: each has its own worktree, lock and state DB, and they
share only the cache, whose writes are atomic. Resources are handed out here, across all the
running experiments: each experiment reserves the most any of its stages declares (cpus,
memory, GPUs) and its stages see only the GPUs it was given (ARTVER_GPUS), so no GPU is
handed out twice. Which experiment starts next is the pure `startable`.
"""

from __future__ import annotations

import marshal
import os
import select
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from artver import gitcli
from artver.errors import ArtverError
from artver.experiments.runner import Queued, Result, record_crash, run_queued
from artver.repo import Repo
from artver.stages.resources import ResourcePool
from artver.stages.schema import Resources

Notify = Callable[[str, str, str], None]  # (experiment, what happens: "started"/status, detail)


class Waiting(NamedTuple):
    item: Queued
    needs: Resources


def peak(needs: list[Resources]) -> Resources:
    """What an experiment reserves: the most any one of its stages asks for (its stages run
    one at a time)."""
    return Resources(
        max((r.cpus for r in needs), default=0),
        max((r.memory for r in needs), default=0),
        max((r.gpus for r in needs), default=0),
    )


def startable(
    waiting: list[Waiting], running: int, jobs: int, pool: ResourcePool
) -> list[tuple[Waiting, list[str]]]:
    """The experiments to start now, in queue order, and the GPUs each is given: while fewer
    than `jobs` run, each that the pool can hold. One that must wait for resources does not
    hold back smaller ones behind it. `pool` is left with their reservations."""
    chosen = []
    for entry in waiting:
        if running + len(chosen) >= jobs:
            break
        gpus = pool.take(entry.needs)
        if gpus is not None:
            chosen.append((entry, gpus))
    return chosen


def needs_of(repo: Repo, items: list[Queued]) -> list[Resources]:
    """The peak resources of each queued commit's stages (those it runs), read through
    dulwich; the pipeline files they share are parsed once."""
    from artver.ops.revisions import Revisions
    from artver.repo import PIPELINE_FILE
    from artver.stages.schema import bytes_params_reader, parse_file

    parsed: dict[tuple[str, bytes], list[Any]] = {}
    found = []
    with Revisions(repo) as revisions:
        history = revisions.history
        for item in items:
            needs = []
            for rel, blob in history.files_at(item.sha):
                if os.path.basename(rel) != PIPELINE_FILE:
                    continue
                text = history.blob(blob).decode("utf-8", "replace")
                key = (rel, blob) if "${" not in text else (rel, item.sha.encode())
                if key not in parsed:
                    read = lambda p, s=item.sha: history.read(s, p)  # noqa: E731
                    reader = bytes_params_reader(read, item.name)
                    try:
                        parsed[key] = parse_file(text, rel, read_params=reader)
                    except (ArtverError, ValueError):  # a broken pipeline fails in its run
                        parsed[key] = []
                needs += [
                    s.resources for s in parsed[key] if not item.stages or s.name in item.stages
                ]
            found.append(peak(needs))
    return found


def run_all(repo: Repo, items: list[Queued], jobs: int, notify: Notify, logs: Path) -> list[Result]:
    """Run every queued experiment, `jobs` at a time; a failed one is a result like any."""
    from artver.config import gpu_override
    from artver.forked_map import can_fork
    from artver.stages.resources import ResourceError

    pool = ResourcePool.of_machine(gpu_override())
    waiting = []
    for item, needs in zip(items, needs_of(repo, items), strict=True):
        lacks = pool.missing(needs)
        if lacks:
            raise ResourceError(f"experiment {item.name} needs " + " and ".join(lacks))
        waiting.append(Waiting(item, needs))
    logs.mkdir(parents=True, exist_ok=True)
    if jobs == 1 or not can_fork():
        return [_in_process(repo, w.item, notify, logs) for w in waiting]
    _preload()
    gitcli.identity_env(repo.root)  # asked once here; the children inherit the answer
    results: list[Result] = []
    running: dict[int, tuple[Waiting, int, list[str], bytearray]] = {}  # fd -> ...
    try:
        while waiting or running:
            for entry, gpus in startable(waiting, len(running), jobs, pool):
                waiting.remove(entry)
                pid, fd = _fork(repo, entry.item, gpus, logs)
                running[fd] = (entry, pid, gpus, bytearray())
                notify(entry.item.name, "started", "")
            ready, _, _ = select.select(list(running), [], [])
            for fd in ready:
                entry, pid, gpus, buf = running[fd]
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    buf += chunk
                    continue
                os.close(fd)
                os.waitpid(pid, 0)
                del running[fd]
                pool.give_back(entry.needs, gpus)
                result = _decode(bytes(buf))
                if result is None:
                    result = record_crash(
                        repo, entry.item, f"the experiment's process died; see {_log(logs, entry)}"
                    )
                results.append(result)
                notify(result.name, result.status, result.log)
    finally:
        for fd, (_entry, pid, _gpus, _buf) in running.items():
            os.close(fd)
            os.waitpid(pid, 0)
    return results


def _preload() -> None:
    """Import here what every child's run needs: forked children inherit it instead of each
    importing it again (0.3 s, networkx half of it, per experiment, all at once)."""
    import artver.ops.checkout
    import artver.ops.pipeline
    import artver.ops.repro
    import artver.ops.targets
    import artver.stages.run  # noqa: F401
    from artver import state
    from artver.stages import graph

    graph.load_library()
    state.load_library()


def _log(logs: Path, entry: Waiting) -> Path:
    return logs / f"{entry.item.name}.log"


def _in_process(repo: Repo, item: Queued, notify: Notify, logs: Path) -> Result:
    notify(item.name, "started", "")
    with open(logs / f"{item.name}.log", "w", encoding="utf-8") as log:

        def line(stage: str, text: str) -> None:
            log.write(f"[{stage}] {text}\n")

        result = run_queued(repo, item, line, lambda *_: None)
    notify(result.name, result.status, result.log)
    return result


def _fork(repo: Repo, item: Queued, gpus: list[str], logs: Path) -> tuple[int, int]:
    from artver.forked_map import fork_child

    log_path = logs / f"{item.name}.log"

    def produce(write: Callable[[bytes], None]) -> None:
        # A list, never a count: "1," is GPU 1, where "1" would be one GPU (GPU 0).
        os.environ["ARTVER_GPUS"] = "".join(f"{g}," for g in gpus)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        with open(log_path, "a", encoding="utf-8", buffering=1) as log:

            def line(stage: str, text: str) -> None:
                log.write(f"[{stage}] {text}\n")

            try:
                result = run_queued(Repo(repo.root), item, line, lambda *_: None)
            except BaseException:  # the parent records it as failed, naming this log
                import traceback

                log.write(traceback.format_exc())
                raise
        write(marshal.dumps(tuple(result)))

    return fork_child(produce)


def _decode(data: bytes) -> Result | None:
    try:
        return Result(*marshal.loads(data))
    except (EOFError, ValueError, TypeError):
        return None
