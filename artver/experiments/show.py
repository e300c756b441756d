"""Reading experiments and their baselines out of Git for `exp show`, `exp list`, `apply`...

Values come from each commit's own files: the params its stages use, the metrics its stages
write (from Git, or from the cache when the lock keeps them there) and the `env` its lock
recorded. Commits of one baseline share most blobs, so every parse is remembered by blob.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

import xxhash

from artver import gitcli
from artver.errors import ArtverError
from artver.experiments import records
from artver.experiments.table import METRICS, PARAMS, Key, Row
from artver.repo import Repo

# Differences in `observed` (the machine a stage ran on) that exp show names.
_OBSERVED = ("cpu", "gpu", "os", "python")


class UnknownExperiment(ArtverError):
    pass


def experiments(repo: Repo) -> list[records.Experiment]:
    """Every experiment and queued one, oldest first."""
    found = []
    listing = gitcli.git(
        repo.root,
        "for-each-ref",
        "--format=%(refname)%00%(objectname)%00%(committerdate:unix)%00%(contents)%00%00",
        "refs/artver/exps/",
        "refs/artver/queue/",
    )
    for record in listing.split("\0\0\n"):
        parts = record.split("\0", 3)
        if len(parts) < 4:
            continue
        ref, sha, when, body = parts
        exp = records.parse_message(body, sha, int(when or 0), ref)
        if exp is not None:
            found.append(exp)
    return sorted(found, key=lambda e: (e.created, e.order, e.name))


def find(repo: Repo, name: str) -> records.Experiment:
    """The experiment called `name` (or whose commit starts with it)."""
    every = experiments(repo)
    matching = [e for e in every if e.name == name]
    if not matching and len(name) >= 7:
        matching = [e for e in every if e.sha.startswith(name)]
    if not matching:
        raise UnknownExperiment(
            f"no experiment named {name}",
            hint="`artver exp list` shows them" if every else "There are no experiments yet.",
        )
    if len(matching) > 1:
        shown = ", ".join(f"{e.name} on {e.baseline[:7]}" for e in matching)
        raise UnknownExperiment(f"{name} names several experiments ({shown}); give its commit")
    return matching[0]


class _Reader:
    """Values of commits, each file parsed once per distinct blob."""

    def __init__(self, repo: Repo) -> None:
        from artver.ops.revisions import Revisions

        self.repo = repo
        self.revisions = Revisions(repo)
        self.history = self.revisions.history
        self._parsed: dict[tuple[str, str, bytes], Any] = {}

    def close(self) -> None:
        self.revisions.close()

    def read(self, sha: str, path: str) -> bytes | None:
        return self.history.read(sha, path)

    def _memo(self, kind: str, path: str, data: bytes, parse) -> Any:
        key = (kind, path, xxhash.xxh3_64_digest(data))
        if key not in self._parsed:
            self._parsed[key] = parse(data)
        return self._parsed[key]

    def row(self, sha: str, name: str, baseline: str, status: str, created: int) -> Row:
        values, _ = self.values(sha)
        return Row(name, sha, baseline, status, created, values)

    def values(self, sha: str) -> tuple[dict[Key, Any], dict[str, Any]]:
        """({(kind, file, key): value}, {stage: lock entry}) of a commit."""
        from artver.repo import PIPELINE_FILE
        from artver.stages.lock import lock_path_for, parse_lock
        from artver.stages.params import flatten, selected

        files = self.history.files_at(sha)
        pipelines = sorted(p for p, _ in files if posixpath.basename(p) == PIPELINE_FILE)
        values: dict[Key, Any] = {}
        locks: dict[str, Any] = {}
        for rel in pipelines:
            stages = self._stages(sha, rel)
            lock_rel = lock_path_for(rel)
            lock_data = self.read(sha, lock_rel)
            entries = {}
            if lock_data is not None:
                try:
                    entries = self._memo(
                        "lock", lock_rel, lock_data, lambda d, r=lock_rel: parse_lock(d.decode(), r)
                    )
                except (ArtverError, ValueError):
                    entries = {}
            locks.update(entries)
            for stage in stages:
                for ref in stage.params:
                    data = self._file(sha, ref.file, PARAMS, None)
                    for key, value in selected(data, ref.key).items() if data else ():
                        values[(PARAMS, ref.file, key)] = value
                entry = entries.get(stage.name)
                for out in stage.outs:
                    if not out.metric:
                        continue
                    data = self._file(sha, out.path, METRICS, entry)
                    for key, value in flatten(data, "").items() if data else ():
                        values[(METRICS, out.path, key)] = value
        return values, locks

    def _stages(self, sha: str, rel: str) -> list[Any]:
        from artver.stages.schema import bytes_params_reader, parse_file

        data = self.read(sha, rel)
        if data is None:
            return []
        text = data.decode("utf-8", "replace")
        reader = bytes_params_reader(lambda p: self.read(sha, p), sha[:7])
        if "${" in text:  # templated: its stages depend on the params of this commit
            try:
                return parse_file(text, rel, read_params=reader)
            except ArtverError:
                return []
        try:
            return self._memo("pipeline", rel, data, lambda _: parse_file(text, rel, None, reader))
        except ArtverError:
            return []

    def _file(self, sha: str, path: str, kind: str, entry: Any) -> dict[str, Any] | None:
        from artver.stages.params import parse_params_text

        data = self.read(sha, path)
        if data is None and kind == METRICS and entry is not None:
            data = self._cached(entry, path)
        if data is None:
            return None
        try:
            return self._memo(
                kind, path, data, lambda d: parse_params_text(d.decode("utf-8"), path, kind)
            )
        except (ArtverError, ValueError):
            return None

    def _cached(self, entry: Any, path: str) -> bytes | None:
        for rec in entry.outs:
            if rec.oid and not rec.oid.endswith(".dir") and path.endswith(rec.path):
                try:
                    with open(self.repo.odb.path_of(rec.oid), "rb") as fobj:
                        return fobj.read()
                except OSError:
                    return None
        return None


def env_differences(base: dict[str, Any], exp: dict[str, Any]) -> list[str]:
    """What an experiment's recorded environment has that its baseline's has not: `env`
    records (Python, lock files, variables, image) and the machine it ran on, per stage."""
    from artver.stages.envprint import env_changes

    found: list[str] = []
    for name in sorted(exp):
        new, old = exp[name], base.get(name)
        if old is None:
            continue
        if new.env or old.env:
            found += [f"{name}: {c}" for c in env_changes(old.env, new.env)]
        for key in _OBSERVED:
            a, b = old.observed.get(key), new.observed.get(key)
            if a != b and a is not None and b is not None:
                found.append(f"{name}: {key} {_short(a)} -> {_short(b)}")
    return found


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_short(v) for v in value) or "none"
    return str(value)


def baselines(repo: Repo, num: int, all_commits: bool) -> list[tuple[str, str]]:
    """(commit, label) of the baselines to show: HEAD and its first parents, `num` in all, or
    every commit of the branches and tags."""
    head = gitcli.head(repo.root)
    if head is None:
        raise ArtverError("this repository has no commits yet, so no experiments")
    if all_commits:
        shas = gitcli.git(repo.root, "rev-list", "--branches", "--tags", "HEAD").split()
    else:
        shas = gitcli.git(repo.root, "rev-list", "--first-parent", f"-n{num}", "HEAD").split()
    branch = gitcli.git(repo.root, "symbolic-ref", "-q", "--short", "HEAD", check=False).strip()
    return [(sha, (branch or "HEAD") if sha == head else sha[:7]) for sha in shas]


def collect(repo: Repo, num: int = 1, all_commits: bool = False) -> list[Row]:
    """Each baseline's row, followed by its experiments' rows."""
    every = experiments(repo)
    by_baseline: dict[str, list[records.Experiment]] = {}
    for exp in every:
        by_baseline.setdefault(exp.baseline, []).append(exp)
    reader = _Reader(repo)
    rows: list[Row] = []
    try:
        for sha, label in baselines(repo, num, all_commits):
            base_values, base_locks = reader.values(sha)
            rows.append(Row(label, sha, sha, "baseline", 0, base_values))
            for exp in by_baseline.get(sha, []):
                values, locks = reader.values(exp.sha)
                env = tuple(env_differences(base_locks, locks))
                row = Row(exp.name, exp.sha, sha, exp.status, exp.created, values, env, exp.order)
                rows.append(row)
    finally:
        reader.close()
    return rows


def names_in(repo: Repo) -> dict[str, list[records.Experiment]]:
    """Experiments by baseline commit (queued ones under their baseline too)."""
    grouped: dict[str, list[records.Experiment]] = {}
    for exp in experiments(repo):
        grouped.setdefault(exp.baseline, []).append(exp)
    return grouped


def workspace_differs(repo: Repo, path: str, sha: str) -> bool:
    """The workspace's `path` is not what commit `sha` has (missing counts as differing only
    when the commit has the file)."""
    full = os.path.join(repo.root, path)
    expected = gitcli.show_file(repo.root, sha, path)
    try:
        with open(full, "rb") as fobj:
            actual: bytes | None = fobj.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        actual = None
    return actual != expected
