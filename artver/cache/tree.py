"""Directory manifests: the canonical list of (path, oid, size, executable) of a directory.

A manifest is serialised as compact JSON sorted by path; its XXH3-128 plus `.dir` is the
directory's id. Pure: no filesystem access here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

from artver.cache.hashing import hash_bytes, is_valid_oid

DIR_SUFFIX = ".dir"
MANIFEST_VERSION = 1


class FileEntry(NamedTuple):
    path: str  # posix, relative to the directory
    oid: str
    size: int
    executable: bool = False


class Manifest(NamedTuple):
    entries: tuple[FileEntry, ...]

    @classmethod
    def build(cls, entries: Iterable[FileEntry]) -> Manifest:
        return cls(tuple(sorted(entries, key=lambda e: e.path)))

    def to_bytes(self) -> bytes:
        rows = [[e.path, e.oid, e.size, int(e.executable)] for e in self.entries]
        doc = {"version": MANIFEST_VERSION, "files": rows}
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            doc = json.loads(data)
            entries = tuple(FileEntry(p, o, int(s), bool(x)) for p, o, s, x in doc["files"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a directory manifest ({exc})") from None
        if any(not is_valid_oid(e.oid) for e in entries):
            raise ValueError("not a directory manifest (bad object id inside)")
        return cls(entries)

    @staticmethod
    def oids_from_bytes(data: bytes) -> list[str]:
        try:
            return [row[1] for row in json.loads(data)["files"]]
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not a directory manifest ({exc})") from None

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


def is_dir_oid(oid: str) -> bool:
    return oid.endswith(DIR_SUFFIX)
