"""Pure decisions about the workspace: what checkout changes and what it would lose."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from artver.cache.tree import FileEntry


@dataclass(frozen=True)
class Change:
    path: str  # relative to the tracked path; "" is the tracked path itself
    old: str | None  # oid in the workspace, None when absent
    new: FileEntry | None  # what the pointer records, None to delete

    @property
    def typ(self) -> str:
        if self.new is None:
            return "delete"
        if self.old is None:
            return "create"
        return "modify" if self.old != self.new.oid else "relink"


def plan_checkout(
    recorded: dict[str, FileEntry], current: dict[str, str], relink: bool = False
) -> list[Change]:
    """The changes that make `current` ({path: oid}) match `recorded`."""
    changes = [Change(p, oid, None) for p, oid in current.items() if p not in recorded]
    for path, entry in recorded.items():
        old = current.get(path)
        if old != entry.oid or relink:
            changes.append(Change(path, old, entry))
    return sorted(changes, key=lambda c: c.path)


def would_lose(changes: list[Change], in_cache: Callable[[str], bool]) -> list[Change]:
    """Changes that overwrite or delete content that exists nowhere else."""
    return [
        c
        for c in changes
        if c.old is not None and (c.new is None or c.new.oid != c.old) and not in_cache(c.old)
    ]
