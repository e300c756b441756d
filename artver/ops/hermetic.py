"""Hermetic stage runs: the command sees only its declared deps and params files.

A run gets a scratch directory under `.artver/tmp/` that holds the stage's deps, placed from
the cache at the oids recorded for them (reflinks or read-only hardlinks where the filesystem
allows, so that a large dep costs no copy; see `dep_link_types`), and its params files as
recorded, each at its repo-relative path. The command runs in the stage's `wdir` there,
through `stages.run.Runner` (process groups, the watchdog, Ctrl-C), with the recorded seed.
Then what the declared outs hold is hashed, every file inside output directories too
(`hermetic_collect`).

It is not a security sandbox: absolute paths, the network and the rest of the machine stay
visible; what it catches is a stage that reads a repository file it does not declare.
"""

from __future__ import annotations

import collections
import os
import posixpath
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from artver.cache.odb import CorruptObjectError
from artver.errors import ArtverError
from artver.ops.hermetic_collect import ProducedOut, cache_outputs, collect
from artver.ops.hermetic_sources import Needed, Sources
from artver.repo import Repo
from artver.stages.lock import LockEntry
from artver.stages.schema import ParamRef, Stage

SCRATCH_DIR = "tmp"  # below .artver/
KEEP_LINES = 200  # output lines kept to find the path a failed command could not open
# How commands say they could not open a path (Python, coreutils and shells, R, ...).
MISSING_PATH = [
    re.compile(r"No such file or directory: ['\"]([^'\"]+)['\"]"),
    re.compile(r"can't open file ['\"]([^'\"]+)['\"]"),
    re.compile(r"[Cc]annot open (?:file )?['\"`]?([^\s'\"`:]+)"),
    re.compile(r"([^\s:'\"`]+)['\"`]?: No such file or directory"),
]


class HermeticRunFailed(ArtverError):
    """A stage's command failed, or left out an output, in its hermetic run."""


# Plain classes, not dataclasses: generating one costs start-up time.
class Produced:
    """A finished hermetic run: its exit code, last output lines, outs (repo path ->
    ProducedOut; an absent out is not there) and, when it failed reading an undeclared file,
    the hint that names the dep to declare."""

    __slots__ = ("hint", "outs", "returncode", "scratch", "tail")

    def __init__(self, returncode: int, tail: list[str], outs, scratch: Path, hint: str | None):
        self.returncode = returncode
        self.tail = tail
        self.outs: dict[str, ProducedOut] = outs
        self.scratch = scratch
        self.hint = hint


class Spec:
    """What a hermetic run needs to know of a stage, all paths repo-relative."""

    __slots__ = ("cmd", "deps", "name", "outs", "params", "persist", "seed", "wdir")

    def __init__(
        self,
        name: str,
        cmd: tuple[str, ...],
        wdir: str,
        deps: list[Needed],
        params: dict[str, tuple[list[ParamRef], dict]],
        outs: list[str],
        persist: set[str],
        seed: int | None,
    ) -> None:
        self.name = name
        self.cmd = cmd
        self.wdir = wdir
        self.deps = deps
        self.params = params  # file -> (the stage's refs into it, the recorded values)
        self.outs = outs
        self.persist = persist
        self.seed = seed


def repo_path(stage: Stage, path: str) -> str:
    """A lock path (relative to the artver.yaml's directory) as a repo-relative one."""
    base = posixpath.dirname(stage.file)
    return posixpath.normpath(posixpath.join(base, path)) if base else path


def _in_lock(stage: Stage, path: str) -> str:
    base = posixpath.dirname(stage.file)
    return posixpath.relpath(path, base) if base else path


def spec_for(stage: Stage, entry: LockEntry) -> Spec:
    """The run the lock entry records: its cmd, deps at their oids, params values, outs and
    seed; the stage definition gives the wdir and which outs are `persist`."""
    deps = [
        Needed(stage.name, repo_path(stage, d.path), d.oid, d.size) for d in entry.deps if d.oid
    ]
    params: dict[str, tuple[list[ParamRef], dict]] = {}
    for ref in stage.params:
        params.setdefault(ref.file, ([], entry.params.get(_in_lock(stage, ref.file), {})))
        params[ref.file][0].append(ref)
    for shown, values in entry.params.items():
        file = repo_path(stage, shown)
        if file not in params:  # no longer declared: still what the run read
            params[file] = ([ParamRef(file, key) for key in values], values)
    outs = [repo_path(stage, o.path) for o in entry.outs] or [o.path for o in stage.outs]
    persist = {o.path for o in stage.outs if o.persist}
    return Spec(stage.name, tuple(entry.cmd), stage.wdir, deps, params, outs, persist, entry.seed)


# -- the scratch directory -------------------------------------------------------------------------
def scratch_root(repo: Repo) -> Path:
    """`.artver/tmp/`, made if need be; it ignores itself in Git."""
    top = repo.artver_dir / SCRATCH_DIR
    top.mkdir(parents=True, exist_ok=True)
    ignore = top / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# scratch directories of hermetic runs, verify and replay\n*\n")
    return top


_SWEPT: set[Path] = set()


def new_scratch(repo: Repo, label: str) -> Path:
    """A fresh directory under `.artver/tmp/`. The first one a process makes first removes
    those a killed artver left: scratch directories are made only under the repository
    lock, so any there then belong to no running command."""
    import tempfile

    top = scratch_root(repo)
    if top not in _SWEPT:
        _SWEPT.add(top)
        for entry in os.scandir(top):
            if entry.is_dir(follow_symlinks=False) and entry.name != "replay":
                remove_scratch(Path(entry.path))
    return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=top))


def remove_scratch(path: Path, jobs: int = 8) -> None:
    """Delete a scratch directory, even one a command left read-only parts in. More threads
    than cores: removing files waits on the filesystem's journal, not on the CPU."""
    from artver.ops.hermetic_place import remove_tree

    remove_tree(path, jobs)


def dep_link_types(repo: Repo) -> list[str]:
    """How deps are placed: reflink, else a hardlink, which is read-only (cache objects are
    0444), so a command cannot write through it into the cache; except as root, who gets
    hardlinks only when `cache.type` accepts them for the workspace already. Else copies.
    Never symlinks: they lead out of the scratch directory, into the cache."""
    if os.geteuid() != 0:
        return ["reflink", "hardlink", "copy"]
    return [t for t in repo.config.link_types if t != "symlink"]


def build(
    repo: Repo,
    spec: Spec,
    scratch: Path,
    params: dict[str, str],
    carry: dict[str, Path] | None = None,
) -> None:
    """Fill `scratch`: deps from the cache, params files (`params`: path -> text), the
    parents of the outs, the wdir; `carry`: persist outs to copy in as they are (repro)."""
    from artver.fsutil import atomic_write_text
    from artver.ops.hermetic_place import Placer

    check_deps(repo, spec)
    placer = Placer(repo.odb, dep_link_types(repo), repo.config.jobs)
    for dep in sorted(spec.deps, key=lambda d: d.path):
        # A lock records no mode for a file dep: a script keeps the workspace's exec bit.
        mine = repo.root / dep.path
        executable = not dep.oid.endswith(".dir") and mine.is_file() and os.access(mine, os.X_OK)
        placer.place(dep.oid, scratch / dep.path, executable)
    for file, text in params.items():
        (scratch / file).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(scratch / file, text)
    for path, source in (carry or {}).items():
        if source.is_dir():
            shutil.copytree(source, scratch / path, symlinks=False, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy2(source, scratch / path)
    for out in spec.outs:
        (scratch / out).parent.mkdir(parents=True, exist_ok=True)
    (scratch / spec.wdir).mkdir(parents=True, exist_ok=True)


def check_deps(repo: Repo, spec: Spec) -> None:
    """No dep is placed from a cache object whose bytes no longer match its id: one whose
    stat moved since its bytes were last known good is hashed first (`artver.ops.integrity`)."""
    from artver.ops.integrity import check_objects

    needed_by: dict[str, str] = {}
    for dep in spec.deps:
        if not dep.oid.endswith(".dir"):
            needed_by.setdefault(dep.oid, dep.path)
            continue
        try:
            entries = repo.odb.read_manifest(dep.oid).entries
        except (FileNotFoundError, CorruptObjectError):
            continue  # placing it says what is wrong
        for entry in entries:
            needed_by.setdefault(entry.oid, f"{dep.path}/{entry.path}")
    stats = {oid: repo.odb.packed_stat(oid) for oid in needed_by}
    check_objects(repo, stats, lambda bad: (needed_by, {}), "the stage was not run")


def params_from(
    spec: Spec, candidates: Callable[[str], list[str | None]] | None, root: Path
) -> dict[str, str]:
    """The text of each params file for the run (see `hermetic_params.params_text`);
    `candidates(file)` lists texts to take it from, by default the workspace's."""
    from artver.ops.hermetic_params import params_text

    def workspace(file: str) -> list[str | None]:
        try:
            return [(root / file).read_text(encoding="utf-8")]
        except (OSError, UnicodeDecodeError):
            return []

    found = candidates or workspace
    return {
        f: params_text(f, refs, recorded, found(f)) for f, (refs, recorded) in spec.params.items()
    }


# -- what the run produced -------------------------------------------------------------------------
def undeclared_dep(
    spec: Spec, lines: list[str], scratch: Path, root: Path
) -> tuple[str, str] | None:
    """(repo path, path to declare relative to the wdir) of a repository file the command
    failed to open because it is not a declared dep, from its output; None when its output
    names no such file."""
    declared = [d.path for d in spec.deps] + list(spec.params) + spec.outs
    for line in reversed(lines):
        for pattern in MISSING_PATH:
            for match in pattern.finditer(line):
                rel = _repo_rel(match.group(1), spec.wdir, scratch)
                if rel is None or not os.path.lexists(root / rel):
                    continue
                if any(rel == d or rel.startswith(d + "/") for d in declared):
                    continue
                return rel, posixpath.relpath(rel, spec.wdir or ".")
    return None


def _repo_rel(named: str, wdir: str, scratch: Path) -> str | None:
    if os.path.isabs(named):
        for top in {str(scratch), os.path.realpath(scratch)}:
            if named.startswith(top + os.sep):
                named = os.path.relpath(named, top)
                break
        else:
            return None
    else:
        named = posixpath.join(wdir, named) if wdir else named
    rel = posixpath.normpath(named.replace(os.sep, "/"))
    if rel in (".", "") or rel.startswith(("../", ".artver/", ".git/")) or rel == "..":
        return None
    return rel


def undeclared_hint(spec: Spec, found: tuple[str, str]) -> str:
    rel, declare = found
    return (
        f"it read {rel}, which is not among its deps (a hermetic run sees only the declared "
        f"deps and params files); declare it: deps: [{declare}]"
    )


# -- a whole run -----------------------------------------------------------------------------------
def seeded_env(name: str, seed: int | None, path_prefix: str | None = None) -> dict[str, str]:
    """The command's environment: artver's, the stage name, the recorded seed and, for a
    recreated environment, its interpreter's directory first on PATH."""
    env = dict(os.environ)
    env["ARTVER_STAGE"] = name
    if seed is not None:
        env["ARTVER_SEED"] = env["PYTHONHASHSEED"] = str(seed)
    if path_prefix:
        env["PATH"] = path_prefix + os.pathsep + env.get("PATH", "")
    return env


def run_hermetic(
    repo: Repo,
    stage: Stage,
    entry: LockEntry,
    sources: Sources | None,
    params: Callable[[str], list[str | None]] | None = None,
    path_prefix: str | None = None,
    on_line: Callable[[str, str], None] | None = None,
    lock_fd: int | None = None,
    keep: bool = False,
    cache: bool = False,
) -> Produced:
    """Run `stage` as `entry` records it in a fresh scratch directory; its deps come into
    the cache through `sources` first (None: they are there already). `params(file)` lists
    texts a params file may be taken from. The scratch directory is removed afterwards
    unless `keep` (the caller then owns `Produced.scratch`); `cache` stores the outputs."""
    from artver.stages.run import Runner

    spec = spec_for(stage, entry)
    if sources is not None:
        sources.ensure(spec.deps)
    texts = params_from(spec, params, repo.root)
    scratch = new_scratch(repo, stage.name.replace("@", "_"))
    lines: collections.deque[str] = collections.deque(maxlen=KEEP_LINES)

    def line(name: str, text: str) -> None:
        lines.append(text)
        if on_line is not None:
            on_line(name, text)

    try:
        build(repo, spec, scratch, texts)
        runner = Runner(line, lock_fd)
        try:
            runner.start(
                stage.name,
                spec.cmd,
                scratch / spec.wdir,
                seeded_env(stage.name, spec.seed, path_prefix),
            )
            done = runner.wait()
        except BaseException:
            runner.stop_all()
            raise
        finally:
            runner.close()
        hint = None
        if done.returncode != 0:
            found = undeclared_dep(spec, list(lines), scratch, repo.root)
            hint = undeclared_hint(spec, found) if found else None
        outs = collect(scratch, spec.outs, repo.config.jobs) if done.returncode == 0 else {}
        if cache:
            cache_outputs(repo, outs)
    except BaseException:  # Ctrl-C, a full disk: nothing is left behind, kept or not
        remove_scratch(scratch)
        raise
    if not keep:
        remove_scratch(scratch)
    return Produced(done.returncode, list(lines)[-15:], outs, scratch, hint)


def check_run(name: str, spec_outs: list[str], produced: Produced) -> None:
    """Raise when the run failed or left out a declared output."""
    if produced.returncode != 0:
        detail = f"exited with code {produced.returncode}"
        if produced.hint:
            detail += f"; {produced.hint}"
        tail = "\n".join(f"  | {line}" for line in produced.tail[-10:])
        raise HermeticRunFailed(
            f"stage {name} failed in its hermetic run: {detail}" + (f"\n{tail}" if tail else "")
        )
    absent = [o for o in spec_outs if o not in produced.outs]
    if absent:
        raise HermeticRunFailed(
            f"stage {name} failed in its hermetic run: it did not produce {', '.join(absent)}"
        )
