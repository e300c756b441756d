"""The exception root of artver and the cross-cutting subclasses.

Core code raises these; the CLI turns them into one message on stderr and `exit_code`.
"""

from __future__ import annotations


class ArtverError(Exception):
    """A problem the user can act on; printed as one sentence, never as a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class UsageError(ArtverError):
    exit_code = 2


class NotARepoError(ArtverError):
    pass


class ConfigError(ArtverError):
    pass


class PathError(ArtverError):
    """A path the user named cannot be tracked or found."""

    def __init__(self, path: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {reason}", hint=hint)
        self.path = path
        self.reason = reason


class PointerError(ArtverError):
    """A pointer file that cannot be read (bad YAML, missing or malformed fields)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"invalid pointer file {path}: {reason}",
            hint="Fix it by hand, restore it with git, or re-run `artver add` on the data.",
        )
        self.path = path
        self.reason = reason


class MissingObjectsError(ArtverError):
    def __init__(self, missing: dict[str, str]) -> None:
        lines = [f"  {path} ({oid})" for path, oid in sorted(missing.items())]
        super().__init__(
            "these are not in the cache:\n" + "\n".join(lines),
            hint="Run `artver pull` to fetch them from a remote.",
        )
        self.missing = missing


class WouldLoseDataError(ArtverError):
    def __init__(self, paths: list[str]) -> None:
        shown = [f"  {p}" for p in paths[:20]]
        if len(paths) > 20:
            shown.append(f"  ... and {len(paths) - 20} more")
        super().__init__(
            "checkout would overwrite or delete files whose content is not in the cache:\n"
            + "\n".join(shown),
            hint="Run `artver add`/`artver commit` to keep them, or use --force to discard them.",
        )
        self.paths = paths


class LockedError(ArtverError):
    pass


class DiskFullError(ArtverError):
    pass


class Interrupted(ArtverError):
    """Ctrl-C."""

    exit_code = 130


class Terminated(Interrupted):
    """SIGTERM: handled like Ctrl-C (temp files removed, stage processes stopped)."""

    exit_code = 143
