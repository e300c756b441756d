"""DVC's md5s of workspace data, and DVC's cache, read-only.

A file's md5 is the md5 of its bytes (DVC 2's, `legacy`, turned CRLF into LF first in a file
that looks like text). A directory's is the md5 of its `.dir` manifest: the JSON list of
`{"md5": ..., "relpath": ...}` of its files, sorted by relpath, as `json.dumps(..,
sort_keys=True)` writes it; the files `.dvcignore` excludes are not in it.

DVC's cache keeps a DVC 3 object at `<cache>/files/md5/<2 hex>/<30 hex>` and a DVC 2 one at
`<cache>/<2 hex>/<30 hex>`. Nothing here writes, moves or links anything there.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable

from artver.ignore import Rules, Scope, is_ignored, translate

DVCIGNORE = ".dvcignore"
TEXT_CHARS = bytes(range(32, 127)) + b"\n\r\t\f\b"
CHUNK = 1024 * 1024


def looks_like_text(block: bytes) -> bool:
    """DVC's test (`istextblock`) on a file's first 512 bytes, for DVC 2's md5s."""
    if not block:
        return True
    if b"\x00" in block:
        return False
    return len(block.translate(None, TEXT_CHARS)) / len(block) <= 0.30


def md5_bytes(data: bytes, legacy: bool = False) -> str:
    if legacy and looks_like_text(data[:512]):
        data = data.replace(b"\r\n", b"\n")
    return hashlib.md5(data).hexdigest()


def md5_file(path: str, legacy: bool = False) -> str:
    """The md5 DVC records for the file at `path`."""
    return md5_sized(path, legacy)[0]


def md5_sized(path: str, legacy: bool = False) -> tuple[str, int]:
    """(the md5 DVC records for the file at `path`, its size)."""
    with open(path, "rb", buffering=0) as fobj:
        first = fobj.read(CHUNK)
        if len(first) < CHUNK:
            return md5_bytes(first, legacy), len(first)
        text = legacy and looks_like_text(first[:512])
        digest = hashlib.md5()
        pending = b""
        chunk = first
        size = 0
        while chunk:
            size += len(chunk)
            if text:  # a CRLF split over two chunks: hold a trailing CR back
                chunk = pending + chunk
                pending = chunk[-1:] if chunk.endswith(b"\r") else b""
                chunk = chunk[: len(chunk) - len(pending)].replace(b"\r\n", b"\n")
            digest.update(chunk)
            chunk = fobj.read(CHUNK)
        digest.update(pending)
        return digest.hexdigest(), size


def manifest_bytes(entries: list[tuple[str, str]]) -> bytes:
    """The bytes of DVC's `.dir` object for (relpath, md5) pairs."""
    rows = [{"md5": md5, "relpath": rel} for rel, md5 in sorted(entries)]
    return json.dumps(rows, sort_keys=True).encode("utf-8")


def read_manifest(data: bytes) -> list[tuple[str, str]]:
    """(relpath, md5) of a `.dir` object; ValueError when it is not one."""
    rows = json.loads(data)
    if not isinstance(rows, list):
        raise ValueError("not a list")
    found = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("relpath"), str):
            raise ValueError("an entry without a relpath")
        if not isinstance(row.get("md5"), str):
            raise ValueError(f"{row['relpath']}: no md5")
        found.append((row["relpath"], row["md5"]))
    return found


def _rules(abspath: str, rel: str) -> Rules | None:
    try:
        with open(abspath, "rb") as fobj:
            text = fobj.read().decode("utf-8", "surrogateescape")
    except (FileNotFoundError, NotADirectoryError):
        return None
    lines = translate(text)
    return Rules(rel, lines) if lines else None


def outer_scope(root: str, rel: str) -> Scope:
    """The `.dvcignore` rules of the directories above the repo-relative `rel`."""
    parts = rel.split("/")
    scope: Scope = ()
    for depth in range(len(parts)):
        above = "/".join(parts[:depth])
        rules = _rules(os.path.join(root, above, DVCIGNORE), f"{above}/{DVCIGNORE}".lstrip("/"))
        if rules is not None:
            scope = (("/".join(parts[depth:]) + "/", 0, rules), *scope)
    return scope


def list_dir(root: str, rel: str) -> list[tuple[str, str]]:
    """(relpath, absolute path) of every file below the directory `rel` (repo-relative) that
    DVC sees: symlinks followed, what `.dvcignore` files exclude left out."""
    files: list[tuple[str, str]] = []
    stack = [(os.path.join(root, rel), "", outer_scope(root, rel))]
    while stack:
        dirpath, prefix, scope = stack.pop()
        rules = _rules(os.path.join(dirpath, DVCIGNORE), f"{rel}/{prefix}{DVCIGNORE}")
        if rules is not None:
            scope = (("", len(prefix), rules), *scope)
        with os.scandir(dirpath) as entries:
            for entry in entries:
                name = prefix + entry.name
                is_dir = entry.is_dir()
                if scope and is_ignored(scope, name, is_dir):
                    continue
                if is_dir:
                    stack.append((entry.path, name + "/", scope))
                else:
                    files.append((name, entry.path))
    return files


def md5_path(
    root: str, rel: str, legacy: bool, pmap: Callable | None = None
) -> tuple[str, int, int | None] | None:
    """(md5, size, nfiles or None for a file) of the repo-relative `rel` as DVC would record
    it, or None when nothing is there. `pmap(func, items)` maps over a directory's files
    (in threads); default: one by one."""
    path = os.path.join(root, rel)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not os.path.isdir(path):
        return md5_file(path, legacy), st.st_size, None
    files = list_dir(root, rel)

    def one(item: tuple[str, str]) -> tuple[str, int]:
        return md5_sized(item[1], legacy)

    done = pmap(one, files) if pmap is not None else [(f, one(f)) for f in files]
    entries = [(f[0], r[0]) for f, r in done]
    size = sum(r[1] for _, r in done)
    return hashlib.md5(manifest_bytes(entries)).hexdigest() + ".dir", size, len(entries)


class DvcCache:
    """DVC's cache directory, read-only."""

    def __init__(self, path: str) -> None:
        self.path = path

    def object_path(self, md5: str, legacy: bool) -> str:
        """Where DVC keeps the object `md5` (DVC 2's layout for a `legacy` md5)."""
        base = self.path if legacy else os.path.join(self.path, "files", "md5")
        return os.path.join(base, md5[:2], md5[2:])

    def find(self, md5: str, legacy: bool) -> str | None:
        """The object's path, trying the other layout too (DVC 3 reads both)."""
        for layout in (legacy, not legacy):
            path = self.object_path(md5, layout)
            if os.path.isfile(path):
                return path
        return None

    def manifest(self, md5: str, legacy: bool) -> list[tuple[str, str]] | None:
        """The (relpath, md5) of a directory object, or None when DVC's cache lacks it (or
        holds something else under its name)."""
        path = self.find(md5, legacy)
        if path is None:
            return None
        with open(path, "rb") as fobj:
            data = fobj.read()
        if hashlib.md5(data).hexdigest() + ".dir" != md5:
            return None
        try:
            return read_manifest(data)
        except ValueError:
            return None

    def missing(self, md5: str, legacy: bool) -> list[str] | None:
        """For an output recorded as `md5`: the relpaths of the files DVC's cache lacks
        ([] when it holds all of it, [""] for a missing file); None when even a directory's
        manifest is missing."""
        if not md5.endswith(".dir"):
            return [] if self.find(md5, legacy) else [""]
        entries = self.manifest(md5, legacy)
        if entries is None:
            return None
        return [rel for rel, file_md5 in entries if self.find(file_md5, legacy) is None]
