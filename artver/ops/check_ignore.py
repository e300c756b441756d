"""`artver check-ignore`: which paths the `.artverignore` files exclude, and by which line."""

from __future__ import annotations

import os
from pathlib import Path

from artver.ignore import Match, check_path
from artver.ops.snapshot import ignore_parser
from artver.repo import Repo


# A plain class, not a dataclass: generating one costs start-up time.
class IgnoreCheck:
    """What decided about one path: `match` is the deciding line (None: no line matches)."""

    __slots__ = ("match", "path", "source")

    def __init__(self, path: str, match: Match | None, source: str | None) -> None:
        self.path = path  # as given
        self.match = match
        self.source = source  # the ignore file, relative to the current directory

    @property
    def ignored(self) -> bool:
        return self.match is not None and self.match.ignores

    def to_dict(self) -> dict:
        found = self.match
        return {
            "path": self.path,
            "ignored": self.ignored,
            "file": self.source,
            "line": found.line if found else None,
            "pattern": found.pattern if found else None,
        }


def check_ignore(repo: Repo, targets: list[str], cwd: Path) -> list[IgnoreCheck]:
    """For each target, the line that decides whether it is ignored (a directory above it
    that a line excludes decides for everything below it)."""
    parse = ignore_parser(repo)
    results = []
    for target in targets:
        path = Path(os.path.normpath(cwd / target))
        repo.check_inside(path, target)
        if path == repo.root:
            results.append(IgnoreCheck(target, None, None))
            continue
        is_dir = target.endswith("/") or path.is_dir()
        found = check_path(str(repo.root), repo.rel(path), is_dir, parse)
        source = repo.display(repo.root / found.file, cwd) if found else None
        results.append(IgnoreCheck(target, found, source))
    return results
