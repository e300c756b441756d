"""`artver repro`: run stale stages in DAG order, independent ones in parallel.

The main thread plans and records; children run the commands (see stages/run.py). A stage's
staleness is decided when it becomes ready, after its upstream stages have run, so a stage
whose inputs came out unchanged is not re-run. The lock is rewritten after every stage that
succeeds, so an interruption or a failure leaves it describing exactly what finished.
"""

from __future__ import annotations

import os
import posixpath
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from artver import scm
from artver.errors import ArtverError
from artver.ops.pipeline import Loaded, Observer, load, run_key, select
from artver.repo import Repo
from artver.stages.lock import LockEntry, Recorded, lock_document, lock_path_for, write_lock
from artver.stages.schema import Stage
from artver.stages.status import Observed, stale_reasons

# What only running a stage needs (caching outputs, restoring from the run cache, child
# processes, the machine's resources) is imported when a stage runs: a no-op repro skips it.
if TYPE_CHECKING:
    from artver.stages.resources import ResourcePool
    from artver.stages.run import Finished, Runner

RAN, RESTORED, UP_TO_DATE, FAILED, SKIPPED = "ran", "restored", "up to date", "failed", "skipped"


class StageFailed(ArtverError):
    pass


# Plain classes, not dataclasses: generating one costs start-up time on every command.
class Outcome:
    __slots__ = ("changed", "name", "reasons", "returncode", "status", "tail")

    def __init__(
        self,
        name: str,
        status: str,
        reasons: list[str] | None = None,
        returncode: int | None = None,
        tail: list[str] | None = None,
        changed: list[str] | None = None,
    ) -> None:
        self.name = name
        self.status = status
        self.reasons = [] if reasons is None else reasons
        self.returncode = returncode
        self.tail = [] if tail is None else tail
        self.changed = [] if changed is None else changed  # files to `git add` (absolute paths)


class Options:
    __slots__ = (
        "allow_missing",
        "downstream",
        "dry_run",
        "force",
        "hermetic",
        "jobs",
        "keep_going",
        "pull",
        "run_cache",
        "single_item",
        "targets",
    )

    def __init__(
        self,
        targets: list[str] | None = None,
        force: bool = False,
        downstream: bool = False,
        dry_run: bool = False,
        jobs: int = 1,
        keep_going: bool = False,
        run_cache: bool = True,
        hermetic: bool = False,
        single_item: bool = False,
        pull: bool = False,
        allow_missing: bool = False,
    ) -> None:
        self.hermetic = hermetic  # run each stage with only its declared deps (hermetic_repro)
        self.single_item = single_item  # only the targets, not the stages they depend on
        self.pull = pull  # first fetch missing deps, outputs and runs from the default remote
        self.allow_missing = allow_missing  # a missing recorded dep or out makes no stage stale
        self.targets = [] if targets is None else targets
        self.force = force
        self.downstream = downstream
        self.dry_run = dry_run
        self.jobs = jobs
        self.keep_going = keep_going
        self.run_cache = run_cache


Events = Callable[[str, str, list[str]], None]  # (stage, what happens, details)


def _selection(loaded: Loaded, opts: Options) -> list[str]:
    pipeline = loaded.pipeline
    if not opts.targets:
        return pipeline.order()
    chosen = select(loaded, opts.targets)
    if opts.single_item:
        return pipeline.order(chosen)
    closure = (
        pipeline.downstream_closure(chosen)
        if opts.downstream
        else pipeline.upstream_closure(chosen)
    )
    return pipeline.order(closure)


def _check_inputs(repo: Repo, loaded: Loaded, names: list[str]) -> None:
    """Everything that can be known wrong before a single stage runs."""
    observer = Observer(repo)
    for name in names:
        observer.params(loaded.pipeline.stages[name])  # a missing file or key raises
    missing = []
    for stage_name, deps in loaded.pipeline.unproduced_deps().items():
        if stage_name in names:
            missing += [
                f"{dep} (stage {stage_name})"
                for dep in deps
                if not os.path.lexists(repo.root / dep)
            ]
    if missing:
        raise ArtverError(
            "these dependencies do not exist and no stage produces them: " + ", ".join(missing),
            hint="Create or `artver pull` them, or fix the deps in artver.yaml.",
        )


def _check_resources(
    repo: Repo,
    loaded: Loaded,
    names: list[str],
    pool_of: Callable[[], ResourcePool],
    force: bool,
) -> None:
    """Refuse before anything runs when a stage that must run needs more than the machine
    has; stages that are up to date may ask for anything."""
    if not any(loaded.pipeline.stages[n].resources.to_dict() for n in names):
        return  # nothing declares resources: the machine need not be probed (nvidia-smi)
    from artver.stages.resources import ResourceError

    pool = pool_of()
    lacking = {n: pool.missing(loaded.pipeline.stages[n].resources) for n in names}
    lacking = {n: lacks for n, lacks in lacking.items() if lacks}
    if not lacking:
        return
    would_run = {o.name for o in plan(repo, loaded, names, force) if o.reasons}
    problems = [
        f"stage {n} needs " + " and ".join(lacks) for n, lacks in lacking.items() if n in would_run
    ]
    if problems:
        raise ResourceError("; ".join(problems))


def plan(
    repo: Repo, loaded: Loaded, names: list[str], force: bool, allow_missing: bool = False
) -> list[Outcome]:
    """What a run would do, assuming every stale stage changes what it produces."""
    observer = Observer(repo)
    will_run: set[str] = set()
    outcomes = []
    for name in names:
        stage = loaded.pipeline.stages[name]
        entry = loaded.entry(stage)
        upstream = [p for p in loaded.pipeline.predecessors(name) if p in will_run]
        observed = observer.observe(stage, entry)
        reasons = stale_reasons(stage, entry, observed, upstream, allow_missing)
        if force and not stage.frozen and not reasons:
            reasons = ["forced"]
        if reasons:
            will_run.add(name)
        status = "would run" if reasons else ("frozen" if stage.frozen else UP_TO_DATE)
        outcomes.append(Outcome(name, status, reasons))
    return outcomes


class _Execution:
    def __init__(
        self,
        repo: Repo,
        loaded: Loaded,
        opts: Options,
        events: Events,
        on_line,
        lock_fd: int | None = None,
    ):
        self.repo = repo
        self.lock_fd = lock_fd  # the repository lock, which stage processes must not outlive
        self.loaded = loaded
        self.opts = opts
        self.events = events
        self.observer = Observer(repo)
        self.on_line = on_line
        self.outcomes: dict[str, Outcome] = {}
        self.started: dict[str, tuple[Observed, list[str]]] = {}
        self.began: dict[str, float] = {}  # stage -> time.time() it started (lock `observed`)
        self.hermetic = _hermetic(repo, opts)
        # {lock file: {stage: {out path: oid}}} of outs kept in Git (`cache: false`, metrics)
        # before this run: those it changes are named in the `git add` hint.
        self.in_git_before = {
            file: {name: _uncached_outs(entry) for name, entry in entries.items()}
            for file, entries in loaded.locks.items()
        }

    @cached_property
    def runner(self) -> Runner:
        from artver.stages.run import Runner

        return Runner(self.on_line, self.lock_fd)

    @cached_property
    def pool(self) -> ResourcePool:
        from artver.stages.resources import ResourcePool

        return ResourcePool.of_machine(_gpu_override())

    @property
    def running(self) -> int:
        return self.runner.running if "runner" in self.__dict__ else 0

    # -- the loop ---------------------------------------------------------------------------
    def run(self, names: list[str]) -> list[Outcome]:
        _check_resources(self.repo, self.loaded, names, lambda: self.pool, self.opts.force)
        # .gitignore lines in pipeline order, not in the order parallel stages finish: a
        # directory dep containing that .gitignore must hash the same from run to run.
        from artver.ops.placement import check_tracked_path

        for name in names:  # before any directory or .gitignore is made for them
            for out in self.loaded.pipeline.stages[name].outs:
                path = self.repo.root / out.path
                check_tracked_path(self.repo, path, out.path, is_dir=path.is_dir())
        ignores = []
        for name in names:
            for out in self.loaded.pipeline.stages[name].cached_outs:
                (self.repo.root / out.path).parent.mkdir(parents=True, exist_ok=True)
                changed = scm.ensure_ignored(self.repo.root / out.path)
                if changed:
                    ignores.append(str(changed))
        pending = list(names)
        selected = set(names)
        stopping = False
        try:
            while pending or self.running:
                progressed = False
                for name in list(pending):
                    if stopping:
                        break
                    preds = [p for p in self.loaded.pipeline.predecessors(name) if p in selected]
                    if any(p not in self.outcomes for p in preds):
                        continue
                    if any(self.outcomes[p].status in (FAILED, SKIPPED) for p in preds):
                        pending.remove(name)
                        self.outcomes[name] = Outcome(name, SKIPPED, ["an upstream stage failed"])
                        self.events(name, SKIPPED, ["an upstream stage failed"])
                        progressed = True
                        continue
                    if self.running >= self.opts.jobs:
                        break
                    if self._begin(name):
                        pending.remove(name)
                        progressed = True
                if stopping and not self.running:
                    break
                if self.running and not progressed:
                    failed = self._finish(self.runner.wait())
                    if failed and not self.opts.keep_going:
                        stopping = True
                elif not self.running and not progressed:
                    break  # waiting on resources nothing will free: cannot happen after checks
        except BaseException:
            if self.running:
                self.runner.stop_all()
            raise
        finally:
            if "runner" in self.__dict__:
                self.runner.close()
            if self.hermetic is not None:
                self.hermetic.close()
        for name in names:
            self.outcomes.setdefault(name, Outcome(name, SKIPPED, ["stopped after a failure"]))
            outcome = self.outcomes[name]
            if outcome.status in (RAN, RESTORED):
                stage = self.loaded.pipeline.stages[name]
                lock = lock_path_for(stage.file)
                outcome.changed.append(str(self.repo.root / lock))
                before = self.in_git_before.get(stage.file, {}).get(name, {})
                now = _uncached_outs(self.loaded.entry(stage))
                outcome.changed += [
                    str(self.repo.root / posixpath.dirname(stage.file) / path)
                    for path in changed_outs(before, now)
                ]
        if names and ignores:
            self.outcomes[names[0]].changed += ignores
        return [self.outcomes[n] for n in names]

    def _begin(self, name: str) -> bool:
        """Decide what `name` needs; start it if it must run. False when it must wait."""
        stage = self.loaded.pipeline.stages[name]
        entry = self.loaded.entry(stage)
        observed = self.observer.observe(stage, entry)
        reasons = stale_reasons(stage, entry, observed, allow_missing=self.opts.allow_missing)
        if self.opts.force and not stage.frozen and not reasons:
            reasons = ["forced"]
        if not reasons:
            self.outcomes[name] = Outcome(name, UP_TO_DATE)
            self.events(name, UP_TO_DATE, [])
            return True
        if self._restore_from_run_cache(stage, observed, reasons):
            return True
        gpus = self.pool.take(stage.resources)
        if gpus is None:
            return False
        self._remove_outputs(stage)
        cwd = self.repo.root / stage.wdir
        if self.hermetic is not None:
            cwd = self.hermetic.prepare(stage, observed)
        self.started[name] = (observed, gpus)
        self.began[name] = time.time()
        self.events(name, "running", reasons)
        self.runner.start(name, stage.cmd, cwd, _child_env(stage, gpus))
        return True

    def _finish(self, done: Finished) -> bool:
        """Record a finished stage; True when it failed."""
        stage = self.loaded.pipeline.stages[done.name]
        observed, gpus = self.started.pop(done.name)
        self.pool.give_back(stage.resources, gpus)
        for out in stage.outs:
            self.observer.forget(out.path)
        why = []  # with --hermetic: the dep to declare, when it read an undeclared file
        if self.hermetic is not None:
            why = self.hermetic.finish(stage, done.returncode, done.tail)
        if done.returncode != 0:
            self.outcomes[done.name] = Outcome(done.name, FAILED, why, done.returncode, done.tail)
            self.events(done.name, FAILED, done.tail)
            return True
        absent = [o.path for o in stage.outs if not os.path.lexists(self.repo.root / o.path)]
        if absent:
            message = f"it did not produce {', '.join(absent)}"
            self.outcomes[done.name] = Outcome(done.name, FAILED, [message], 0, done.tail)
            self.events(done.name, FAILED, [message])
            return True
        previous = self.loaded.entry(stage)
        entry = self._record(stage, observed, run=self._observed_run(stage, gpus))
        from artver.stages.determinism import changed_with_same_inputs

        changed = changed_with_same_inputs(stage, previous, entry)
        if changed:  # `repro -f`, or a run-cache miss, on exactly the recorded inputs
            self.events(done.name, "not deterministic", changed)
        self.outcomes[done.name] = Outcome(done.name, RAN)
        self.events(done.name, RAN, [])
        return False

    # -- recording ----------------------------------------------------------------------------
    def _record(
        self,
        stage: Stage,
        observed: Observed,
        outs: list[Recorded] | None = None,
        run: dict | None = None,
    ) -> LockEntry:
        return record_stage(
            self.repo, self.loaded, self.observer, stage, observed, outs, self.opts.run_cache, run
        )

    def _observed_run(self, stage: Stage, gpus: list[str]) -> dict:
        """The lock's `observed` block: machine, start, duration (stages/hardware.py)."""
        from artver.stages.hardware import observed

        python = self.observer.python_info(stage).get("executable") if stage.env.python else None
        return observed(self.began.pop(stage.name), time.time(), gpus, python)

    def _restore_from_run_cache(self, stage: Stage, observed: Observed, reasons) -> bool:
        if not (self.opts.run_cache and _run_cacheable(stage)) or self.opts.force:
            return False
        from artver.ops.checkout import restore
        from artver.ops.targets import Target
        from artver.pointer import Output
        from artver.stages import runcache

        found = runcache.lookup(self.repo.cache_dir, run_key(stage, observed))
        if found is None:
            return False
        outs = [Recorded.from_dict(o) for o in found]
        targets = []
        for rec in outs:
            if rec.oid is None:
                return False
            path = self.repo.root / _repo_path(stage, rec.path)
            target = Target(path, Output(path.name, rec.oid, rec.size, rec.nfiles), rec.path)
            targets.append(target)
        try:
            restore(self.repo, targets, force=False)
        except ArtverError:
            return False  # objects gone or local edits in the way: run it for real
        for out in stage.outs:
            self.observer.forget(out.path)
        self._record(stage, observed, outs)
        self.outcomes[stage.name] = Outcome(stage.name, RESTORED, reasons)
        self.events(stage.name, RESTORED, reasons)
        return True

    def _remove_outputs(self, stage: Stage) -> None:
        """Clear non-persistent outputs, first keeping a copy of cached content that exists
        nowhere else (nothing is lost, even output the user edited by hand)."""
        import shutil

        from artver.ops.add import cache_path
        from artver.ops.placement import check_tracked_path

        for out in stage.outs:
            if out.persist:
                continue
            path = self.repo.root / out.path
            if not os.path.lexists(path):
                continue
            # Never delete through a link out of the repository (a directory above the
            # output, or the output itself, that someone made a symlink).
            check_tracked_path(self.repo, path, out.path, is_dir=path.is_dir())
            if out.cache:
                cache_path(self.repo, path, out.path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            self.observer.forget(out.path)
        for out in stage.outs:
            (self.repo.root / out.path).parent.mkdir(parents=True, exist_ok=True)


def record_stage(
    repo: Repo,
    loaded: Loaded,
    observer: Observer,
    stage: Stage,
    observed: Observed,
    outs: list[Recorded] | None = None,
    run_cache: bool = True,
    run: dict | None = None,
) -> LockEntry:
    """Cache the stage's outputs and write its lock entry (and its run-cache entry); `run`:
    the entry's `observed` block (what the run ran on; not part of the identity)."""
    from artver.ops.add import cache_path
    from artver.stages import runcache

    if outs is None:
        outs = []
        for out in stage.outs:
            path = repo.root / out.path
            if out.cache:
                cached = cache_path(repo, path, out.path)
                scm.ensure_ignored(path)
                observer.forget(out.path)
                outs.append(
                    Recorded(_rel(stage, out.path), cached.oid, cached.size, cached.nfiles, True)
                )
            else:
                outs.append(observer.recorded(stage, out.path, cache=False))
    entry = LockEntry(
        cmd=list(stage.cmd),
        deps=[
            observer.recorded(stage, d) if observed.deps.get(d) else Recorded(_rel(stage, d), None)
            for d in stage.deps
        ],
        params=observed.params,
        outs=outs,
        env=observed.env,
        resources=stage.resources.to_dict(),
        seed=stage.seed,
        observed=run,
    )
    locks = loaded.locks.setdefault(stage.file, {})
    locks[stage.name] = entry
    for gone in [n for n in locks if n not in loaded.pipeline.stages]:
        del locks[gone]  # stages deleted from artver.yaml leave the lock with their next run
    loaded.written[stage.file] = write_lock(repo.root, stage.file, locks)
    if run_cache and _run_cacheable(stage):
        runcache.save(repo.cache_dir, run_key(stage, observed), [o.to_dict() for o in outs])
    return entry


def _rel(stage: Stage, path: str) -> str:
    base = posixpath.dirname(stage.file)
    return posixpath.relpath(path, base) if base else path


def _repo_path(stage: Stage, rel: str) -> str:
    base = posixpath.dirname(stage.file)
    return posixpath.normpath(posixpath.join(base, rel)) if base else rel


def _run_cacheable(stage: Stage) -> bool:
    """Only runs whose every output is cached can be restored from the cache."""
    return (
        bool(stage.outs)
        and not stage.always_changed
        and all(o.cache and not o.persist for o in stage.outs)
    )


def _hermetic(repo: Repo, opts: Options):
    """The scratch directories of `--hermetic` (or `core.hermetic: true`); None otherwise."""
    if not (opts.hermetic or repo.config.hermetic):
        return None
    from artver.ops.hermetic_repro import HermeticRepro

    return HermeticRepro(repo)


def _gpu_override() -> str | None:
    from artver.config import gpu_override

    return gpu_override()


def _child_env(stage: Stage, gpus: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    env["ARTVER_STAGE"] = stage.name
    if stage.seed is not None:
        env["ARTVER_SEED"] = str(stage.seed)
        env["PYTHONHASHSEED"] = str(stage.seed)
    if stage.resources.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    return env


def repro(repo: Repo, opts: Options, events: Events, on_line) -> list[Outcome]:
    if opts.pull:
        from artver.ops.repro_pull import pull_missing

        loaded = load(repo)
        pull_missing(repo, loaded, _selection(loaded, opts), events)
    with repo.lock("artver repro") as lock_fd, repo.state.deferred():
        loaded = load(repo)
        names = _selection(loaded, opts)
        from artver.ops.repro_imports import update_url_deps  # url imports behind their sources

        update_url_deps(repo, loaded, names, events, opts.dry_run)
        if not opts.allow_missing:
            _check_inputs(repo, loaded, names)
        if opts.dry_run:
            return plan(repo, loaded, names, opts.force, opts.allow_missing)
        try:
            outcomes = _Execution(repo, loaded, opts, events, on_line, lock_fd).run(names)
        finally:
            # The next command reads these locks: give it their parse, not the YAML parser.
            for file, text in loaded.written.items():
                repo.remember_parsed(lock_path_for(file), text, lock_document(loaded.locks[file]))
    failed = [o for o in outcomes if o.status == FAILED]
    if failed:
        first = failed[0]
        detail = "; ".join(
            [f"exited with code {first.returncode}", *first.reasons]
            if first.returncode
            else first.reasons
        )
        tail = "\n".join(f"  | {line}" for line in first.tail[-10:])
        others = f" ({len(failed) - 1} more failed)" if len(failed) > 1 else ""
        raise StageFailed(
            f"stage {first.name} failed: {detail}{others}" + (f"\n{tail}" if tail else ""),
            hint="The lock records only the stages that succeeded; fix it and run repro again.",
        )
    return outcomes


def _uncached_outs(entry: LockEntry | None) -> dict[str, str | None]:
    """{path: oid} of an entry's outs that are kept in Git rather than in the cache."""
    return {} if entry is None else {o.path: o.oid for o in entry.outs if not o.cache}


def changed_outs(before: dict[str, str | None], now: dict[str, str | None]) -> list[str]:
    """The outs whose recorded content is new or differs from before. Pure."""
    return sorted(path for path, oid in now.items() if oid is None or before.get(path) != oid)
