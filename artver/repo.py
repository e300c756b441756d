"""The Repo facade: finds the root and opens config, cache, state and the lock.

Use-cases (add, status, checkout, ...) live in `artver.ops` and take a Repo.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from artver import scm
from artver.cache.odb import ObjectStore
from artver.config import Config, level_path, set_value
from artver.errors import ConfigError, NotARepoError, PathError
from artver.fsutil import atomic_write_text
from artver.lock import repo_lock
from artver.pointer import SUFFIX, Pointer, load
from artver.progress import NO_PROGRESS, Progress
from artver.state import MISSING, StateDB

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import Any

ARTVER_DIR = ".artver"
PIPELINE_FILE = "artver.yaml"
# Directories that never hold pointer files worth finding.
SKIP_DIRS = {".git", ARTVER_DIR, "node_modules", "__pycache__"}
# Where the walk for them remembers directory listings (the `parsed` table of the state DB).
WALK_KEY = "walk:listings"
WALK_VERSION = "1"

CONFIG_TEMPLATE = """\
# artver repository configuration (committed to Git).
# Machine-specific settings and credentials go in config.local.yaml (never committed).
cache:
  # Link types from the cache into the workspace, tried in this order.
  type: [reflink, copy]
"""

ARTVER_GITIGNORE = """\
/cache
/tmp
/state.db
/state.db-*
/lock
/quarantine
/config.local.yaml
"""


class Repo:
    def __init__(self, root: Path, progress: Progress = NO_PROGRESS) -> None:
        self.root = root
        self.artver_dir = root / ARTVER_DIR
        self.progress = progress
        self.on_lock_wait: Callable[[str], None] | None = None
        self._metadata: list[Path] | None = None
        self._unremembered: list[tuple[str, str, Any]] = []  # (key, digest, parsed)

    # -- finding and creating ------------------------------------------------------------------
    @classmethod
    def find(cls, start: Path, progress: Progress = NO_PROGRESS) -> Repo:
        start = start.resolve()
        for candidate in (start, *start.parents):
            if (candidate / ARTVER_DIR).is_dir():
                repo = cls(candidate, progress)
                # The config is read first on purpose: a broken config is reported by every
                # command (its parse is remembered, so this costs little).
                if repo.config.get("core.no_git") is not True and not scm.find_git_root(candidate):
                    raise NotARepoError(
                        f"{candidate} is not inside a Git repository",
                        hint="Run `git init` there, or `artver init --no-git` to use artver alone.",
                    )
                return repo
        if scm.find_git_root(start) is None:
            raise NotARepoError(
                "not inside a Git repository",
                hint="artver versions data next to code in Git: run `git init`, then "
                "`artver init`.",
            )
        raise NotARepoError(
            "not an artver repository (no .artver directory here or above)",
            hint="Run `artver init` at the top of the Git repository.",
        )

    @classmethod
    def init(cls, start: Path, no_git: bool = False, force: bool = False) -> Repo:
        start = start.resolve()
        root = scm.find_git_root(start)
        if root is None:
            if not no_git:
                raise NotARepoError(
                    "not inside a Git repository",
                    hint="Run `git init` first, or `artver init --no-git` to use artver alone.",
                )
            root = start
        artver_dir = root / ARTVER_DIR
        if artver_dir.exists() and not force:
            raise NotARepoError(
                f"{artver_dir} already exists", hint="Use --force to initialise it again."
            )
        artver_dir.mkdir(exist_ok=True)
        config = artver_dir / "config.yaml"
        if not config.exists():
            text = CONFIG_TEMPLATE + ("core:\n  no_git: true\n" if no_git else "")
            atomic_write_text(config, text)
        atomic_write_text(artver_dir / ".gitignore", ARTVER_GITIGNORE)
        repo = cls(root)
        # The state DB is made here, once: creating it (sqlite-utils and its plugin scan) costs
        # more than a whole no-op command, which the first `add` would otherwise pay. The
        # config's parse goes in it too, so that no command needs the YAML parser for it.
        repo.state.conn  # noqa: B018
        with contextlib.suppress(ConfigError):  # a broken config kept by --force: reported later
            repo.config  # noqa: B018
        repo.close()
        return repo

    def set_config(self, level: str, key: str, value: str | None) -> None:
        """Set (or, with None, unset) `key` in the config file of `level`, and remember the
        new file's parse, as `init` does."""
        set_value(level_path(self.artver_dir, level), key, value)
        self.__dict__.pop("config", None)
        with contextlib.suppress(ConfigError):
            self.config  # noqa: B018

    # -- parts ---------------------------------------------------------------------------------
    @cached_property
    def config(self) -> Config:
        return Config.load(self.artver_dir, self.parse_remembered)

    @cached_property
    def cache_dir(self) -> Path:
        configured = self.config.get("cache.dir")
        if configured:
            return (self.root / os.path.expanduser(str(configured))).resolve()
        return self.artver_dir / "cache"

    @cached_property
    def link_roots(self) -> tuple[str, ...]:
        """Where a symlink in the workspace may lead and be followed: the repository and the
        cache (links of cache.type symlink), resolved."""
        return (os.path.realpath(self.root), os.path.realpath(self.cache_dir))

    @cached_property
    def odb(self) -> ObjectStore:
        return ObjectStore(self.cache_dir, self.config.link_types, self.config.get("cache.shared"))

    @cached_property
    def state(self) -> StateDB:
        state = StateDB(self.artver_dir / "state.db")
        if self._unremembered:  # parsed before the state DB existed: the next command reuses them
            with contextlib.suppress(sqlite3.Error):
                state.save_parsed_many(self._unremembered)
            self._unremembered.clear()
        return state

    @contextmanager
    def lock(self, command: str, sweep: bool = True) -> Iterator[int]:
        """Hold the repository lock (`artver.lock`); yields the lock file's descriptor, which
        a process that must keep the repository locked after this one dies may inherit.
        With `sweep`, the stale temp files in the cache's `tmp/` go first. On the way out, the
        stat of every object written or verified meanwhile is remembered (`remember_objects`)."""

        def waiting(holder: str) -> None:
            if self.on_lock_wait is not None:
                self.on_lock_wait(holder)

        with repo_lock(self.artver_dir / "lock", command, self.config.lock_wait, waiting) as fd:
            if sweep:
                self._sweep_cache_tmp()
            try:
                yield fd
            finally:
                self.remember_objects()

    def remember_objects(self) -> None:
        """Save the stat of the cache objects written or re-hashed by this process to the
        state DB, so that placing or pushing them later need not read them again
        (`artver.cache.integrity`). Losing them costs only that read."""
        if "odb" not in self.__dict__:
            return
        from artver.cache.integrity import pack

        records = [(oid, pack(record)) for oid, record in self.odb.take_records()]
        with contextlib.suppress(sqlite3.Error):
            self.state.save_object_records(records)

    def _sweep_cache_tmp(self) -> None:
        """Delete the temp files killed commands left in the cache's `tmp/` (a large file half
        pulled or added) once stale (`fsutil.is_stale`): one listing per locked command."""
        import time

        from artver.config import stale_temp_age
        from artver.fsutil import sweep_temps

        sweep_temps(os.path.join(self.cache_dir, "tmp"), time.time(), stale_temp_age())

    def close(self) -> None:
        if "state" in self.__dict__:
            self.state.close()

    # -- paths ---------------------------------------------------------------------------------
    def rel(self, path: Path) -> str:
        """Repo-relative posix path (`path` must be absolute and inside the repo)."""
        return path.relative_to(self.root).as_posix()

    def display(self, path: Path, cwd: Path | None = None) -> str:
        return os.path.relpath(path, cwd or Path.cwd())

    def check_inside(self, path: Path, shown: str) -> None:
        if not scm.is_inside(path, self.root):
            raise PathError(shown, f"outside the repository ({self.root})")
        rel_parts = path.relative_to(self.root).parts
        if rel_parts and rel_parts[0] in (".git", ARTVER_DIR):
            raise PathError(shown, f"inside {rel_parts[0]}, which artver never tracks")

    # -- pointers ------------------------------------------------------------------------------
    def iter_pointer_files(self) -> Iterator[Path]:
        """Every `*.artver` in the work tree, not descending into tracked outputs."""
        return (p for p in self.metadata_files() if p.name != PIPELINE_FILE)

    def pipeline_files(self) -> list[Path]:
        """Every `artver.yaml` in the work tree, the top-level one first."""
        found = [p for p in self.metadata_files() if p.name == PIPELINE_FILE]
        return sorted(found, key=lambda p: (len(p.parts), p))

    def metadata_files(self) -> list[Path]:
        """Pointer files and pipeline files, found in one walk of the work tree."""
        if self._metadata is None:
            self._metadata = list(self._walk_metadata())
        return self._metadata

    def _walk_metadata(self) -> Iterator[Path]:
        import time

        from artver.config import stale_temp_age
        from artver.metadata_walk import walk

        remembered = self._remembered_walk()
        found, fresh = walk(
            str(self.root),
            (SUFFIX, PIPELINE_FILE),
            SKIP_DIRS,
            remembered if remembered is not None else {},
            time.time_ns(),
            stale_temp_age(),  # temp files a killed command left beside pointers go
        )
        if remembered is not None and fresh != remembered:
            with contextlib.suppress(sqlite3.Error):
                self.state.save_parsed(WALK_KEY, WALK_VERSION, fresh)
        return map(Path, found)

    def _remembered_walk(self) -> dict | None:
        """The listings the last walk remembered; None without a usable state DB (then the
        walk remembers nothing)."""
        if "state" not in self.__dict__ and not (self.artver_dir / "state.db").exists():
            return None
        try:
            remembered = self.state.parsed(WALK_KEY, WALK_VERSION)
        except sqlite3.Error:
            return None
        return {} if remembered is MISSING else remembered

    def load_pointer(self, path: Path) -> Pointer:
        return load(
            path, self.display(path), lambda text: self.parse_remembered(f"pointer:{path}", text)
        )

    def parse_remembered(
        self, key: str, text: str, parse: Callable[[str], Any] | None = None
    ) -> Any:
        """`parse(text)` (default: plain YAML), remembered in the state DB by content: for a
        quick command, importing the YAML parser costs more than its own work. Without a state
        DB yet, or while another process holds it, it just parses."""
        from artver.cache.hashing import hash_bytes

        if parse is None:
            from artver.yamlio import load_yaml as parse
        digest = hash_bytes(text.encode("utf-8"))
        if "state" not in self.__dict__ and not (self.artver_dir / "state.db").exists():
            doc = parse(text)
            self._unremembered.append((key, digest, doc))
            return doc
        try:
            doc = self.state.parsed(key, digest)
        except sqlite3.Error:
            return parse(text)
        if doc is MISSING:
            doc = parse(text)
            with contextlib.suppress(sqlite3.Error):
                self.state.save_parsed(key, digest, doc)
        return doc

    def remember_parsed(self, key: str, text: str, doc: Any) -> None:
        """Remember `doc` as the parse of `text`, a file artver itself just wrote."""
        from artver.cache.hashing import hash_bytes

        with contextlib.suppress(sqlite3.Error):
            self.state.save_parsed(key, hash_bytes(text.encode("utf-8")), doc)

    def pointers(self, targets: list[str] | None = None, cwd: Path | None = None) -> list[Pointer]:
        """Pointers for the targets (data paths or pointer files), or every pointer."""
        if not targets:
            return [self.load_pointer(p) for p in sorted(self.iter_pointer_files())]
        cwd = cwd or Path.cwd()
        found: list[Pointer] = []
        for target in targets:
            path = Path(os.path.abspath(cwd / target))
            self.check_inside(path, target)
            pointer_file = (
                path if path.name.endswith(SUFFIX) else path.with_name(path.name + SUFFIX)
            )
            if not pointer_file.is_file():
                raise PathError(target, "not tracked by artver (no pointer file)")
            found.append(self.load_pointer(pointer_file))
        return found
