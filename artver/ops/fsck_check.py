"""`artver fsck`'s decisions, pure: what is wrong with the objects that were read, who uses
them, and what `--repair` can do about each. Values in, values out; no filesystem here.

What an object check reports (`artver.ops.fsck_scan`) is a plain value, so that it can travel
back from a forked process: the size (an int) when the object is sound, else a tuple whose first
item says what went wrong.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Mapping

# The kinds of problem, in the order the report lists them.
CORRUPT = "corrupt"  # the bytes hash to another id
TRUNCATED = "truncated"  # ... and its size is not the one a manifest or pointer records
MISSING = "missing"  # referenced, not there
UNREADABLE = "unreadable"  # there, but cannot be read (permissions, I/O error)
BAD_MANIFEST = "bad-manifest"  # a `.dir` whose bytes match its id but are not a safe manifest
HARDLINK_HAZARD = "hardlink-hazard"  # corrupt, and a workspace file is the same inode
SYMLINK_HAZARD = "symlink-hazard"  # corrupt, and a workspace symlink points at it
KINDS = (CORRUPT, TRUNCATED, HARDLINK_HAZARD, SYMLINK_HAZARD, MISSING, UNREADABLE, BAD_MANIFEST)
# What `--repair` does about each kind: replace the bad bytes with a verified good copy.
REPLACEABLE = {CORRUPT, TRUNCATED, HARDLINK_HAZARD, SYMLINK_HAZARD}
FETCHABLE = REPLACEABLE | {MISSING}

# Results of reading one object (see fsck_scan.check_path).
VANISHED = "vanished"  # listed, then gone before it was read (a concurrent gc)

# A use of an object: the workspace path that holds its bytes ("data/sub/a.txt" for a file of
# the tracked directory data) and the pointer or lock file that records it.
User = namedtuple("User", "path source")


class Problem:
    """One thing wrong with one object, in the cache (`where` "cache") or on the remote."""

    def __init__(self, kind: str, oid: str, where: str, detail: str, size: int | None = None):
        self.kind = kind
        self.oid = oid
        self.where = where
        self.detail = detail
        self.size = size  # bytes read (None: unknown)
        self.expected_size: int | None = None
        self.users: list[User] = []
        self.commits: list[str] = []  # branch and tag names whose data uses it
        self.workspace_paths: list[str] = []  # hazards: the workspace files sharing its bytes
        self.repaired: bool | None = None  # None: no repair was asked for
        self.repair_note = ""
        self.quarantined: str | None = None  # where its bad bytes went

    def __repr__(self) -> str:
        return f"Problem({self.kind}, {self.oid}, {self.where})"

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "oid": self.oid,
            "where": self.where,
            "detail": self.detail,
            "size": self.size,
            "expected_size": self.expected_size,
            "artifacts": [{"path": u.path, "source": u.source} for u in self.users],
            "commits": self.commits,
            "workspace_paths": self.workspace_paths,
            "repair": None
            if self.repaired is None
            else {
                "repaired": self.repaired,
                "note": self.repair_note,
                "quarantine": self.quarantined,
            },
        }


def judge(oid: str, result: object, expected_size: int | None, where: str) -> Problem | None:
    """The problem one object check found, or None when the object is sound.

    `result` is what the check returned: an int (the size) for a sound object; otherwise
    ("corrupt", digest, size), ("bad-manifest", reason, size), ("unreadable", reason) or
    ("vanished",). `expected_size` is what a referencing manifest or pointer records."""
    if isinstance(result, int):
        return None
    what = result[0]  # type: ignore[index]
    if what == CORRUPT:
        digest, size = result[1], result[2]  # type: ignore[index]
        got = digest + (".dir" if oid.endswith(".dir") else "")
        if expected_size is not None and size != expected_size:
            problem = Problem(
                TRUNCATED,
                oid,
                where,
                f"{size} bytes where {expected_size} are recorded; its content hashes to {got}",
                size,
            )
        else:
            problem = Problem(CORRUPT, oid, where, f"its content hashes to {got}", size)
        problem.expected_size = expected_size
        return problem
    if what == BAD_MANIFEST:
        return Problem(BAD_MANIFEST, oid, where, str(result[1]), result[2])  # type: ignore[index]
    if what == UNREADABLE:
        return Problem(UNREADABLE, oid, where, f"cannot read it: {result[1]}")  # type: ignore[index]
    return None  # vanished: judged with the references (missing if anything needs it)


def diagnose(
    results: Mapping[str, object],
    required: Mapping[str, int | None],
    where: str = "cache",
    sizes: Mapping[str, int | None] | None = None,
    missing_detail: str = "not in the cache",
) -> list[Problem]:
    """Every problem among the objects read (`results`: oid -> check result) and the objects
    that must be there (`required`: oid -> recorded size, None when unknown): one that was not
    there, or vanished while being read, is missing. `sizes` (default `required`): the sizes
    recorded for objects, which tell a truncated object from a corrupt one. Sorted by kind,
    then id."""
    known = required if sizes is None else sizes
    problems = []
    # Sound objects (an int) are most of them: only the others are looked at one by one.
    odd = {oid: result for oid, result in results.items() if result.__class__ is not int}
    for oid, result in odd.items():
        problem = judge(oid, result, known.get(oid), where)
        if problem is not None:
            problems.append(problem)
    absent = required.keys() - results.keys()
    absent |= {oid for oid, result in odd.items() if result[0] == VANISHED and oid in required}  # type: ignore[index]
    for oid in absent:
        problem = Problem(MISSING, oid, where, missing_detail)
        problem.expected_size = required[oid]
        problems.append(problem)
    return sort_problems(problems)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.where != "cache", KINDS.index(p.kind), p.oid))


def promised(manifests: Iterable[Iterable[tuple[str, int]]]) -> dict[str, int]:
    """{oid: size} of every file that the given manifests list ((oid, size) of each file): on
    a remote, a manifest promises that all its files are there (push uploads it last), so
    each one missing there is a problem."""
    found: dict[str, int] = {}
    for entries in manifests:
        for oid, size in entries:
            found.setdefault(oid, size)
    return found


def mark_hazards(
    problems: Iterable[Problem],
    inodes: Mapping[str, tuple[int, int]],
    workspace: Mapping[tuple[int, int], list[tuple[str, bool]]],
) -> None:
    """Turn each corrupt object that a workspace file shares (the same inode: a hardlink, or a
    symlink resolving to it) into a hazard naming those files. `inodes`: oid -> (device,
    inode) of the corrupt objects; `workspace`: (device, inode) -> [(path, is_symlink)]."""
    for problem in problems:
        if problem.kind not in (CORRUPT, TRUNCATED) or problem.oid not in inodes:
            continue
        sharing = workspace.get(inodes[problem.oid], [])
        if not sharing:
            continue
        problem.workspace_paths = sorted(path for path, _ in sharing)
        linked_hard = any(not is_link for _, is_link in sharing)
        problem.kind = HARDLINK_HAZARD if linked_hard else SYMLINK_HAZARD
        how = "hard-linked to it" if linked_hard else "a symlink to it"
        problem.detail += (
            f"; {', '.join(problem.workspace_paths)} ({how}) was changed in place, which "
            "changed the cache object"
        )


def commits_using(
    bad: set[str],
    tracked: Iterable[tuple[str, str, str]],
    manifest_oids: Mapping[str, Iterable[str] | None],
) -> dict[str, list[str]]:
    """{oid: sorted commit labels} for the bad objects that the commits' data uses.
    `tracked`: (label, path, oid) of everything each commit records; `manifest_oids`: the
    object ids each directory's manifest lists (None: manifest unknown)."""
    found: dict[str, set[str]] = {}
    for label, _path, oid in tracked:
        hits = {oid} & bad
        listed = manifest_oids.get(oid) if oid.endswith(".dir") else None
        if listed is not None:
            hits |= bad.intersection(listed)
        for hit in hits:
            found.setdefault(hit, set()).add(label)
    return {oid: sorted(labels) for oid, labels in found.items()}


def repair_actions(
    problem: Problem, good_elsewhere: bool | None, source: str | None
) -> tuple[bool, bool]:
    """What `--repair` does about a problem in the cache: (quarantine its bad bytes, fetch a
    verified copy). Whatever it cannot do is said in `problem.repair_note`.
    `good_elsewhere`: whether the remote holds a sound copy (None: not checked, the download
    verifies it); `source`: the remote to fetch from (None: there is none, and why not is
    `no_source`)."""
    if problem.kind == UNREADABLE:
        problem.repair_note = (
            "artver cannot tell whether it is sound; fix its permissions (or the disk) and "
            "run fsck again"
        )
        return False, False
    if problem.kind == BAD_MANIFEST:
        problem.repair_note = (
            "its bytes match its id, so every copy anywhere is the same; run `artver add` on "
            "the directory again to record a sound manifest"
        )
        return False, False
    quarantine = problem.kind in REPLACEABLE
    if source is None:
        problem.repair_note = "no remote to fetch a good copy from"
        return quarantine, False
    if good_elsewhere is False:
        problem.repair_note = f"remote {source} has no sound copy either"
        return quarantine, False
    return quarantine, True


def remote_repairable(problem: Problem, sound_in_cache: bool) -> bool:
    """Whether `--repair` can put a problem on the checked remote right: a corrupt,
    truncated or missing object of which the cache holds a sound copy is uploaded again."""
    if problem.kind not in (CORRUPT, TRUNCATED, MISSING):
        problem.repair_note = "artver cannot replace it; fix it on the remote itself"
        return False
    if not sound_in_cache:
        problem.repair_note = "the cache has no sound copy to upload"
        return False
    return True


def summary_counts(problems: Iterable[Problem]) -> dict[str, int]:
    """{kind: count} in report order, kinds with none left out."""
    counts = {kind: 0 for kind in KINDS}
    for problem in problems:
        counts[problem.kind] += 1
    return {kind: n for kind, n in counts.items() if n}
