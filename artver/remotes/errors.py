"""Errors of remote storage, each one sentence a user can act on (exit code 1)."""

from __future__ import annotations

from artver.errors import ArtverError


class RemoteError(ArtverError):
    """Something about a remote went wrong; `remote` names it."""

    def __init__(self, message: str, *, remote: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.remote = remote


class UnknownRemoteError(RemoteError):
    pass


class NoDefaultRemoteError(RemoteError):
    pass


class UnsupportedProtocolError(RemoteError):
    pass


class BucketMissingError(RemoteError):
    pass


class CredentialsError(RemoteError):
    pass


class UnreachableError(RemoteError):
    """The server is down or stopped answering; a rerun resumes."""


class NotOnRemoteError(RemoteError):
    """Objects a pull needs are not on the remote."""

    def __init__(self, missing: dict[str, list[str]], remote: str) -> None:
        lines = []
        for shown, oids in sorted(missing.items()):
            what = f"{len(oids)} objects" if len(oids) > 1 else f"object {oids[0]}"
            lines.append(f"  {shown} ({what})")
        super().__init__(
            f"remote {remote} lacks data that these artifacts need:\n" + "\n".join(lines),
            remote=remote,
            hint="Push them from a machine whose cache has them: `artver push` there "
            "(`artver push --recheck` if that clone pushed them before and the remote lost "
            "them since). This clone has no copy to send.",
        )
        self.missing = missing


class NotInCacheError(RemoteError):
    """Objects a push should send are not in the local cache."""

    def __init__(self, missing: dict[str, list[str]], remote: str, pushed: int) -> None:
        lines = [f"  {shown} ({len(oids)} objects)" for shown, oids in sorted(missing.items())]
        super().__init__(
            f"pushed {pushed} objects to {remote}, but these artifacts are not complete in the "
            "local cache, so they were not pushed:\n" + "\n".join(lines),
            remote=remote,
            hint="Run `artver fetch` from another remote, or `artver add` the data again.",
        )
        self.missing = missing


class CorruptRemoteError(RemoteError):
    def __init__(self, oids: list[str], remote: str) -> None:
        shown = ", ".join(oids[:5]) + (f" and {len(oids) - 5} more" if len(oids) > 5 else "")
        super().__init__(
            f"{len(oids)} object(s) on remote {remote} are corrupt (their content does not match "
            f"their id): {shown}",
            remote=remote,
            hint="The bad bytes were not stored. Delete them on the remote and push good copies "
            "from a machine that has them.",
        )
        self.oids = oids
