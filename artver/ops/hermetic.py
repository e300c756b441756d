"""Hermetic stage runs: the command sees only its declared deps and params files.

A run gets a scratch directory under `.artver/tmp/` that holds the stage's deps, placed from
the cache at the oids recorded for them (reflinks or hardlinks where the filesystem allows,
so a large dep costs no copy; copies for executables and when artver runs as root, who could
write through a hardlink into the cache), and its params files as recorded, each at its
repo-relative path. The command runs in the stage's `wdir` there, through `stages.run.Runner`
(process groups, the watchdog, Ctrl-C), with the recorded seed. Then what the declared outs
hold is hashed, every file inside output directories too.

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

from artver.cache.odb import ObjectStore
from artver.errors import ArtverError
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
class ProducedOut:
    """What a declared out holds after the run. `files`: path inside the out ("" for a
    file out) -> (oid, size)."""

    __slots__ = ("abspath", "files", "nfiles", "oid", "path", "size")

    def __init__(self, path: str, abspath: Path, oid: str, size: int, nfiles: int | None, files):
        self.path = path
        self.abspath = abspath
        self.oid = oid
        self.size = size
        self.nfiles = nfiles
        self.files: dict[str, tuple[str, int]] = files


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


def new_scratch(repo: Repo, label: str) -> Path:
    """A fresh directory under `.artver/tmp/`."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=scratch_root(repo)))


def remove_scratch(path: Path) -> None:
    """Delete a scratch directory, even one a command left read-only parts in."""

    def writable_again(func, name, _exc) -> None:
        try:
            os.chmod(os.path.dirname(name), 0o755)
            func(name)
        except OSError:
            pass

    import sys

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=writable_again)
    else:  # onerror is deprecated from 3.12 on
        shutil.rmtree(path, onerror=writable_again)


def _dep_store(repo: Repo) -> ObjectStore:
    """The cache, placing objects by reflink or hardlink (read-only: mode 0444) or copy. As
    root a hardlinked dep could be written through into the cache: copies then."""
    types = ["reflink", "hardlink", "copy"] if os.geteuid() != 0 else ["reflink", "copy"]
    return ObjectStore(repo.cache_dir, types)


def place(store: ObjectStore, oid: str, dest: Path, executable: bool = False) -> None:
    """Object `oid` (a file, or a directory's every file) at `dest`."""
    if not oid.endswith(".dir"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        # No size hint: a lock's size is not proof of the object's (old locks lack it).
        store.materialize(oid, str(dest), executable, "copy" if executable else None)
        return
    dest.mkdir(parents=True, exist_ok=True)
    made = {str(dest)}
    for e in store.read_manifest(oid).entries:
        target = dest / e.path
        parent = str(target.parent)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        # A hardlink cannot carry an executable bit (the object is 0444): copy those.
        store.materialize(
            e.oid, str(target), e.executable, "copy" if e.executable else None, e.size
        )


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

    store = _dep_store(repo)
    for dep in sorted(spec.deps, key=lambda d: d.path):
        # A lock records no mode for a file dep: a script keeps the workspace's exec bit.
        mine = repo.root / dep.path
        executable = not dep.oid.endswith(".dir") and mine.is_file() and os.access(mine, os.X_OK)
        place(store, dep.oid, scratch / dep.path, executable)
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
def collect(scratch: Path, outs: list[str], jobs: int = 1) -> dict[str, ProducedOut]:
    """Hash what each declared out holds in the scratch directory (absent outs are left out)."""
    from artver.cache.hashing import hash_file
    from artver.cache.tree import FileEntry, Manifest
    from artver.workspace import parallel_map, scan_tree

    found: dict[str, ProducedOut] = {}
    within = (os.path.realpath(scratch),)
    for path in outs:
        abspath = scratch / path
        if not os.path.exists(abspath):
            continue
        if not abspath.is_dir():
            size = abspath.stat().st_size
            oid = hash_file(abspath, size)
            found[path] = ProducedOut(path, abspath, oid, size, None, {"": (oid, size)})
            continue
        files = scan_tree(str(abspath), path, within)
        hashed = parallel_map(lambda f: hash_file(f.abspath, f.size), files, jobs)
        manifest = Manifest.build(FileEntry(f.rel, oid, f.size, f.executable) for f, oid in hashed)
        entries = {e.path: (e.oid, e.size) for e in manifest.entries}
        found[path] = ProducedOut(
            path, abspath, manifest.oid, manifest.size, manifest.nfiles, entries
        )
    return found


def cache_outputs(repo: Repo, produced: dict[str, ProducedOut]) -> None:
    """Copy what a run produced into the cache (the scratch files stay as they are)."""
    from artver.cache.tree import FileEntry, Manifest

    odb = repo.odb
    for out in produced.values():
        if out.nfiles is None:
            odb.ingest_copy(str(out.abspath), out.size)
            continue
        for rel, (oid, size) in out.files.items():
            if not odb.exists(oid):
                odb.ingest_copy(str(out.abspath / rel), size)
        executable = {rel: os.access(out.abspath / rel, os.X_OK) for rel in out.files}
        odb.add_manifest(
            Manifest.build(FileEntry(r, o, s, executable[r]) for r, (o, s) in out.files.items())
        )


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
        return Produced(done.returncode, list(lines)[-15:], outs, scratch, hint)
    finally:
        if not keep:
            remove_scratch(scratch)


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
