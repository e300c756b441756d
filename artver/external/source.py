"""Another artver repository opened at a Git revision: what it tracks, its committed config,
the files Git keeps, and where its bytes can come from.

A local repository (a path or file:// URL; a work tree or a bare repository) is read in place
through `artver.history`; one on a Git server is read from its bare copy (`clones`). Only the
commit is read, never the source's work tree: uncommitted changes there are not seen.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from artver.errors import ArtverError
from artver.external import clones
from artver.external.location import Location, parse
from artver.history import History, RevisionError, is_bare_git_dir
from artver.ops.revisions import Tracked, is_metadata, lock_outputs, pointer_outputs
from artver.safetext import CONFIG_MAX, LOCK_MAX, POINTER_MAX, BadText, decode
from artver.stages.lock import LOCK_NAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from artver.remotes.remote import Remote

CONFIG_FILE = ".artver/config.yaml"


class ExternalRepoError(ArtverError):
    """The repository argument names no readable artver repository at that revision."""


class NotFetchedError(ExternalRepoError):
    """A repository on a Git server that was never fetched (`status` does not fetch)."""


class ExternalRepo:
    """One commit of another artver repository. `shown` is how messages name it."""

    def __init__(self, loc: Location, git_dir: Path, rev: str | None) -> None:
        self.location = loc
        self.git_dir = git_dir
        self.rev = rev  # as asked; None: the repository's HEAD (its default branch)
        self.shown = loc.given
        try:
            self._history = History(git_dir, is_metadata)
        except RevisionError:
            raise ExternalRepoError(f"{loc.given} is not a Git repository") from None
        try:
            self.sha = self._history.resolve(rev or "HEAD")
        except RevisionError as exc:
            self._history.close()
            raise RevisionError(f"{loc.given}: {exc.message}", hint=exc.hint) from None
        self._tracked: dict[str, Tracked] | None = None
        self._config: dict[str, Any] | None = None

    @classmethod
    def open(
        cls,
        text: str,
        cwd: Path,
        rev: str | None = None,
        artver_dir: Path | None = None,
        fetch: bool = True,
        lock_wait: float = 60.0,
    ) -> ExternalRepo:
        """The repository `text` names (relative paths from `cwd`), at `rev`. A repository on
        a Git server is fetched first; with `fetch=False` its last copy is read, and
        `NotFetchedError` raised when there is none. `artver_dir` is the repository this
        command runs in, if any (its copies of servers' repositories live there)."""
        loc = parse(text, cwd)
        return cls(loc, locate_git_dir(loc, artver_dir, fetch, lock_wait), rev)

    def __enter__(self) -> ExternalRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._history.close()

    @property
    def where(self) -> str:
        """`URL at REV (abc1234)`, for messages."""
        return f"{self.shown} at {self.rev or 'HEAD'} ({self.sha[:7]})"

    def resolve(self, rev: str | None) -> str:
        """The commit another revision of the same repository names."""
        try:
            return self._history.resolve(rev or "HEAD")
        except RevisionError as exc:
            raise RevisionError(f"{self.shown}: {exc.message}", hint=exc.hint) from None

    # -- what the commit holds ---------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The committed `.artver/config.yaml` (no machine-local settings: those are not in
        Git); `ExternalRepoError` when the commit has none (not an artver repository)."""
        if self._config is None:
            data = self._history.read(self.sha, CONFIG_FILE)
            if data is None:
                raise ExternalRepoError(
                    f"{self.where} is not an artver repository: it has no {CONFIG_FILE}",
                    hint="Name the repository that holds the data (one where `artver init` "
                    "ran and its .artver/config.yaml was committed), or another --rev.",
                )
            from artver import redact
            from artver.yamlio import YAMLParseError, load_yaml

            try:
                doc = load_yaml(decode(data, CONFIG_MAX, "config"))
            except (YAMLParseError, BadText) as exc:
                raise ExternalRepoError(f"{CONFIG_FILE} of {self.where}: {exc}") from None
            if doc is None:
                doc = {}
            if not isinstance(doc, dict):
                raise ExternalRepoError(f"{CONFIG_FILE} of {self.where} is not a mapping")
            redact.watch(doc)
            self._config = doc
        return self._config

    def tracked(self) -> dict[str, Tracked]:
        """What the commit's pointer files and `artver.lock` files record, by path."""
        if self._tracked is None:
            self.config()  # not an artver repository: say so rather than "tracks nothing"
            found: dict[str, Tracked] = {}
            for path, blob in self._history.files_at(self.sha):
                name = posixpath.basename(path)
                if name.endswith(".artver"):
                    limit, kind, parse_one = POINTER_MAX, "pointer", pointer_outputs
                elif name == LOCK_NAME:
                    limit, kind, parse_one = LOCK_MAX, "lock", lock_outputs
                else:
                    continue
                where = f"{path} in {self.where}"
                try:
                    text = decode(self._history.blob(blob), limit, kind)
                except BadText as exc:
                    raise ExternalRepoError(f"invalid {kind} file {where}: {exc}") from None
                for item in parse_one(text, path, where):
                    found[item.path] = item
            self._tracked = found
        return self._tracked

    def read(self, path: str) -> bytes | None:
        """A file Git keeps at this commit; None when there is none."""
        return self._history.read(self.sha, path)

    # -- where the bytes come from -----------------------------------------------------------
    def local_cache(self) -> Path | None:
        """The cache of a local work tree (its `cache.dir` honoured), when it has one."""
        if self.location.kind != "local" or self.git_dir != Path(self.location.path):
            return None
        root = Path(self.location.path)
        if not (root / ".artver").is_dir():
            return None
        from artver.config import Config

        try:
            configured = Config.load(root / ".artver").get("cache.dir")
        except ArtverError:
            configured = None
        cache = (root / os.path.expanduser(str(configured))) if configured else None
        cache = cache or root / ".artver" / "cache"
        return cache if cache.is_dir() else None

    def default_remote(self) -> Remote | None:
        """The remote the committed config names as `core.remote`, not connected yet; None
        when it names none. A relative path is relative to the repository's top."""
        from artver.config import Config
        from artver.remotes.remote import open_remote

        config = Config(self.config())
        if not config.get("core.remote"):
            return None
        try:
            return open_remote(config, None, Path(self.location_root()), connect=False)
        except ArtverError as exc:
            raise ExternalRepoError(
                f"{CONFIG_FILE} of {self.where}: {exc.message}", hint=exc.hint
            ) from None

    def location_root(self) -> str:
        return self.location.path if self.location.kind == "local" else str(self.git_dir)


def locate_git_dir(loc: Location, artver_dir: Path | None, fetch: bool, lock_wait: float) -> Path:
    """Where the Git repository `loc` names is read from."""
    if loc.kind == "git":
        if not fetch:
            found = clones.existing(loc.path, artver_dir)
            if found is None:
                raise NotFetchedError(f"{loc.given} was never fetched")
            return found
        return clones.fetched(loc.path, artver_dir, lock_wait)
    path = Path(loc.path)
    if not path.exists():
        raise ExternalRepoError(f"{loc.given}: no such repository (no directory {path})")
    if not path.is_dir() or not ((path / ".git").exists() or is_bare_git_dir(path)):
        raise ExternalRepoError(
            f"{loc.given} is not a Git repository",
            hint="Name the top directory of a Git repository (one holding .git, or a bare "
            "repository), or its URL.",
        )
    return path
