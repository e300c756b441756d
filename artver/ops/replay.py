"""`artver replay STAGE --rev REV`: re-run a stage as a past revision recorded it.

The stage's definition, its lock entry and its params files are read from Git at REV (no
checkout); its deps are placed at the locked oids from the cache, the workspace, Git at REV
or the default remote; it runs hermetically (`ops.hermetic`), its outputs are compared with
the lock at REV as `verify` compares them, and they are left in a directory of their own,
never in the workspace.

`--env recreate` (the default when the lock records the stage's Python packages) runs it
with the recorded Python environment rebuilt by `stages.envbuild`; `--env current` runs it
with the interpreter and packages of this machine.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from artver.errors import ArtverError
from artver.ops.hermetic import check_run, remove_scratch, run_hermetic, spec_for
from artver.ops.hermetic_sources import Sources
from artver.ops.verify import Events, Verdict, compare_with_lock
from artver.repo import Repo
from artver.stages.lock import LockEntry
from artver.stages.schema import Stage

ENV_MODES = ("recreate", "current")


class ReplayError(ArtverError):
    pass


class ReplayResult:
    __slots__ = ("commit", "env", "out_dir", "rev", "verdict")

    def __init__(self, rev: str, commit: str, env: str, out_dir: Path, verdict: Verdict) -> None:
        self.rev = rev
        self.commit = commit
        self.env = env
        self.out_dir = out_dir
        self.verdict = verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.verdict.to_dict(),
            "rev": self.rev,
            "commit": self.commit,
            "env": self.env,
            "output_dir": str(self.out_dir),
        }


def stage_at(revs: Any, commit: Any, name: str) -> tuple[Stage, LockEntry]:
    """The stage `name` as the artver.yaml files of `commit` define it, and its lock entry
    there; errors when it is not defined there or never ran there."""
    from artver.repo import PIPELINE_FILE
    from artver.safetext import LOCK_MAX, PIPELINE_MAX, BadText, decode
    from artver.stages.lock import lock_path_for, parse_lock
    from artver.stages.schema import PipelineError, bytes_params_reader, parse_file

    where = describe_commit(commit.label, commit.sha)
    names: list[str] = []
    for path, blob in revs.history.files_at(commit.sha):
        if posixpath.basename(path) != PIPELINE_FILE:
            continue
        try:
            text = decode(revs.history.blob(blob), PIPELINE_MAX, "pipeline")
        except BadText as exc:
            raise PipelineError(f"{path} at {where}: {exc}") from None
        params = bytes_params_reader(lambda rel: revs.read(commit, rel), where)
        for stage in parse_file(text, path, read_params=params):
            names.append(stage.name)
            if stage.name != name:
                continue
            lock = lock_path_for(path)
            data = revs.read(commit, lock)
            entries: dict[str, LockEntry] = {}
            if data is not None:
                try:
                    lock_text = decode(data, LOCK_MAX, "lock")
                except BadText as exc:
                    raise ReplayError(f"{lock} at {where}: {exc}") from None
                entries = parse_lock(lock_text, f"{lock} at {where}")
            entry = entries.get(name)
            if entry is None:
                raise ReplayError(
                    f"stage {name} never ran at {where}: {lock} there has no entry for it",
                    hint="Pick a revision where the stage had run (`git log artver.lock`).",
                )
            return stage, entry
    known = ", ".join(sorted(names)[:10]) or "none"
    raise ReplayError(
        f"stage {name!r} does not exist at {where} (stages there: {known})",
        hint="Pick a revision whose artver.yaml defines it (`git log artver.yaml`).",
    )


def env_mode(entry: LockEntry, asked: str | None) -> str:
    """`recreate` or `current`: as asked, else recreate when the lock lists packages."""
    if asked is not None and asked not in ENV_MODES:
        raise ReplayError(f"--env must be recreate or current; got {asked!r}")
    packages = (entry.env.get("python") or {}).get("packages")
    return asked or ("recreate" if packages else "current")


def describe_commit(label: str, sha: str) -> str:
    """`v1 (commit 3f2a9c1e)`; a label that is the commit's SHA (or a prefix of it) once."""
    if sha.startswith(label.lower()):
        return f"commit {sha[:8]}"
    return f"{label} (commit {sha[:8]})"


def recreatable(stage: Stage, entry: LockEntry, where: str) -> None:
    """Refuse `--env recreate` for a lock entry without a package list."""
    if not (entry.env.get("python") or {}).get("packages"):
        raise ReplayError(
            f"cannot recreate the environment of stage {stage.name} at {where}: its lock "
            "entry records no Python package list (it predates package recording, or the "
            "stage has no `env: {python: true}`)",
            hint="`--env current` runs it with this machine's Python and packages.",
        )


def recreated_python(entry: LockEntry, repo: Repo) -> str:
    """The bin directory of the recorded Python environment, rebuilt (or found built) by
    `stages.envbuild`, cached by what it holds under the cache directory. The workspace's
    own project (installed editable when the lock was made, in no index) is not installed."""
    try:
        from artver.stages.envbuild import project_names, python_for
    except ImportError:
        raise ReplayError(
            "this artver cannot recreate Python environments (artver.stages.envbuild is missing)",
            hint="`--env current` runs the stage with this machine's Python and packages.",
        ) from None
    return python_for(entry.env, repo.cache_dir, skip=project_names(repo.root))


def output_dir(repo: Repo, asked: Path) -> Path:
    """`asked`, checked: new or empty, and outside the work tree."""
    target = Path(os.path.abspath(asked))
    root, artver_dir = os.path.realpath(repo.root), os.path.realpath(repo.artver_dir)
    real = os.path.realpath(target)
    inside = real == root or real.startswith(root + os.sep)
    if inside and not (real == artver_dir or real.startswith(artver_dir + os.sep)):
        raise ReplayError(
            f"-o {asked}: the directory is inside the work tree, and replay never writes there",
            hint="Name a directory outside the repository, or leave -o out (a new directory "
            "under .artver/tmp/replay/).",
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ReplayError(f"-o {asked}: it exists and is not an empty directory")
    return target


def default_dir(repo: Repo, stage: Stage, sha: str) -> Path:
    """A new directory under `.artver/tmp/replay/`, named after the stage and commit."""
    import tempfile

    from artver.ops.hermetic import scratch_root

    base = scratch_root(repo) / "replay"
    base.mkdir(exist_ok=True)
    label = f"{stage.name.replace('@', '_')}-{sha[:8]}-"
    return Path(tempfile.mkdtemp(prefix=label, dir=base))


def replay(
    repo: Repo,
    name: str,
    rev: str,
    out: Path | None,
    env: str | None,
    events: Events,
    on_line: Callable[[str, str], None],
) -> ReplayResult:
    """Replay stage `name` as revision `rev` recorded it."""
    from artver.ops.revisions import Revisions

    with Revisions(repo) as revs:
        commit = revs.commit(rev)
        where = describe_commit(commit.label, commit.sha)
        stage, entry = stage_at(revs, commit, name)
        mode = env_mode(entry, env)

        def at_rev(path: str) -> bytes | None:
            return revs.read(commit, path)

        def params(file: str) -> list[str | None]:
            data = at_rev(file)
            return [data.decode("utf-8", "replace")] if data is not None else []

        if mode == "recreate":
            recreatable(stage, entry, where)
        target = output_dir(repo, out) if out is not None else None
        with repo.lock("artver replay") as lock_fd:
            Sources(repo, read_git=at_rev).ensure(spec_for(stage, entry).deps)
            prefix = None
            changes: list[str] = []
            if mode == "recreate":
                prefix = recreated_python(entry, repo)
            elif entry.env:
                from artver.ops.pipeline import Observer
                from artver.stages.envprint import env_changes

                changes = env_changes(entry.env, Observer(repo).env(stage))
            if changes:
                events(stage.name, "environment differs", changes)
            events(stage.name, "running", [f"as recorded at {where}"])
            verdict = Verdict(stage.name, changes, 1)
            produced = run_hermetic(
                repo, stage, entry, None, params, prefix, on_line, lock_fd, keep=True
            )
            try:
                check_run(stage.name, spec_for(stage, entry).outs, produced)
                verdict.comparisons.append(compare_with_lock(repo, stage, entry, produced, verdict))
                if target is None:
                    target = default_dir(repo, stage, commit.sha)
                target.mkdir(parents=True, exist_ok=True)
                for path, made in produced.outs.items():
                    dest = target / path
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(made.abspath, dest)
            finally:
                remove_scratch(produced.scratch)
        return ReplayResult(rev, commit.sha, mode, target, verdict)
