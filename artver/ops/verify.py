"""`artver verify [STAGE...] [--runs N]`: re-run stages hermetically and compare every output
file with the lock.

Each stage runs in a scratch directory (`ops.hermetic`) from its deps at the recorded oids,
its recorded params, cmd and seed; the workspace, its outputs and `artver.lock` are never
touched. Every file the outs hold (inside output directories too) is compared with what the
lock records: the same bytes prove the run reproducible here; a differing file is named, with
sizes and, for text, the first differing line. With `--runs N` the runs are compared with
each other too.

`persist` outs carry state from run to run, so a fresh run cannot be expected to give what the
lock records: they start empty (as on a first run), are not compared with the lock, and are
compared between runs with `--runs 2` or more. A stage whose every out is `persist` cannot be
verified with one run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from artver.errors import ArtverError
from artver.ops.hermetic import (
    Produced,
    check_run,
    remove_scratch,
    repo_path,
    run_hermetic,
)
from artver.ops.hermetic import spec_for as _spec_for
from artver.ops.hermetic_collect import ProducedOut
from artver.ops.hermetic_sources import Sources
from artver.repo import Repo
from artver.stages.determinism import Difference, Files, compare, first_difference
from artver.stages.lock import LockEntry
from artver.stages.schema import Stage

LINE_DIFF_MAX = 16 * 1024 * 1024  # files above this size are compared by hash only

Events = Callable[[str, str, list[str]], None]  # (stage, what happens, details)


class VerifyError(ArtverError):
    pass


class Comparison:
    """One comparison of a run's outputs: with the lock (`against` "lock") or another run."""

    __slots__ = ("against", "differences", "run")

    def __init__(self, run: int, against: str, differences: list[Difference]) -> None:
        self.run = run
        self.against = against
        self.differences = differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "against": self.against,
            "differences": [d.to_dict() for d in self.differences],
        }


class Verdict:
    """What verifying one stage found."""

    __slots__ = ("comparisons", "env_changes", "files", "name", "not_compared", "reason", "runs")

    def __init__(self, name: str, env_changes: list[str], runs: int) -> None:
        self.name = name
        self.env_changes = env_changes
        self.runs = runs
        self.files = 0  # output files compared with the lock
        self.comparisons: list[Comparison] = []
        self.not_compared: list[str] = []  # persist outs
        self.reason: str | None = None  # why it was skipped

    @property
    def status(self) -> str:
        if self.reason is not None:
            return "skipped"
        return "differs" if any(c.differences for c in self.comparisons) else "deterministic"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.name,
            "status": self.status,
            "files": self.files,
            "runs": self.runs,
            "env_changes": self.env_changes,
            "not_compared": self.not_compared,
            "reason": self.reason,
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


# -- the lock's side -------------------------------------------------------------------------------
def recorded_files(repo: Repo, path: str, oid: str, size: int) -> Files | None:
    """Every file an out recorded at `oid` held, by repo path; None for a directory whose
    manifest is neither in the cache nor in the workspace (it is compared as a whole)."""
    if not oid.endswith(".dir"):
        return {path: (oid, size)}
    manifest = None
    if repo.odb.exists(oid):
        manifest = repo.odb.read_manifest(oid)
    else:
        from artver.ops.snapshot import take

        if os.path.isdir(repo.root / path):
            snapshot = take(repo, repo.root / path, path)
            if snapshot.oid == oid:
                manifest = snapshot.manifest
    if manifest is None:
        return None
    return {f"{path}/{e.path}": (e.oid, e.size) for e in manifest.entries}


def produced_files(out: ProducedOut) -> Files:
    if out.nfiles is None:
        return {out.path: (out.oid, out.size)}
    return {f"{out.path}/{rel}": value for rel, value in out.files.items()}


def _recorded_bytes(repo: Repo, path: str, oid: str) -> bytes | None:
    """The recorded content of one file: its cache object, else the workspace file when it
    still holds that content (`cache: false` outs are not in the cache)."""
    from artver.cache.hashing import hash_bytes

    candidates = [repo.odb.path_of(oid), str(repo.root / path)]
    for candidate in candidates:
        try:
            if os.path.getsize(candidate) > LINE_DIFF_MAX:
                return None
            with open(candidate, "rb") as fobj:
                data = fobj.read()
        except OSError:
            continue
        if hash_bytes(data) == oid:
            return data
    return None


def _produced_bytes(path: str) -> bytes | None:
    try:
        if os.path.getsize(path) > LINE_DIFF_MAX:
            return None
        with open(path, "rb") as fobj:
            return fobj.read()
    except OSError:
        return None


def compare_with_lock(
    repo: Repo, stage: Stage, entry: LockEntry, produced: Produced, verdict: Verdict
) -> Comparison:
    """Differences between the outs `entry` records and what `produced` holds, persist outs
    left out (and listed in `verdict.not_compared`)."""
    spec = _spec_for(stage, entry)
    recorded: Files = {}
    made: Files = {}
    where: dict[str, str] = {}  # repo path -> the produced file
    not_compared = []
    for rec in entry.outs:
        path = repo_path(stage, rec.path)
        if path in spec.persist:
            not_compared.append(path)
            continue
        out = produced.outs.get(path)
        files = recorded_files(repo, path, rec.oid, rec.size) if rec.oid else {}
        if files is None:  # compared as one whole: the per-file record is gone
            recorded[path] = (rec.oid or "", rec.size)
            if out is not None:
                made[path] = (out.oid, out.size)
            continue
        recorded.update(files)
        if out is not None:
            produced_map = produced_files(out)
            made.update(produced_map)
            for name in produced_map:
                where[name] = str(produced.scratch / name)
    differences = compare(recorded, made)
    for diff in differences:
        if diff.kind == "changed" and diff.path in where:
            old = _recorded_bytes(repo, diff.path, recorded[diff.path][0])
            new = _produced_bytes(where[diff.path])
            if old is not None and new is not None:
                diff.line = first_difference(old, new)
    verdict.files = len(recorded)
    verdict.not_compared = not_compared
    return Comparison(0, "lock", differences)


def compare_runs(first: Produced, other: Produced, run: int) -> Comparison:
    """Differences between two runs' outputs (persist outs included: both started empty)."""
    a: Files = {}
    b: Files = {}
    for out in first.outs.values():
        a.update(produced_files(out))
    for out in other.outs.values():
        b.update(produced_files(out))
    differences = compare(a, b)
    for diff in differences:
        if diff.kind == "changed":
            old = _produced_bytes(str(first.scratch / diff.path))
            new = _produced_bytes(str(other.scratch / diff.path))
            if old is not None and new is not None:
                diff.line = first_difference(old, new)
    return Comparison(run, "run 1", differences)


# -- the command -----------------------------------------------------------------------------------
def _chosen(loaded: Any, names: list[str]) -> list[tuple[Stage, LockEntry]]:
    from artver.ops.pipeline import select

    pipeline = loaded.pipeline
    if not names:
        order = pipeline.order()
        return [
            (pipeline.stages[n], loaded.entry(pipeline.stages[n]))
            for n in order
            if loaded.entry(pipeline.stages[n]) is not None
        ]
    chosen = []
    for name in dict.fromkeys(select(loaded, names)):
        stage = pipeline.stages[name]
        entry = loaded.entry(stage)
        if entry is None:
            raise VerifyError(
                f"stage {name} has never run: artver.lock has no entry for it to verify",
                hint=f"Run `artver repro {name}` first.",
            )
        chosen.append((stage, entry))
    return chosen


def only_persist(stage: Stage, entry: LockEntry) -> bool:
    spec = _spec_for(stage, entry)
    return bool(spec.outs) and all(path in spec.persist for path in spec.outs)


def verify(
    repo: Repo,
    names: list[str],
    runs: int,
    events: Events,
    on_line: Callable[[str, str], None],
    report: Callable[[Verdict], None],
) -> list[Verdict]:
    """Verify the named stages (default: every stage with a lock entry); `report` gets each
    verdict as soon as it is known."""
    from artver.ops.pipeline import load

    if runs < 1:
        raise VerifyError(f"--runs must be at least 1; got {runs}")
    with repo.lock("artver verify") as lock_fd:
        loaded = load(repo)
        chosen = _chosen(loaded, names)
        for stage, entry in chosen:
            if names and only_persist(stage, entry) and runs < 2:
                raise VerifyError(
                    f"stage {stage.name} cannot be verified with one run: every out of it is "
                    "persist (carried over from run to run), so a fresh run cannot be "
                    "compared with the lock",
                    hint=f"`artver verify {stage.name} --runs 2` compares two fresh runs.",
                )
        head = HeadFiles(repo)
        try:
            return _verify_all(repo, chosen, runs, head, events, on_line, report, lock_fd)
        finally:
            head.close()


def _verify_all(repo, chosen, runs, head, events, on_line, report, lock_fd) -> list[Verdict]:
    from artver.ops.pipeline import Observer
    from artver.stages.envprint import env_changes

    sources = Sources(repo, read_git=head.read)
    # Every dep in the cache before anything runs: a missing one is one error, at once.
    sources.ensure([d for stage, entry in chosen for d in _spec_for(stage, entry).deps])
    observer = Observer(repo)
    verdicts = []
    for stage, entry in chosen:
        changes = env_changes(entry.env, observer.env(stage)) if entry.env else []
        verdict = Verdict(stage.name, changes, runs)
        if only_persist(stage, entry) and runs < 2:
            verdict.reason = "every out is persist: a fresh run cannot be compared with the lock"
            report(verdict)
            verdicts.append(verdict)
            continue
        if changes:
            events(stage.name, "environment differs", changes)
        _verify_stage(repo, stage, entry, verdict, events, on_line, lock_fd, head)
        report(verdict)
        verdicts.append(verdict)
    return verdicts


def _verify_stage(
    repo: Repo,
    stage: Stage,
    entry: LockEntry,
    verdict: Verdict,
    events: Events,
    on_line: Callable[[str, str], None],
    lock_fd: int | None,
    head: HeadFiles,
) -> None:
    spec = _spec_for(stage, entry)
    first: Produced | None = None
    try:
        for run in range(1, verdict.runs + 1):
            events(stage.name, "running", [f"run {run} of {verdict.runs}"])
            produced = run_hermetic(
                repo,
                stage,
                entry,
                None,
                params=params_reader(repo, head),
                on_line=on_line,
                lock_fd=lock_fd,
                keep=True,
            )
            try:
                check_run(stage.name, spec.outs, produced)
                against_lock = compare_with_lock(repo, stage, entry, produced, verdict)
                against_lock.run = run
                verdict.comparisons.append(against_lock)
                if first is None:
                    first, produced = produced, None  # kept for the runs after it
                else:
                    verdict.comparisons.append(compare_runs(first, produced, run))
            finally:
                if produced is not None:
                    remove_scratch(produced.scratch)
    finally:
        if first is not None:
            remove_scratch(first.scratch)


class HeadFiles:
    """Files as committed at HEAD (usually the source code the lock was made with), read
    from Git's object store; `read` gives None where there is no Git, commit or file."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._history: Any = None
        self._sha: str | None = None
        self._opened = False

    def read(self, path: str) -> bytes | None:
        if not self._opened:
            self._opened = True
            self._open()
        if self._sha is None:
            return None
        try:
            return self._history.read(self._sha, path)
        except (KeyError, OSError, ValueError):  # a blob Git cannot give back: not a source
            return None

    def _open(self) -> None:
        from artver.history import RevisionError, open_history
        from artver.ops.revisions import is_metadata
        from artver.scm import find_git_root

        if find_git_root(self.repo.root) is None:
            return
        try:
            self._history = open_history(self.repo.root, is_metadata)
            self._sha = self._history.resolve("HEAD")
        except RevisionError:
            self._sha = None  # no commit yet

    def close(self) -> None:
        if self._history is not None:
            self._history.close()
            self._history = None


def params_reader(repo: Repo, head: HeadFiles) -> Callable[[str], list[str | None]]:
    """A params file's candidate texts: the workspace's, then HEAD's."""

    def texts(file: str) -> list[str | None]:
        found: list[str | None] = []
        try:
            found.append((repo.root / file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            pass
        data = head.read(file)
        if data is not None:
            found.append(data.decode("utf-8", "replace"))
        return found

    return texts
