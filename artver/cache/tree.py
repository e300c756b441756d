"""Directory manifests: the canonical list of (path, oid, size, executable) of a directory.

A manifest is serialised as compact JSON sorted by path; its XXH3-128 plus `.dir` is the
directory's id. Pure: no filesystem access here.

A large directory (at least `BIG_TREE` files, see `limits`) is stored as a Merkle tree, as
Git stores trees: each subdirectory holding at least `SUBTREE` files is an object of its own,
listed in its parent by id, size and file count (format version 2, `{"version":2,"dirs":
[[name, oid, size, nfiles]...],"inline":[[path, oid, size, exec]...]}`); the rest are listed
inline, as version 1 lists every file. One changed file then rewrites the objects on its path
only, and two versions are compared by descending where the ids differ. The shape is a pure
function of the file list, so equal content always has one id. A node without subdirectory
objects is written as version 1, byte for byte what earlier versions wrote.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator

from artver.cache.hashing import hash_bytes

DIR_SUFFIX = ".dir"
# What JSON escapes in a string (ensure_ascii off): quotes, backslashes, control characters.
_ESCAPED = re.compile(r'["\\\x00-\x1f]')
MANIFEST_VERSION = 1
TREE_VERSION = 2
# A directory of this many files or more is stored as a tree of objects...
BIG_TREE = 50_000
# ...in which every subdirectory holding this many files or more is an object of its own.
SUBTREE = 64
# Deeper nesting than this is refused (no real path is this deep; a hostile one could be).
MAX_DEPTH = 512


# collections' namedtuple, not typing's NamedTuple (here and in the modules every command
# imports): importing typing costs each command ~2 ms.
# path (str): posix, relative to the directory; oid (str); size (int); executable (bool)
FileEntry = namedtuple("FileEntry", "path oid size executable", defaults=(False,))
# A subdirectory stored as an object of its own: its name (one path component), its id, and
# the bytes and files it holds.
SubTree = namedtuple("SubTree", "name oid size nfiles")

_limits: tuple[int, int] | None = None


def limits() -> tuple[int, int]:
    """(BIG_TREE, SUBTREE). `ARTVER_TREE_SPLIT=BIG,SUB` changes them, for tests only: the
    same content then gets another id, so every clone of a repository must agree on them."""
    global _limits
    if _limits is None:
        raw = os.environ.get("ARTVER_TREE_SPLIT", "")
        try:
            big, sub = (int(x) for x in raw.split(","))
            _limits = (max(1, big), max(1, sub))
        except ValueError:
            _limits = (BIG_TREE, SUBTREE)
    return _limits


class Manifest:
    """A directory's files, sorted by path. Immutable; its bytes are encoded once.

    Built from a flat list (`build`, or `flatten` of a stored tree), it holds every file
    with its path from the directory; read from one object's bytes (`from_bytes`), it is that
    node: its inline files and, in `subtrees`, the subdirectories stored as objects."""

    __slots__ = ("_bytes", "_nodes", "entries", "subtrees")

    def __init__(
        self,
        entries: tuple[FileEntry, ...],
        subtrees: tuple[SubTree, ...] = (),
        data: bytes | None = None,
        is_node: bool = False,
    ) -> None:
        self.entries = entries
        self.subtrees = subtrees
        self._bytes: bytes | None = data
        # One object of a tree (read, or built as a node) is stored as it is, whatever its size.
        self._nodes: list[Manifest] | None = [self] if is_node or data is not None else None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Manifest)
            and self.entries == other.entries
            and self.subtrees == other.subtrees
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Manifest({len(self.entries)} files, {len(self.subtrees)} subtrees)"

    @classmethod
    def build(cls, entries: Iterable[FileEntry]) -> Manifest:
        return cls(tuple(sorted(entries, key=lambda e: e.path)))

    @classmethod
    def node(cls, entries: Iterable[FileEntry], subtrees: Iterable[SubTree]) -> Manifest:
        """One object of a tree: its inline files and its subdirectory objects."""
        return cls(
            tuple(sorted(entries, key=lambda e: e.path)),
            tuple(sorted(subtrees, key=lambda d: d.name)),
            is_node=True,
        )

    def to_bytes(self) -> bytes:
        """This object's bytes; for a flat list of a big directory, its root object's."""
        if self._bytes is None:
            root = self.nodes()[-1]
            if root is not self:
                self._bytes = root.to_bytes()
            elif self.subtrees:
                self._bytes = _encode_node(self.entries, self.subtrees)
            else:
                self._bytes = _encode(self.entries)
        return self._bytes

    def nodes(self) -> list[Manifest]:
        """The objects that store this flat list, children before parents, the root last:
        just itself unless it is a big directory's."""
        if self._nodes is None:
            if self.subtrees or len(self.entries) < limits()[0]:
                self._nodes = [self]
            else:
                self._nodes = split(self.entries, limits()[1])
        return self._nodes

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """The object in `data`; `ValueError` when it is not a manifest, `UnsafeEntryError`
        when an entry would place a file anywhere but strictly inside the directory."""
        if data.startswith(b'{"version":2,'):
            return _decode_node(data)
        paths, oids, sizes, execs = _columns(data)
        _check_sizes(sizes)
        check_entries(paths)
        return cls(tuple(map(FileEntry, paths, oids, sizes, map(bool, execs))), (), data)

    @staticmethod
    def oids_from_bytes(data: bytes) -> list[str]:
        """The object ids listed in `data` (gc and transfers need no entries), subdirectory
        objects included; the paths are checked all the same, so that no caller ever acts on
        an unsafe manifest."""
        if data.startswith(b'{"version":2,'):
            node = _decode_node(data)
            return [e.oid for e in node.entries] + [d.oid for d in node.subtrees]
        paths, oids, _, _ = _columns(data)
        check_entries(paths)
        return list(oids)

    @property
    def oid(self) -> str:
        return hash_bytes(self.to_bytes()) + DIR_SUFFIX

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries) + sum(d.size for d in self.subtrees)

    @property
    def nfiles(self) -> int:
        return len(self.entries) + sum(d.nfiles for d in self.subtrees)

    def by_path(self) -> dict[str, FileEntry]:
        return {e.path: e for e in self.entries}


def split(entries: tuple[FileEntry, ...], sub: int) -> list[Manifest]:
    """The objects of the tree that stores `entries` (sorted by path), children first and the
    root last: every subdirectory holding `sub` files or more becomes an object. Pure."""
    counts: dict[str, int] = {}
    for entry in entries:
        cut = entry.path.rfind("/")
        while cut > 0:
            directory = entry.path[:cut]
            counts[directory] = counts.get(directory, 0) + 1
            cut = entry.path.rfind("/", 0, cut)
    paths = [e.path for e in entries]
    out: list[Manifest] = []

    def build_node(prefix: str, lo: int, hi: int) -> Manifest:
        inline: list[FileEntry] = []
        subtrees: list[SubTree] = []
        cut = len(prefix)
        i = lo
        while i < hi:
            entry = entries[i]
            rest = entry.path[cut:]
            slash = rest.find("/")
            if slash > 0 and counts[prefix + rest[:slash]] >= sub:
                name = rest[:slash]
                child_prefix = f"{prefix}{name}/"
                end = bisect_left(paths, f"{prefix}{name}0", i, hi)  # "0" sorts after "/"
                child = build_node(child_prefix, i, end)
                subtrees.append(SubTree(name, child.oid, child.size, child.nfiles))
                i = end
                continue
            inline.append(entry._replace(path=rest) if cut else entry)
            i += 1
        node = Manifest(tuple(inline), tuple(subtrees), is_node=True)
        out.append(node)
        return node

    build_node("", 0, len(entries))
    return out


def flatten(
    root: Manifest, read: Callable[[str], Manifest], depth: int = MAX_DEPTH
) -> Iterator[FileEntry]:
    """Every file of the tree whose root object is `root`, with its path from the root, in
    path order; `read(oid)` gives a subdirectory's object."""
    if not root.subtrees:
        yield from root.entries
        return
    if depth <= 0:
        raise ValueError(f"not a directory manifest (nested deeper than {MAX_DEPTH} levels)")
    items: list[tuple[str, FileEntry | SubTree]] = [(e.path, e) for e in root.entries]
    items += [(d.name + "/", d) for d in root.subtrees]
    items.sort(key=lambda item: item[0])
    for key, item in items:
        if isinstance(item, SubTree):
            child = read(item.oid)
            for entry in flatten(child, read, depth - 1):
                yield entry._replace(path=key + entry.path)
        else:
            yield item


def _check_sizes(sizes: tuple) -> None:
    if not all(type(s) is int for s in sizes) or (sizes and min(sizes) < 0):
        raise ValueError("not a directory manifest (a size is not a whole number of bytes)")


def _encode_node(entries: tuple[FileEntry, ...], subtrees: tuple[SubTree, ...]) -> bytes:
    """Version 2: `{"version":2,"dirs":[[name, oid, size, nfiles]...],"inline":[...]}`,
    compact JSON like version 1 (and, like it, bytes that must never change)."""
    import json

    rows = [[e.path, e.oid, e.size, int(e.executable)] for e in entries]
    dirs = [[d.name, d.oid, d.size, d.nfiles] for d in subtrees]
    doc = {"version": TREE_VERSION, "dirs": dirs, "inline": rows}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _decode_node(data: bytes) -> Manifest:
    import json

    try:
        doc = json.loads(data)
        dirs, inline = doc["dirs"], doc["inline"]
        if type(dirs) is not list or type(inline) is not list:
            raise TypeError("'dirs' or 'inline' is not a list")
        if any(type(row) is not list or len(row) != 4 for row in dirs + inline):
            raise TypeError("an entry is not a list of four")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ValueError(f"not a directory manifest ({exc})") from None
    paths, oids, sizes, execs = _columns_of(inline)
    _check_sizes(sizes)
    names = [row[0] for row in dirs]
    for name in names:
        if type(name) is not str or "/" in name or entry_problem(name) is not None:
            raise UnsafeEntryError(str(name), "is not one safe path component")
    for _, oid, size, nfiles in dirs:
        if type(oid) is not str or not _DIR_OID.fullmatch(oid):
            raise ValueError("not a directory manifest (bad subdirectory id inside)")
        if type(size) is not int or type(nfiles) is not int or size < 0 or nfiles < 1:
            raise ValueError("not a directory manifest (bad subdirectory totals inside)")
    check_entries(list(paths) + names)
    entries = tuple(map(FileEntry, paths, oids, sizes, map(bool, execs)))
    subtrees = tuple(SubTree(*row) for row in dirs)
    if list(names) != sorted(names):
        raise ValueError("not a directory manifest (subdirectories out of order)")
    return Manifest(entries, subtrees, data)


_DIR_OID = re.compile(r"[0-9a-f]{32}\.dir")


# Object ids of a manifest's files, one per line: proved for a whole manifest with one match.
_OID_LINES = re.compile(r"(?:[0-9a-f]{32}(?:\.dir)?\n)*")


def _columns(data: bytes) -> tuple[tuple, tuple, tuple, tuple]:
    """(paths, oids, sizes, executable flags) of the version-1 manifest `data`, each checked
    for its type column by column (a loop per entry costs ~5 ms per 20,000); `ValueError` when
    it is not a manifest. Sizes are the caller's to check."""
    import json  # here: loading json costs every command's start-up ~1 ms

    try:
        rows = json.loads(data)["files"]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        raise ValueError(f"not a directory manifest ({exc})") from None
    return _columns_of(rows)


def _columns_of(rows: object) -> tuple[tuple, tuple, tuple, tuple]:
    try:
        if type(rows) is not list:
            raise TypeError("'files' is not a list")
        if not rows:
            return (), (), (), ()
        if any(type(row) is not list or len(row) != 4 for row in rows):
            raise TypeError("an entry is not a [path, oid, size, executable] list")
        paths, oids, sizes, execs = zip(*rows, strict=True)
        "".join(paths)  # TypeError unless every path is a string
        oid_lines = "\n".join(oids) + "\n"
    except (ValueError, TypeError, IndexError) as exc:
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


# One difference between two versions of a directory: (path, old entry, new entry), None
# where the file is absent.
TreeChange = tuple[str, FileEntry | None, FileEntry | None]


def diff_trees(
    read: Callable[[str], Manifest], old: str, new: str, depth: int = MAX_DEPTH
) -> list[TreeChange]:
    """The files that differ between the directories `old` and `new` (ids), sorted by path,
    reading (`read(oid)` gives one object) only the objects whose ids differ: two versions
    of a big directory that differ in ten files cost the objects on those ten paths."""
    if old == new:
        return []
    if depth <= 0:
        raise ValueError(f"not a directory manifest (nested deeper than {MAX_DEPTH} levels)")
    a, b = read(old), read(new)
    if not a.subtrees and not b.subtrees:
        return _diff_flat(a.entries, b.entries)
    changes: list[TreeChange] = []
    a_subs = {d.name: d for d in a.subtrees}
    b_subs = {d.name: d for d in b.subtrees}
    a_loose = _by_top(a.entries)
    b_loose = _by_top(b.entries)
    for name in sorted(set(a_subs) | set(b_subs) | set(a_loose) | set(b_loose)):
        sa, sb = a_subs.get(name), b_subs.get(name)
        if sa is not None and sb is not None:
            found = diff_trees(read, sa.oid, sb.oid, depth - 1)
        else:  # a file, or a directory listed inline on one side at least: compare in full
            left = _expanded(read, sa, a_loose.get(name, []), depth)
            right = _expanded(read, sb, b_loose.get(name, []), depth)
            found = _diff_flat(tuple(left), tuple(right))
            name = ""
        if name:
            changes += [(f"{name}/{p}", _under(name, x), _under(name, y)) for p, x, y in found]
        else:
            changes += found
    changes.sort(key=lambda change: change[0])
    return changes


def _under(name: str, entry: FileEntry | None) -> FileEntry | None:
    return None if entry is None else entry._replace(path=f"{name}/{entry.path}")


def _by_top(entries: tuple[FileEntry, ...]) -> dict[str, list[FileEntry]]:
    found: dict[str, list[FileEntry]] = {}
    for entry in entries:
        found.setdefault(entry.path.partition("/")[0], []).append(entry)
    return found


def _expanded(
    read: Callable[[str], Manifest], sub: SubTree | None, loose: list[FileEntry], depth: int
) -> list[FileEntry]:
    """Files under one name of a node, with their paths from the node."""
    if sub is None:
        return loose
    below = flatten(read(sub.oid), read, depth - 1)
    return loose + [e._replace(path=f"{sub.name}/{e.path}") for e in below]


def _diff_flat(a: tuple[FileEntry, ...], b: tuple[FileEntry, ...]) -> list[TreeChange]:
    left = {e.path: e for e in a}
    right = {e.path: e for e in b}
    changes: list[TreeChange] = []
    for path in sorted(set(left) | set(right)):
        x, y = left.get(path), right.get(path)
        if x is None or y is None or x.oid != y.oid or x.executable != y.executable:
            changes.append((path, x, y))
    return changes
