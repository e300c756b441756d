"""Directory manifests: the canonical list of (path, oid, size, executable) of a directory.

A manifest is serialised as compact JSON sorted by path; its XXH3-128 plus `.dir` is the
directory's id. Pure: no filesystem access here.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Iterable

from artver.cache.hashing import hash_bytes

DIR_SUFFIX = ".dir"
# What JSON escapes in a string (ensure_ascii off): quotes, backslashes, control characters.
_ESCAPED = re.compile(r'["\\\x00-\x1f]')
MANIFEST_VERSION = 1


# collections' namedtuple, not typing's NamedTuple (here and in the modules every command
# imports): importing typing costs each command ~2 ms.
# path (str): posix, relative to the directory; oid (str); size (int); executable (bool)
FileEntry = namedtuple("FileEntry", "path oid size executable", defaults=(False,))


class Manifest:
    """A directory's files, sorted by path. Immutable; its bytes are encoded once."""

    __slots__ = ("_bytes", "entries")

    def __init__(self, entries: tuple[FileEntry, ...]) -> None:
        self.entries = entries
        self._bytes: bytes | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and self.entries == other.entries

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Manifest({len(self.entries)} files)"

    @classmethod
    def build(cls, entries: Iterable[FileEntry]) -> Manifest:
        return cls(tuple(sorted(entries, key=lambda e: e.path)))

    def to_bytes(self) -> bytes:
        if self._bytes is None:
            self._bytes = _encode(self.entries)
        return self._bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """The manifest in `data`; `ValueError` when it is not one, `UnsafeEntryError` when
        an entry would place a file anywhere but strictly inside the directory."""
        paths, oids, sizes, execs = _columns(data)
        if not all(type(s) is int for s in sizes) or (sizes and min(sizes) < 0):
            raise ValueError("not a directory manifest (a size is not a whole number of bytes)")
        check_entries(paths)
        return cls(tuple(map(FileEntry, paths, oids, sizes, map(bool, execs))))

    @staticmethod
    def oids_from_bytes(data: bytes) -> list[str]:
        """The object ids listed in `data` (gc and transfers need no entries); the paths are
        checked all the same, so that no caller ever acts on an unsafe manifest."""
        paths, oids, _, _ = _columns(data)
        check_entries(paths)
        return list(oids)

    @property
    def oid(self) -> str:
        return hash_bytes(self.to_bytes()) + DIR_SUFFIX

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def nfiles(self) -> int:
        return len(self.entries)

    def by_path(self) -> dict[str, FileEntry]:
        return {e.path: e for e in self.entries}


# Object ids of a manifest's files, one per line: proved for a whole manifest with one match.
_OID_LINES = re.compile(r"(?:[0-9a-f]{32}(?:\.dir)?\n)*")


def _columns(data: bytes) -> tuple[tuple, tuple, tuple, tuple]:
    """(paths, oids, sizes, executable flags) of the manifest `data`, each checked for its
    type column by column (a loop per entry costs ~5 ms per 20,000); `ValueError` when it
    is not a manifest. Sizes are the caller's to check."""
    import json  # here: loading json costs every command's start-up ~1 ms

    try:
        rows = json.loads(data)["files"]
        if type(rows) is not list:
            raise TypeError("'files' is not a list")
        if not rows:
            return (), (), (), ()
        if any(type(row) is not list or len(row) != 4 for row in rows):
            raise TypeError("an entry is not a [path, oid, size, executable] list")
        paths, oids, sizes, execs = zip(*rows, strict=True)
        "".join(paths)  # TypeError unless every path is a string
        oid_lines = "\n".join(oids) + "\n"
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        raise ValueError(f"not a directory manifest ({exc})") from None
    if _OID_LINES.fullmatch(oid_lines) is None:
        raise ValueError("not a directory manifest (bad object id inside)")
    if not set(execs) <= {0, 1}:  # True and False are 1 and 0
        raise ValueError("not a directory manifest (bad executable flag inside)")
    return paths, oids, sizes, execs


def _encode(entries: tuple[FileEntry, ...]) -> bytes:
    """`{"version":1,"files":[[path, oid, size, exec], ...]}` as compact JSON. The usual
    tree, whose paths hold no character JSON escapes, is written by plain formatting (json
    spends ~25 ms on 20,000 rows); the bytes are the same either way, and must stay so: they
    are the directory's id."""
    if _ESCAPED.search("".join([e.path for e in entries])):
        import json

        rows = [[e.path, e.oid, e.size, int(e.executable)] for e in entries]
        doc = {"version": MANIFEST_VERSION, "files": rows}
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    rows = ",".join([f'["{e.path}","{e.oid}",{e.size:d},{e.executable:d}]' for e in entries])
    return f'{{"version":{MANIFEST_VERSION:d},"files":[{rows}]}}'.encode()


class UnsafeEntryError(ValueError):
    """A manifest entry that would write outside its directory, into `.git`, or over another
    entry. `entry` is the offending path as the manifest spells it."""

    def __init__(self, entry: str, reason: str) -> None:
        super().__init__(f"unsafe entry {entry!r}: it {reason}")
        self.entry = entry
        self.reason = reason


def entry_problem(path: str) -> str | None:
    """Why `path` cannot be a file of a directory manifest, or None when it can: it must be
    relative, normalised (no empty, `.` or `..` component), free of NUL and of any component
    Git would read as its own directory (`.git`, in any case)."""
    if not path:
        return "is empty"
    if "\x00" in path:
        return "holds a NUL character"
    if path.startswith("/"):
        return "is an absolute path"
    for part in path.split("/"):
        if part == "" or part == ".":
            return "has an empty or '.' component (it is not a normalised path)"
        if part == "..":
            return "has a '..' component, which would leave the directory"
        if part.lower() == ".git":
            return "has a '.git' component, which would write into Git's own files"
    return None


def check_entries(paths: list[str]) -> None:
    """Raise `UnsafeEntryError` for the first path a manifest must not hold: one
    `entry_problem` names, a duplicate, or a file that is also a parent directory of another
    entry (writing one would replace or follow the other). Pure.

    The usual, sound manifest is proved so with whole-list operations (one regex over the
    joined paths, sets of names and of directories): a loop over 1,000,000 entries costs
    seconds; the slow loop runs only to name the entry once something is wrong."""
    # With every path between slashes, a broken rule shows as `//` (an empty path or
    # component, a leading `/`), `/./`, `/../` or `/.git/`: substring tests, no regex.
    joined = "\x00".join(paths)
    slashed = f"/{joined}/".replace("\x00", "/")
    if (
        joined.count("\x00") != len(paths) - 1
        or "//" in slashed
        or "/./" in slashed
        or "/../" in slashed
        or "/.git/" in slashed.lower()
    ):
        for path in paths:
            problem = entry_problem(path)
            if problem is not None:
                raise UnsafeEntryError(path, problem)
    names = set(paths)
    if len(names) != len(paths):
        seen: set[str] = set()
        for path in paths:
            if path in seen:
                raise UnsafeEntryError(path, "is listed twice")
            seen.add(path)
    directories = {path.rpartition("/")[0] for path in paths}
    directories.discard("")
    for directory in list(directories):
        cut = directory.rfind("/")
        while cut > 0 and directory[:cut] not in directories:
            directories.add(directory[:cut])
            cut = directory.rfind("/", 0, cut)
    clash = names & directories
    if clash:
        entry = min(clash)
        raise UnsafeEntryError(entry, "is a file and also the directory of other entries")


def is_dir_oid(oid: str) -> bool:
    return oid.endswith(DIR_SUFFIX)
