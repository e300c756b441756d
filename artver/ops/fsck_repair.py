"""`artver fsck --repair`: move the bad bytes out of the way, never deleting them, and put
verified copies in their place.

- A corrupt or truncated object in the cache goes to `.artver/quarantine/<oid>`; then a copy
  is fetched from the remote (`-r NAME`, else the default one), hashed before it is stored.
- A missing object is fetched the same way.
- A workspace file that is the corrupt object (a hardlink) keeps the user's bytes: the object
  is renamed into quarantine, so the file now shares its inode with the quarantined copy, not
  with the cache. A workspace symlink to it first becomes a plain copy of what it shows.
- With `-r NAME`, a corrupt, truncated or missing object on that remote is uploaded again
  from the cache when the cache's copy proved sound in this same run.
"""

from __future__ import annotations

from artver.cache.odb import CorruptObjectError
from artver.ops import fsck_check as rules
from artver.ops.fsck_check import Problem
from artver.ops.integrity import quarantine as quarantine_object
from artver.ops.integrity import symlink_to_copy
from artver.remotes.errors import RemoteError
from artver.repo import Repo


def repair(repo: Repo, report, checked_remote, remote_name: str | None) -> None:
    """Repair what the report found (the repository lock is held by the caller)."""
    local = [p for p in report.problems if p.where == "cache"]
    remote = checked_remote
    no_source = ""
    if remote is None and any(p.kind in rules.FETCHABLE for p in local):
        from artver.remotes.remote import open_remote

        try:
            remote = open_remote(repo.config, remote_name, repo.root)
        except RemoteError as exc:
            no_source = exc.message
    source = str(remote) if remote is not None else None
    to_fetch: list[Problem] = []
    for problem in local:
        problem.repaired = False
        good = None
        if report.remote_results is not None:
            good = isinstance(report.remote_results.get(problem.oid), int)
        quarantine, fetch = rules.repair_actions(problem, good, source)
        if no_source and not fetch and problem.kind in rules.FETCHABLE:
            problem.repair_note = no_source
        if quarantine:
            if problem.kind == rules.SYMLINK_HAZARD:  # the edited bytes stay in the workspace
                for rel in problem.workspace_paths:
                    symlink_to_copy(repo, problem.oid, str(repo.root / rel))
            problem.quarantined = quarantine_object(repo, problem.oid)
        if fetch:
            to_fetch.append(problem)
    if to_fetch:
        _fetch(repo, remote, to_fetch)
    for problem in local:
        if not problem.repaired and problem.quarantined and not problem.repair_note:
            problem.repair_note = "no good copy was found"
        if problem.quarantined and problem.kind in (rules.HARDLINK_HAZARD, rules.SYMLINK_HAZARD):
            shown = ", ".join(problem.workspace_paths)
            problem.repair_note += (
                f"; {shown} keeps your edited bytes (`artver status` shows it as modified, "
                "`artver add` would record them as a new version)"
            )
        elif problem.quarantined and not problem.repaired:
            problem.repair_note += (
                "; `artver add` the data again if the workspace still holds the right bytes"
            )
    if checked_remote is not None:
        _upload(repo, checked_remote, report)


def _fetch(repo: Repo, remote, problems: list[Problem]) -> None:
    """Download a verified copy of each problem's object; each says how it went."""
    from artver.remotes.remote import classify, translate
    from artver.remotes.transfer import run_batch

    by_oid = {p.oid: p for p in problems}

    def download(oid: str) -> int:
        return remote.download(oid, by_oid[oid].expected_size, repo.odb)

    repo.progress.start("fetch", len(by_oid), sum(p.expected_size or 0 for p in problems))
    try:
        outcome = run_batch(
            sorted(by_oid),
            download,
            repo.config.jobs,
            repo.progress,
            classify,
            lambda exc: isinstance(exc, CorruptObjectError),
        )
    finally:
        repo.progress.finish()
    for oid in outcome.done:
        by_oid[oid].repaired = True
        by_oid[oid].repair_note = f"a verified copy was fetched from remote {remote}"
    for oid in outcome.missing:
        by_oid[oid].repair_note = f"remote {remote} does not have it"
    for oid in outcome.corrupt:
        by_oid[oid].repair_note = f"the copy on remote {remote} is corrupt too"
    if outcome.error is not None:
        why = translate(outcome.error, remote).message
        for problem in problems:
            if problem.repaired is False and not problem.repair_note:
                problem.repair_note = f"the fetch stopped: {why}"


def _upload(repo: Repo, remote, report) -> None:
    """Send the cache's sound copy of each object that is bad or missing on the remote."""
    from artver.ops.transfer import guard_remote

    for problem in report.problems:
        if problem.where == "cache":
            continue
        problem.repaired = False
        sound = isinstance(report.cache_results.get(problem.oid), int)
        if not rules.remote_repairable(problem, sound):
            continue
        path = repo.odb.path_of(problem.oid)
        size = report.cache_results[problem.oid]
        try:
            guard_remote(remote, remote.upload, path, problem.oid, size)
        except RemoteError as exc:
            problem.repair_note = f"the upload failed: {exc.message}"
            continue
        problem.repaired = True
        problem.repair_note = "the cache's sound copy was uploaded in its place"
